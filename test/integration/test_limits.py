"""Limits: full queue, sizes, long lines, recipients, errors, timeouts."""
import os
import re
import signal
import time

import helpers
from helpers import Smtp, queue_id

SENDER = "a@example.com"
RCPT = "b@example.org"


def body_of(size, tag):
    """A message of exactly size bytes (CRLF lines of <= 80 bytes)."""
    head = b"Subject: %s\r\n\r\n" % tag.encode()
    out, n = [head], len(head)
    i = 0
    while n < size:
        line = (b"%06d " % i + b"y" * 71)[:max(0, min(78, size - n - 2))]
        out.append(line + b"\r\n")
        n += len(line) + 2
        i += 1
    return b"".join(out)


class Limits(helpers.RelayTest):

    def smallest_ok(self, key, candidates):
        """The smallest of candidates that `check` accepts for key."""
        for v in candidates:
            d = os.path.join(self.tmp, "probe-%s-%s" % (key, v))
            os.makedirs(d)
            r = helpers.Relay(d, start=False, conf_extra="%s = %s" % (key, v))
            if r.cli("check").returncode == 0:
                return v
        self.fail("none of %r accepted for %s" % (candidates, key))

    def test_queue_full(self):
        """A queue too small for the load: 4 KiB messages are accepted
        until `452 4.3.1`; the session still works after it (RSET, NOOP,
        QUIT); every accepted message is intact, also after a restart,
        and nothing accepted was dropped to make room."""
        qs = self.smallest_ok("queue_size", ["32K", "64K", "128K"])
        r = self.relay(queue_size=qs)
        accepted = {}
        full = None
        with Smtp(r.port) as s:
            s.ehlo()
            for i in range(300):
                body = body_of(4096, "full %d" % i)
                replies = s.mail_rcpt_data(SENDER, [RCPT])
                if replies[0][0] != 250 or replies[-1][0] != 354:
                    full = replies
                    if replies[-1][0] == 354:
                        s.send(b".\r\n")
                        s.reply()
                    break
                s.send(helpers.dot_stuff(body) + b".\r\n")
                code, text = s.reply()
                if code != 250:
                    full = [(code, text)]
                    break
                accepted[queue_id(text)] = body
            self.assertIsNotNone(full, "queue of %s never full" % qs)
            bad = [x for x in full if x[0] not in (250, 354)]
            self.assertTrue(bad, full)
            self.assertEqual(bad[0][0], 452, full)
            self.assertTrue(bad[0][1].startswith("4.3.1"), full)
            self.assertGreater(len(accepted), 0)
            self.assertEqual(s.cmd("RSET")[0], 250)
            self.assertEqual(s.cmd("NOOP")[0], 250)
            self.assertEqual(s.cmd("QUIT")[0], 221)
        self.assertEqual(sorted(r.queue_ids()), sorted(accepted))
        r.restart()
        self.assertEqual(sorted(r.queue_ids()), sorted(accepted))
        for qid, body in accepted.items():
            self.assert_stored(r, qid, body)
        # still full: a new message is refused again, nothing is dropped
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.cmd("MAIL FROM:<%s> SIZE=4096" % SENDER)
            if code == 250:
                s.cmd("RCPT TO:<%s>" % RCPT)
                code, text = s.cmd("DATA")
                if code == 354:
                    s.send(helpers.dot_stuff(body_of(4096, "again")) +
                           b".\r\n")
                    code, text = s.reply()
            self.assertEqual(code, 452, text)
        self.assertEqual(sorted(r.queue_ids()), sorted(accepted))

    def test_size_larger_than_queue(self):
        """MAIL ... SIZE= larger than the whole queue: 552 5.3.4 at MAIL
        or at DATA (before any 354); the session continues and a small
        message is queued."""
        r = self.relay(queue_size="1M")
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.cmd("MAIL FROM:<%s> SIZE=%d" % (SENDER, 3 << 20))
            if code == 250:  # refusing at DATA, before 354, is fine too
                self.assertEqual(s.cmd("RCPT TO:<%s>" % RCPT)[0], 250)
                code, text = s.cmd("DATA")
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith("5.3.4"), text)
            self.assertEqual(s.cmd("RSET")[0], 250)
            code, text = s.send_message(SENDER, [RCPT], b"small\r\n")
            self.assertEqual(code, 250, text)
        self.assertEqual(len(r.queue_list()), 1)

    def test_message_size_limit(self):
        """message_size_limit: EHLO advertises it; SIZE= over it gets
        552 5.3.4 at MAIL; a message over it sent without SIZE= gets
        552 5.3.4 at the end of data and is not queued."""
        r = self.relay(conf_extra="message_size_limit = 10000")
        with Smtp(r.port) as s:
            ext = s.ehlo().splitlines()
            self.assertIn("SIZE 10000", ext)
            code, text = s.cmd("MAIL FROM:<%s> SIZE=20000" % SENDER)
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith("5.3.4"), text)
            code, text = s.send_message(SENDER, [RCPT],
                                        body_of(20000, "too big"))
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith("5.3.4"), text)
            ok = body_of(9000, "fits")
            code, text = s.send_message(SENDER, [RCPT], ok)
            self.assertEqual(code, 250, text)
        ids = r.queue_ids()
        self.assertEqual(ids, [queue_id(text)])
        self.assert_stored(r, ids[0], ok)

    def test_long_text_line(self):
        """A text line of 1000 octets with CRLF is accepted and stored
        exactly; a longer one gets 552 5.6.0 (nothing queued)."""
        r = self.relay()
        ok = b"Subject: long\r\n\r\n" + b"a" * 998 + b"\r\nend\r\n"
        bad = b"Subject: long\r\n\r\n" + b"b" * 1100 + b"\r\nend\r\n"
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message(SENDER, [RCPT], ok)
            self.assertEqual(code, 250, text)
            good_id = queue_id(text)
            code, text = s.send_message(SENDER, [RCPT], bad)
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith("5.6.0"), text)
            self.assertEqual(s.cmd("NOOP")[0], 250)
        self.assertEqual(r.queue_ids(), [good_id])
        self.assert_stored(r, good_id, ok)

    def test_long_command_line(self):
        """A command line of 512 octets is accepted; a longer one gets
        500 5.5.2 and the session continues."""
        r = self.relay()
        with Smtp(r.port) as s:
            s.ehlo()
            line = "NOOP " + "x" * (512 - 2 - 5)
            self.assertEqual(len(line) + 2, 512)
            self.assertEqual(s.cmd(line)[0], 250)
            code, text = s.cmd("MAIL FROM:<%s@example.com>" % ("a" * 600))
            self.assertEqual(code, 500, text)
            self.assertTrue(text.startswith("5.5.2"), text)
            code, text = s.send_message(SENDER, [RCPT], b"after\r\n")
            self.assertEqual(code, 250, text)

    def test_101_recipients(self):
        """100 recipients are accepted, the 101st gets 452 4.5.3; the
        message is queued for the 100."""
        r = self.relay()
        rcpts = ["rcpt%03d@example.org" % i for i in range(101)]
        with Smtp(r.port) as s:
            s.ehlo()
            s.send("MAIL FROM:<%s>\r\n" % SENDER +
                   "".join("RCPT TO:<%s>\r\n" % x for x in rcpts))
            replies = [s.reply() for _ in range(102)]
            self.assertEqual([c for c, _ in replies[:101]], [250] * 101)
            self.assertEqual(replies[101][0], 452, replies[101])
            self.assertTrue(replies[101][1].startswith("4.5.3"))
            self.assertEqual(s.cmd("DATA")[0], 354)
            s.send(b"hundred\r\n.\r\n")
            code, text = s.reply()
            self.assertEqual(code, 250, text)
        e = r.queue_list()
        self.assertEqual(len(e), 1)
        self.assertEqual(e[0]["rcpts"], rcpts[:100])

    def test_bad_commands_421(self):
        """Ten bad commands in a row: 5xx replies, then 421 and the
        connection is closed."""
        r = self.relay()
        with Smtp(r.port) as s:
            s.ehlo()
            codes = []
            for i in range(12):
                try:
                    code, text = s.cmd("BOGUS%d" % i)
                except (OSError, helpers.SmtpError):
                    break
                if code == 0:
                    break
                codes.append(code)
                if code == 421:
                    break
            self.assertIn(421, codes, codes)
            self.assertGreaterEqual(len(codes), 10, codes)
            self.assertLessEqual(len(codes), 11, codes)
            self.assertTrue(all(500 <= c < 600 for c in codes[:-1]), codes)
            self.assertEqual(s.reply(), (0, ""), "not closed after 421")

    @helpers.slow
    def test_idle_timeout(self):
        """An idle client gets 421 4.4.2 after smtpd_timeout (the
        smallest value the config accepts) and is disconnected."""
        t = self.smallest_ok("smtpd_timeout", ["1s", "2s", "5s", "10s"])
        r = self.relay(conf_extra="smtpd_timeout = %s" % t)
        secs = int(t[:-1])
        with Smtp(r.port, timeout=secs + 30) as s:
            s.ehlo()
            code, text = s.reply()
            self.assertEqual(code, 421, text)
            self.assertTrue(text.startswith("4.4.2"), text)
            self.assertEqual(s.reply(), (0, ""))

    def test_early_talker(self):
        """A client that talks before the greeting is dropped (554 5.5.1,
        connection closed) and nothing it sent is acted on. The daemon is
        paused (SIGSTOP) so that the data is there before it accepts."""
        r = self.relay()
        os.kill(r.pid, signal.SIGSTOP)
        try:
            s = Smtp(r.port, greet=False)
            s.send("EHLO x\r\nMAIL FROM:<a@example.com>\r\n"
                   "RCPT TO:<b@example.org>\r\nDATA\r\nearly\r\n.\r\n")
        finally:
            os.kill(r.pid, signal.SIGCONT)
        with s:
            code, text = s.reply()
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith("5.5.1"), text)
            self.assertEqual(s.reply(), (0, ""))
        self.assertEqual(r.queue_list(), [])
        with Smtp(r.port) as s:  # a polite client is served
            self.assertEqual(s.greeting[0], 220)

    def test_sessions_per_client(self):
        """CONFIG_MAX_SESSIONS_PER_CLIENT sessions from one address are
        served; one more gets 421 4.7.0; once one closes, a new one is
        served again."""
        hdr = os.path.join(os.path.dirname(helpers.BIN), "include",
                           "edgemta_config.h")
        if not os.path.exists(hdr):
            self.skipTest("no %s next to the binary" % hdr)
        with open(hdr) as f:
            m = re.search(r"#define CONFIG_MAX_SESSIONS_PER_CLIENT (\d+)",
                          f.read())
        limit = int(m.group(1))
        if limit > 200:
            self.skipTest("limit %d too large for this test" % limit)
        r = self.relay()
        conns = []
        try:
            for _ in range(limit):
                c = Smtp(r.port)
                conns.append(c)
                self.assertEqual(c.greeting[0], 220)
            with Smtp(r.port) as extra:
                self.assertEqual(extra.greeting[0], 421, extra.greeting)
                self.assertTrue(extra.greeting[1].startswith("4.7.0"))
            conns.pop().cmd("QUIT")
            ok = False
            for _ in range(50):  # the freed slot is seen after the close
                with Smtp(r.port) as again:
                    if again.greeting[0] == 220:
                        ok = True
                        break
                time.sleep(0.05)
            self.assertTrue(ok, "no session after one was closed")
        finally:
            for c in conns:
                c.close()
