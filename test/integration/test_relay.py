"""Relay policy: never an open relay; mynetworks may relay."""
import unittest

import helpers
from helpers import Smtp

# (a local postmaster is accepted for the admin address: test_hostile_intake)
PLAIN = ["victim@example.com", "postmaster@example.org", "user@test.example",
         "someone@[127.0.0.1]", "postmaster@test.example.org"]
TRICKS = ["victim%other@example.com", "@relay.example:victim@x.example",
          "\"victim@x.example\"@test.example", "victim!x.example@test.example",
          "victim@x.example@test.example"]


class Relay(helpers.RelayTest):

    def refused_everything(self, r, host="127.0.0.1", port=None):
        """Every PLAIN and TRICKS recipient is refused (3 per session, as
        many refusals in a row end a session with 421)."""
        addrs = [(a, True) for a in PLAIN] + [(a, False) for a in TRICKS]
        for i in range(0, len(addrs), 3):
            with Smtp(port or r.port, host=host) as s:
                s.ehlo()
                self.assertEqual(s.cmd("MAIL FROM:<a@example.com>")[0], 250)
                for rc, plain in addrs[i:i + 3]:
                    code, text = s.cmd("RCPT TO:<%s>" % rc)
                    if plain:
                        self.assertEqual(code, 554, "%s: %d %s"
                                         % (rc, code, text))
                        self.assertTrue(text.startswith("5.7.1"), text)
                    else:
                        # 554 5.7.1, or a 5xx syntax refusal
                        self.assertTrue(500 <= code < 600, "%s: %d %s"
                                        % (rc, code, text))
                code, text = s.cmd("DATA")
                self.assertIn(code, (503, 554), text)
                # a client that sends the message anyway: nothing queued
                s.send(b"Subject: relay\r\n\r\nspam\r\n.\r\nQUIT\r\n")
                for _ in range(8):
                    code, text = s.reply()
                    self.assertFalse(code == 250 and "queued" in text, text)
                    if code in (0, 221, 421):
                        break
        self.assertEqual(r.queue_list(), [])

    def test_outside_mynetworks_refused(self):
        """127.0.0.1 outside mynetworks (10.0.0.0/8): every recipient,
        including address tricks (%, source routes, quoted @, !, double
        @), is refused at RCPT, and nothing is queued."""
        r = self.relay(mynetworks="10.0.0.0/8")
        self.refused_everything(r)

    def test_inside_mynetworks_accepted(self):
        """127.0.0.1 inside mynetworks may relay to any domain."""
        r = self.relay()
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("a@example.com",
                                        ["victim@example.com",
                                         "x@example.net"], b"ok\r\n")
            self.assertEqual(code, 250, text)
        self.assertEqual(r.queue_list()[0]["rcpts"],
                         ["victim@example.com", "x@example.net"])

    @unittest.skipUnless(helpers.has_ipv6(), "no ::1 on this host")
    def test_ipv6_listener(self):
        """A [::1] listener: ::1 is refused when mynetworks holds only
        127.0.0.0/8, and may relay when mynetworks holds [::1]/128."""
        port6 = helpers.free_port()
        r = self.relay(conf_extra="listen = [::1]:%d smtp" % port6)
        self.assertTrue(helpers.wait_until(
            lambda: helpers._listening(port6), 10))
        self.refused_everything(r, host="::1", port=port6)
        port6 = helpers.free_port()
        r2 = self.relay(sub="r2", mynetworks="[::1]/128",
                        conf_extra="listen = [::1]:%d smtp" % port6)
        with Smtp(port6, host="::1") as s:
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        b"v6\r\n")
            self.assertEqual(code, 250, text)
        # 127.0.0.1 is now outside mynetworks
        with Smtp(r2.port) as s:
            s.ehlo()
            s.cmd("MAIL FROM:<a@example.com>")
            self.assertEqual(s.cmd("RCPT TO:<b@example.org>")[0], 554)
        self.assertEqual(len(r2.queue_list()), 1)

    @unittest.skipUnless(helpers.has_ipv6(), "no IPv6 on this host")
    def test_dual_stack_listener_v4_client(self):
        """A [::]:PORT listener also takes IPv4 clients (v4-mapped), and
        mynetworks sees them as a.b.c.d: 127.0.0.1 inside 127.0.0.0/8 (or
        [::ffff:127.0.0.0]/104) may relay and is logged and stamped as
        127.0.0.1; with mynetworks = [::1]/128 the same client is refused
        everything (issue 11 point 8)."""
        for nets, trusted in (("127.0.0.0/8", True),
                              ("[::ffff:127.0.0.0]/104", True),
                              ("[::1]/128", False)):
            with self.subTest(mynetworks=nets):
                port6 = helpers.free_port()
                r = self.relay(sub="r%d" % port6, mynetworks=nets,
                               conf_extra="listen = [::]:%d smtp" % port6)
                self.assertTrue(helpers.wait_until(
                    lambda: helpers._listening(port6), 10))
                if not trusted:
                    self.refused_everything(r, host="127.0.0.1", port=port6)
                    continue
                with Smtp(port6, host="127.0.0.1") as s:
                    s.ehlo()
                    code, text = s.send_message(
                        "a@example.com", ["b@example.org"], b"v4 on v6\r\n")
                    self.assertEqual(code, 250, text)
                qid = r.queue_list()[0]["id"]
                stored = r.queue_show(qid)
                self.assertIn(b"[127.0.0.1]", stored.split(b"\r\n\r\n")[0])
                self.assertNotIn(b"ffff", stored)

    @unittest.skipUnless(helpers.has_ipv6(), "no IPv6 on this host")
    def test_dual_stack_with_ipv4_listener_same_port(self):
        """0.0.0.0:P and [::]:P together, in either order: the daemon
        starts and serves 127.0.0.1 and ::1 on P."""
        for first, second in (("0.0.0.0", "[::]"), ("[::]", "0.0.0.0")):
            with self.subTest(first=first):
                port = helpers.free_port()
                r = self.relay(sub="r%d" % port, conf_extra=(
                    "listen = %s:%d smtp\nlisten = %s:%d smtp"
                    % (first, port, second, port)))
                for host in ("127.0.0.1", "::1"):
                    with Smtp(port, host=host) as s:
                        s.ehlo()  # raises unless 250
                self.assertIn("0.0.0.0:%d" % port, r.log_text())
                self.assertIn("[::]:%d" % port, r.log_text())
