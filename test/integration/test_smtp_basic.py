"""SMTP intake with real clients: what they send is what gets queued."""
import calendar
import os
import re
import smtplib
import time

import helpers
from helpers import Smtp, queue_id, strip_received, ARRIVAL_RE

SENDER = "a@example.com"
RCPT = "b@example.org"


def msg(subject, body_lines):
    """A small RFC 5322 message with CRLF lines."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\n"
            % (SENDER, RCPT, subject)).encode()
    return head + b"".join(l + b"\r\n" for l in body_lines)


class SmtpBasic(helpers.RelayTest):

    def setUp(self):
        super().setUp()
        self.r = self.relay(queue_size="8M")

    def check_entry(self, qid, sender, rcpts, body):
        """queue list shows qid with this envelope; queue show is exact."""
        entries = {e["id"]: e for e in self.r.queue_list()}
        self.assertIn(qid, entries, "queue list lacks %s" % qid)
        e = entries[qid]
        self.assertEqual(e["sender"], sender)
        self.assertEqual(e["rcpts"], rcpts)
        self.assertRegex(e["arrival"], ARRIVAL_RE)
        t = calendar.timegm(time.strptime(e["arrival"], "%Y-%m-%dT%H:%M:%SZ"))
        self.assertLess(abs(t - time.time()), 3600, "arrival %s is not now"
                        % e["arrival"])
        stored = self.assert_stored(self.r, qid, body)
        self.assertEqual(e["size"], len(stored), "queue list size != bytes "
                         "of queue show")
        return stored

    def test_greeting_ehlo_and_simple_commands(self):
        """The greeting is 220, EHLO advertises PIPELINING, SIZE n,
        8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8; NOOP, RSET, HELP, VRFY
        (252), HELO and QUIT (221) answer as RFC 5321 says."""
        with Smtp(self.r.port) as s:
            self.assertEqual(s.greeting[0], 220)
            ext = [l.split()[0].upper() for l in s.ehlo().splitlines()[1:]]
            for kw in ("PIPELINING", "SIZE", "8BITMIME",
                       "ENHANCEDSTATUSCODES", "SMTPUTF8"):
                self.assertIn(kw, ext)
            self.assertEqual(s.cmd("NOOP")[0], 250)
            self.assertEqual(s.cmd("RSET")[0], 250)
            self.assertIn(s.cmd("HELP")[0], (211, 214))
            code, text = s.cmd("VRFY postmaster")
            self.assertEqual(code, 252)
            self.assertRegex(text, r"^2\.\d+\.\d+ ")
            self.assertEqual(s.cmd("HELO client.example.com")[0], 250)
            self.assertEqual(s.cmd("QUIT")[0], 221)
            self.assertEqual(s.reply(), (0, ""), "connection not closed "
                             "after QUIT")

    def test_sequence_errors(self):
        """RCPT before MAIL and DATA before RCPT are refused with 503 and
        the session goes on; an empty queue lists nothing."""
        with Smtp(self.r.port) as s:
            s.ehlo()
            self.assertEqual(s.cmd("RCPT TO:<%s>" % RCPT)[0], 503)
            self.assertEqual(s.cmd("DATA")[0], 503)
            self.assertEqual(s.cmd("MAIL FROM:<%s>" % SENDER)[0], 250)
            self.assertEqual(s.cmd("MAIL FROM:<%s>" % SENDER)[0], 503)
            self.assertEqual(s.cmd("DATA")[0], 503)
            self.assertEqual(s.cmd("QUIT")[0], 221)
        self.assertEqual(self.r.queue_list(), [])

    def swaks(self, *extra):
        r = helpers.run_bin(["swaks", "--server", "127.0.0.1:%d" % self.r.port,
                             "--from", SENDER, "--to", RCPT,
                             "--helo", "client.example.com"] + list(extra),
                            timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ids = re.findall(r"queued as ([0-9A-F]{8})", r.stdout)
        self.assertEqual(len(ids), 1, r.stdout)
        return ids[0], r.stdout

    def test_swaks_plain(self):
        """swaks with a generated message: queued, the envelope is listed
        and the body swaks sent is stored after our Received: header."""
        qid, out = self.swaks("--body", "hello from swaks\n.leading dot\n")
        stored = self.r.queue_show(qid)
        rest = strip_received(stored)
        self.assertIn(b"\r\nhello from swaks\r\n.leading dot\r\n", rest)
        self.assertIn(b"To: " + RCPT.encode(), rest)
        self.assertFalse(helpers.bare_cr_lf(stored))
        self.check_entry(qid, SENDER, [RCPT], rest)

    def test_swaks_data_exact(self):
        """swaks --data FILE: the stored message equals the file."""
        body = msg("swaks exact", [b"line one", b".dot line", b"..two dots",
                                   b"", b"last"])
        path = os.path.join(self.tmp, "m.eml")
        with open(path, "wb") as f:
            f.write(body[:-2])  # swaks adds CRLF . CRLF itself
        qid, _ = self.swaks("--data", "@" + path)
        self.check_entry(qid, SENDER, [RCPT], body)

    def test_swaks_pipeline(self):
        """swaks --pipeline (MAIL/RCPT/DATA in one write) gets queued."""
        body = msg("swaks pipelined", [b"pipelined body"])
        path = os.path.join(self.tmp, "p.eml")
        with open(path, "wb") as f:
            f.write(body[:-2])  # swaks adds CRLF . CRLF itself
        qid, out = self.swaks("--pipeline", "--data", "@" + path)
        self.assertIn("PIPELINING", out)
        self.check_entry(qid, SENDER, [RCPT], body)

    def test_smtplib_several_rcpts_and_size(self):
        """Python smtplib: several recipients, SIZE= and BODY=8BITMIME
        parameters, 8-bit bytes and dot lines stored byte-exactly."""
        rcpts = ["r1@example.org", "r2@example.net", "r3@example.com"]
        body = msg("smtplib", [b".", b"..", b". dot", "caf\u00e9 \u00fc".encode(),
                               bytes(range(0x80, 0x100)), b"end"])
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=30) as c:
            c.ehlo("client.example.com")
            for f in ("pipelining", "size", "8bitmime",
                      "enhancedstatuscodes", "smtputf8"):
                self.assertTrue(c.has_extn(f), f)
            code, _ = c.mail(SENDER, ["SIZE=%d" % len(body),
                                      "BODY=8BITMIME"])
            self.assertEqual(code, 250)
            for rc in rcpts:
                self.assertEqual(c.rcpt(rc)[0], 250)
            code, text = c.data(body)
            self.assertEqual(code, 250, text)
            qid = queue_id(text)
            self.assertIsNotNone(qid, text)
            self.assertRegex(text.decode(), r"^2\.0\.0 ")
            # sendmail() in the same session (it adds size= itself)
            body2 = msg("second", [b"second message"])
            refused = c.sendmail("", ["r4@example.org"], body2)
            self.assertEqual(refused, {})
        self.check_entry(qid, SENDER, rcpts, body)
        others = [e for e in self.r.queue_list() if e["id"] != qid]
        self.assertEqual(len(others), 1)
        self.assertEqual(others[0]["sender"], "", "null sender not <>")
        self.assertEqual(others[0]["rcpts"], ["r4@example.org"])
        self.assert_stored(self.r, others[0]["id"], body2)

    def test_curl(self):
        """curl smtp:// --upload-file: stored equals the file (curl does
        the dot-stuffing)."""
        body = msg("curl", [b"via curl", b".dot", b"end"])
        path = os.path.join(self.tmp, "c.eml")
        with open(path, "wb") as f:
            f.write(body)
        r = helpers.run_bin(["curl", "-sS", "-v", "--max-time", "30",
                             "smtp://127.0.0.1:%d/client.example.com"
                             % self.r.port, "--mail-from", SENDER,
                             "--mail-rcpt", RCPT, "--mail-rcpt",
                             "c@example.org", "--upload-file", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        ids = re.findall(r"queued as ([0-9A-F]{8})", r.stderr)
        self.assertEqual(len(ids), 1, r.stderr)
        self.check_entry(ids[0], SENDER, [RCPT, "c@example.org"], body)

    def test_raw_pipelined_session(self):
        """A client that pipelines everything (MAIL/RCPT/RCPT/DATA in one
        write; data + '.' + next MAIL... in one write; QUIT) gets every
        reply, in order; bodies with dot lines, an empty body, 8-bit
        bytes and 1 MiB are stored exactly."""
        big = b"".join(b"%07d " % i + b"x" * 70 + b"\r\n"
                       for i in range((1 << 20) // 80))
        bodies = [
            msg("dots", [b".", b"..", b"...x", b".\t", b"a.b"]),
            b"",
            b"\r\n",
            msg("8bit", [bytes(range(1, 10)) + bytes(range(14, 256))]),
            big,
        ]
        rcpts = ["x1@example.org", "x2@example.org"]
        with Smtp(self.r.port) as s:
            s.ehlo()
            first = "".join(["MAIL FROM:<%s>\r\n" % SENDER] +
                            ["RCPT TO:<%s>\r\n" % r for r in rcpts] +
                            ["DATA\r\n"])
            s.send(first)
            ids = []
            for i, body in enumerate(bodies):
                replies = [s.reply() for _ in range(4)]
                self.assertEqual([c for c, _ in replies],
                                 [250, 250, 250, 354], replies)
                wire = helpers.dot_stuff(body) + b".\r\n"
                # end of data and the next transaction in one write
                nxt = first if i + 1 < len(bodies) else "QUIT\r\n"
                s.send(wire + nxt.encode())
                code, text = s.reply()
                self.assertEqual(code, 250, text)
                self.assertRegex(text, r"^2\.0\.0 ")
                ids.append(queue_id(text))
                self.assertIsNotNone(ids[-1], text)
            self.assertEqual(s.reply()[0], 221)
        self.assertEqual(len(set(ids)), len(ids), "queue ids not unique")
        for qid, body in zip(ids, bodies):
            self.check_entry(qid, SENDER, rcpts, body)

    def test_queue_survives_restart(self):
        """SIGTERM exits 0; after a restart the same messages are listed
        (same ids, sizes, envelopes) and byte-identical."""
        sent = {}
        with Smtp(self.r.port) as s:
            s.ehlo()
            for i in range(5):
                body = msg("restart %d" % i, [b"body %d" % i] * (i * 50))
                code, text = s.send_message(SENDER, [RCPT], body)
                self.assertEqual(code, 250, text)
                sent[queue_id(text)] = body
            s.cmd("QUIT")
        before = self.r.queue_list()
        self.r.restart()
        after = self.r.queue_list()
        self.assertEqual(before, after)
        self.assertEqual(sorted(sent), sorted(e["id"] for e in after))
        for qid, body in sent.items():
            self.assert_stored(self.r, qid, body)
        # and the queue list also works with the daemon stopped
        self.assertEqual(self.r.stop(), 0)
        self.assertEqual(self.r.queue_list(), after)
        self.r.start()
