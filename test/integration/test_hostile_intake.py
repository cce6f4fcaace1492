"""Hostile SMTP clients, round 2 (issue 11): control characters in
HELO/EHLO and in what reaches the log, slowloris and slot fairness,
early talkers at the greeting, postmaster from outside mynetworks."""
import re
import socket
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
