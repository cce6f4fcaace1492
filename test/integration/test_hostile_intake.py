"""Hostile SMTP clients, round 2 (issue 11): control characters in
HELO/EHLO and in what reaches the log, slowloris and slot fairness,
early talkers at the greeting, postmaster from outside mynetworks."""
import os
import re
import select
import socket
import subprocess
import time

import helpers
from helpers import Smtp, strip_received


class HeloSyntax(helpers.RelayTest):

    def test_helo_control_characters_501(self):
        """Issue 11.4: the EHLO/HELO argument must be a domain or an
        address literal (RFC 5321 4.1.1.1): `EHLO x\\x01` and friends get
        501 5.5.2; the log shows the bytes escaped (\\xNN), never raw."""
        r = self.relay()
        bad = [b"x\x01", b"a\x1b[2Jb", b"host name", b"a..b", b"-a.example",
               b"[1.2.3]", b"a\x7f.example", b"x\xc2\x9b31m"]
        for arg in bad:
            with Smtp(r.port) as s:
                for verb in (b"EHLO ", b"HELO "):
                    code, text = s.cmd(verb + arg)
                    self.assertEqual(code, 501, (arg, text))
                    self.assertTrue(text.startswith("5.5.2"), text)
        log = r.log_text()
        self.assertIn("invalid host name: x\\x01", log)
        self.assertIn("a\\x1b[2Jb", log)
        self.assertIn("x\\xc2\\x9b31m", log)
        for c in list(range(0, 9)) + list(range(11, 32)) + [127]:
            self.assertNotIn(chr(c), log, "raw control 0x%02x logged" % c)
        self.assertNotIn("\u009b", log)

    def test_helo_good_names_and_received(self):
        """Domains, address literals, LAN names with '_' are accepted;
        the Received: header carries the name as sent."""
        r = self.relay()
        good = ["client.example.com", "localhost", "192.168.1.20",
                "[192.168.1.20]", "[IPv6:2001:db8::1]", "my_nas.lan",
                "cam-01"]
        with Smtp(r.port) as s:
            for g in good:
                self.assertEqual(s.cmd("EHLO " + g)[0], 250, g)
                self.assertEqual(s.cmd("HELO " + g)[0], 250, g)
            s.ehlo("my_nas.lan")
            code, _ = s.send_message("a@example.com", ["b@example.org"],
                                     b"Subject: x\r\n\r\nb\r\n")
            self.assertEqual(code, 250)
        (qid,) = r.queue_ids()
        stored = r.queue_show(qid)
        self.assertTrue(stored.startswith(b"Received: from my_nas.lan "),
                        stored[:80])
        head = stored[:len(stored) - len(strip_received(stored))]
        self.assertIsNone(re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]",
                                    head), head)


class SmtpFrom(Smtp):
    """helpers.Smtp from a chosen loopback source address (127.x.y.z
    are all local on Linux), to act as clients of different networks."""

    def __init__(self, port, src, timeout=15, greet=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self.greeting = self.reply() if greet else None


def drip(s, data, every, limit):
    """Send data one byte every `every` seconds until the server says
    something (returned as (code, text)) or limit seconds passed (None)."""
    end = time.monotonic() + limit
    for b in data:
        s.send(bytes([b]))
        r, _, _ = select.select([s.sock], [], [], every)
        if r:
            return s.reply()
        if time.monotonic() > end:
            return None
    return s.reply()


def kconfig(name):
    """A CONFIG_ value of the binary under test, or None."""
    hdr = os.path.join(os.path.dirname(helpers.BIN), "include",
                       "edgemta_config.h")
    if not os.path.exists(hdr):
        return None
    with open(hdr) as f:
        m = re.search(r"#define CONFIG_%s (\d+)" % name, f.read())
    return int(m.group(1)) if m else None


class Slowloris(helpers.RelayTest):
    """Issue 11.2: per-request deadlines and slot fairness."""

    def test_slowloris_command_deadline(self):
        """A client sending `EHLO slow.test` one byte every 2 s is never
        idle for smtpd_timeout (10 s), but the line is not complete
        within smtpd_command_deadline (3 s): 421 4.4.2, closed."""
        r = self.relay(conf_extra="smtpd_timeout = 10s\n"
                       "smtpd_command_deadline = 3s\n")
        with Smtp(r.port, timeout=60) as s:
            got = drip(s, b"EHLO slow.test\r\n", 2.0, 40)
            self.assertIsNotNone(got, "never cut")
            code, text = got
            self.assertEqual(code, 421, text)
            self.assertTrue(text.startswith("4.4.2"), text)
            self.assertEqual(s.reply(), (0, ""))
        self.assertIn("deadline exceeded after command", r.log_text())
        with Smtp(r.port) as s:  # a normal client is served
            s.ehlo()

    def test_slowloris_data_min_rate(self):
        """In DATA a byte per second is far below smtpd_min_data_rate
        (500 B/s): once the credit of smtpd_command_deadline (3 s) is
        used up, 421 4.4.2 and nothing is queued. A normal client's
        message still goes through."""
        r = self.relay(conf_extra="smtpd_timeout = 10s\n"
                       "smtpd_command_deadline = 3s\n"
                       "smtpd_min_data_rate = 500\n")
        with Smtp(r.port, timeout=60) as s:
            s.ehlo()
            replies = s.mail_rcpt_data("a@example.com", ["b@example.org"])
            self.assertEqual(replies[-1][0], 354, replies)
            got = drip(s, b"Subject: slow\r\n\r\n" + b"x" * 40, 1.0, 40)
            self.assertIsNotNone(got, "never cut")
            self.assertEqual(got[0], 421, got)
            self.assertTrue(got[1].startswith("4.4.2"), got)
        self.assertIn("deadline exceeded after DATA", r.log_text())
        self.assertEqual(r.queue_list(), [])
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        b"Subject: ok\r\n\r\n" +
                                        (b"y" * 70 + b"\r\n") * 300)
            self.assertEqual(code, 250, text)

    def test_slowloris_one_network_cannot_take_the_reserve(self):
        """Slow clients of one /24 (127.0.0.2, 127.0.0.3) take every slot
        but the CONFIG_SESSIONS_RESERVED last ones; the next client of
        that /24 gets 421 4.7.0, while a client of another network
        (127.1.0.1) is served and its message queued."""
        total, per, res = (kconfig("MAX_SESSIONS"),
                           kconfig("MAX_SESSIONS_PER_CLIENT"),
                           kconfig("SESSIONS_RESERVED"))
        if not total or total > 256:
            self.skipTest("needs a small CONFIG_MAX_SESSIONS")
        self.assertIsNotNone(res, "no CONFIG_SESSIONS_RESERVED")
        if res == 0:
            self.skipTest("CONFIG_SESSIONS_RESERVED is 0 in this build")
        r = self.relay()
        held = []
        try:
            n, src = 0, 2
            while n < total - res:
                if sum(1 for h in held if h[0] == src) >= per:
                    src += 1
                s = SmtpFrom(r.port, "127.0.0.%d" % src)
                self.assertEqual(s.greeting[0], 220)
                s.send(b"EHLO sl")  # started, never completed
                held.append((src, s))
                n += 1
            s = SmtpFrom(r.port, "127.0.0.%d" % (src + 1))
            code, text = s.greeting
            s.close()
            self.assertEqual(code, 421, text)
            self.assertTrue(text.startswith("4.7.0"), text)
            self.assertIn("network", text)
            with SmtpFrom(r.port, "127.1.0.1") as s:
                self.assertEqual(s.greeting[0], 220)
                s.ehlo()
                code, text = s.send_message("a@example.com",
                                            ["b@example.org"],
                                            b"Subject: fair\r\n\r\nok\r\n")
                self.assertEqual(code, 250, text)
        finally:
            for _, h in held:
                h.close()
        self.assertEqual(len(r.queue_list()), 1)

    def test_slowloris_full_pool_evicts_silent_sessions(self):
        """Every slot held by clients of many networks that never finish
        EHLO: a new client takes the slot of the oldest of them (which
        gets 421 4.7.0) and is served. Clients past EHLO are not evicted:
        then the new client gets 421 4.7.0 itself."""
        total = kconfig("MAX_SESSIONS")
        if not total or total > 256:
            self.skipTest("needs a small CONFIG_MAX_SESSIONS")
        r = self.relay()
        held = []
        try:
            for i in range(total):
                s = SmtpFrom(r.port, "127.0.%d.%d" % (10 + i // 2, 1))
                self.assertEqual(s.greeting[0], 220, i)
                held.append(s)
            time.sleep(1.2)  # older than the 1 s grace
            with SmtpFrom(r.port, "127.1.0.1") as s:
                self.assertEqual(s.greeting[0], 220)
                s.ehlo()
            code, text = held[0].reply()
            self.assertEqual(code, 421, text)
            self.assertTrue(text.startswith("4.7.0"), text)
            held[0].close()
            # now everyone completes EHLO: nobody to evict
            for h in held[1:]:
                h.ehlo()
            with SmtpFrom(r.port, "127.1.0.2") as s:
                self.assertEqual(s.greeting[0], 220)  # the freed slot
                s.ehlo()
                with SmtpFrom(r.port, "127.1.0.3") as t:
                    code, text = t.greeting
                    self.assertEqual(code, 421, text)
        finally:
            for h in held:
                h.close()


class EarlyTalker(helpers.RelayTest):
    """Issue 11.5: input before the greeting, with smtpd_greet_wait."""

    def test_early_talker_during_greet_wait(self):
        """With smtpd_greet_wait = 2s a client that writes right after
        connecting gets 554 5.5.1 instead of 220 and is disconnected;
        nothing it sent is acted on. A client that waits is greeted and
        served."""
        r = self.relay(conf_extra="smtpd_greet_wait = 2s\n")
        s = Smtp(r.port, greet=False, timeout=30)
        s.send("EHLO x.example\r\nMAIL FROM:<a@example.com>\r\n"
               "RCPT TO:<b@example.org>\r\nDATA\r\nearly\r\n.\r\n")
        with s:
            code, text = s.reply()
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith("5.5.1"), text)
            self.assertEqual(s.reply(), (0, ""))
        self.assertEqual(r.queue_list(), [])
        self.assertIn("early talker from unknown[127.0.0.1]", r.log_text())
        with Smtp(r.port, timeout=30) as s:
            self.assertEqual(s.greeting[0], 220)
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        b"Subject: polite\r\n\r\nok\r\n")
            self.assertEqual(code, 250, text)

    def test_early_talker_greet_wait_off_by_default(self):
        """Without smtpd_greet_wait the greeting is not held back: `check`
        / `config` show 0s and an EHLO right after the 220 is served."""
        r = self.relay()
        out = r.cli("config").stdout
        self.assertRegex(out, r"(?m)^smtpd_greet_wait = 0s?$")
        with Smtp(r.port) as s:
            self.assertEqual(s.greeting[0], 220)
            s.ehlo()


class Postmaster(helpers.RelayTest):
    """Issue 11.8 (postmaster part): RFC 5321 4.5.1 from outside
    mynetworks (the test client 127.0.0.1 is outside 10.0.0.0/8)."""

    def outside(self, extra):
        return self.relay(mynetworks="10.0.0.0/8", conf_extra=extra)

    def test_postmaster_from_outside_goes_to_admin(self):
        """RCPT TO:<postmaster@myhostname> and <Postmaster> are accepted
        from a client that may not relay and queued once for the admin
        address; any other recipient is still refused (554 5.7.1)."""
        r = self.outside("bounce_notice_recipient = admin@example.org\n")
        with Smtp(r.port) as s:
            s.ehlo()
            self.assertEqual(s.cmd("MAIL FROM:<x@outside.example>")[0], 250)
            self.assertEqual(s.cmd("RCPT TO:<other@example.net>")[0], 554)
            self.assertEqual(s.cmd("RCPT TO:<postmaster@test.example>")[0],
                             250)
            self.assertEqual(s.cmd("RCPT TO:<Postmaster>")[0], 250)
            self.assertEqual(s.cmd("RCPT TO:<POSTMASTER@test.example>")[0],
                             250)
            self.assertEqual(s.cmd("DATA")[0], 354)
            s.send(b"Subject: abuse report\r\n\r\nhello\r\n.\r\n")
            code, text = s.reply()
            self.assertEqual(code, 250, text)
        (e,) = r.queue_list()
        self.assertEqual(e["rcpts"], ["admin@example.org"])
        self.assertEqual(e["sender"], "x@outside.example")
        self.assertIn("<postmaster@test.example> goes to "
                      "<admin@example.org>", r.log_text())

    def test_postmaster_alias_and_rate_limit(self):
        """An alias for postmaster wins over the admin address; at most
        20 RCPTs to postmaster an hour from outside: then 450 4.7.1."""
        r = self.outside("bounce_notice_recipient = admin@example.org\n"
                         "aliases = postmaster abuse: ops@example.net\n")
        codes = []
        with Smtp(r.port) as s:
            s.ehlo()
            for i in range(22):
                s.cmd("RSET")
                s.cmd("MAIL FROM:<x%d@outside.example>" % i)
                code, text = s.cmd("RCPT TO:<postmaster>")
                codes.append(code)
                if i == 0:
                    self.assertEqual(s.cmd("DATA")[0], 354)
                    s.send(b"Subject: s\r\n\r\nb\r\n.\r\n")
                    self.assertEqual(s.reply()[0], 250)
        self.assertEqual(codes, [250] * 20 + [450, 450])
        self.assertTrue(text.startswith("4.7.1"), text)
        (e,) = r.queue_list()
        self.assertEqual(e["rcpts"], ["ops@example.net"])

    def test_postmaster_without_admin_refused(self):
        """No usable admin address (the default `postmaster` is local
        here again; there is no local delivery): 550 5.1.1 rather than a
        message that would loop, and the log says what to set."""
        r = self.outside("")
        with Smtp(r.port) as s:
            s.ehlo()
            s.cmd("MAIL FROM:<x@outside.example>")
            code, text = s.cmd("RCPT TO:<postmaster@test.example>")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith("5.1.1"), text)
        self.assertIn("set bounce_notice_recipient", r.log_text())

    def test_postmaster_from_mynetworks(self):
        """A client that may relay: postmaster@myhostname goes to the
        admin address too; without a usable admin address it is relayed
        as written, as before (no 550, no rate limit)."""
        r = self.relay(conf_extra="bounce_notice_recipient = a@example.org")
        r2 = self.relay(sub="r2")
        for relay in (r, r2):
            with Smtp(relay.port) as s:
                s.ehlo()
                code, _ = s.send_message("x@example.com",
                                         ["postmaster@test.example"],
                                         b"Subject: s\r\n\r\nb\r\n")
                self.assertEqual(code, 250)
        self.assertEqual([e["rcpts"] for e in r.queue_list()],
                         [["a@example.org"]])
        self.assertEqual([e["rcpts"] for e in r2.queue_list()],
                         [["postmaster@test.example"]])


class SlowLocalSubmission(helpers.RelayTest):

    def test_slowloris_deadline_spares_local_sendmail(self):
        """`job | sendmail` streams the body as the job writes it: on the
        local socket only the idle timeout applies, so a body trickling
        in for longer than smtpd_command_deadline is still queued."""
        r = self.relay(conf_extra="smtpd_command_deadline = 1s\n")
        p = helpers.spawn([helpers.BIN, "sendmail", "-C", r.conf,
                           "x@example.com"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            p.stdin.write(b"Subject: slow job\n\n")
            p.stdin.flush()
            for i in range(4):
                time.sleep(0.8)
                p.stdin.write(b"line %d\n" % i)
                p.stdin.flush()
            p.stdin.close()
            self.assertEqual(p.wait(60), 0, p.stderr.read())
        finally:
            helpers.reap(p)
        (e,) = r.queue_list()
        self.assertEqual(e["rcpts"], ["x@example.com"])
