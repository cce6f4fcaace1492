"""`edgemta status`: the relay's health with and without the daemon, as
text, --json and --check (exit 0/1/2), against real peers: a TLS+AUTH
smarthost that delivers, one that refuses AUTH (535), a relay that is
down, a queue that fills up."""
import json
import time

import helpers
from helpers import RelayTest, Smtp, free_port, wait_until
from test_tls_client import TlsClientTest


class Status(RelayTest):
    # the TLS client tests' smarthost and relay set-up, not their tests
    relay_to = TlsClientTest.relay_to
    smarthost = TlsClientTest.smarthost
    assert_delivered = TlsClientTest.assert_delivered

    def status(self, r, *args):
        return r.cli("status", *args)

    def status_json(self, r):
        p = self.status(r, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_status_without_daemon(self):
        r = self.relay(start=False)
        p = self.status(r)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("NOT running", p.stdout)
        self.assertIn("[....................] 0 % used", p.stdout)
        p = self.status(r, "--check")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertTrue(p.stdout.startswith("CRITICAL: edgemta is not "
                                            "running"), p.stdout)
        self.assertEqual(len(p.stdout.splitlines()), 1)
        j = self.status_json(r)
        self.assertEqual(j["state"], "critical")
        self.assertFalse(j["daemon"]["running"])
        self.assertEqual(j["queue"]["messages"], 0)

    def test_status_after_tls_delivery(self):
        h = self.smarthost("good")
        r = self.relay_to(h.port)
        self.send_token(r, "tok-status")
        self.assert_delivered(r, h, "tok-status")
        self.assertTrue(wait_until(lambda: r.queue_ids() == [], 20))
        j = self.status_json(r)
        self.assertEqual(j["state"], "ok", j["problems"])
        self.assertTrue(j["daemon"]["running"])
        self.assertGreaterEqual(j["daemon"]["uptime"], 0)
        d = j["delivery"]
        self.assertEqual((d["sent"], d["bounced"]), (1, 0))
        self.assertIn("[127.0.0.1]:%d" % h.port, d["last_relay"])
        self.assertIn("TLS", d["last_tls"])
        self.assertLessEqual(abs(d["last_sent"] - time.time()), 60)
        self.assertEqual(j["queue"]["messages"], 0)
        self.assertGreater(j["flash"]["blocks"], 0)
        p = self.status(r, "--check")
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertTrue(p.stdout.startswith("OK: "), p.stdout)
        p = self.status(r)
        self.assertIn("running, up", p.stdout)
        self.assertIn("1 sent, 0 bounced", p.stdout)
        self.assertIn("last delivered", p.stdout)

    def test_status_relay_refusing_auth(self):
        h = self.smarthost("good", auth_ok=False)
        r = self.relay_to(h.port)
        self.send_token(r, "tok-535")
        self.assertTrue(wait_until(
            lambda: "SMTP AUTH failed: 535" in r.log_text(), 30))
        p = self.status(r, "--check")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"^WARNING: relay .* refusing AUTH "
                         r"since .*: check the password")
        j = self.status_json(r)
        self.assertEqual(j["state"], "warning")
        self.assertEqual(j["queue"]["messages"], 1)
        self.assertEqual(j["queue"]["deferred"], 1)
        self.assertIn("535", j["delivery"]["last_error"])

    def test_status_relay_down_and_queue_filling(self):
        dead = free_port()
        r = self.relay(queue_size="256k", conf_extra=(
            "relayhost = [127.0.0.1]:%d\nminimal_backoff_time = 60s\n"
            % dead))
        body = b"Subject: fill\r\n\r\n" + b"x" * 70 + b"\r\n"
        body = body * 100
        refused = False
        with Smtp(r.port) as c:
            c.ehlo()
            for _ in range(80):
                replies = c.mail_rcpt_data("a@example.org",
                                           ["b@example.net"])
                if replies[-1][0] != 354:
                    refused = True
                    break
                c.send(helpers.dot_stuff(body) + b".\r\n")
                code, _ = c.reply()
                if code != 250:
                    refused = True
                    break
        self.assertTrue(refused, "the 256k queue never filled")
        self.assertTrue(wait_until(
            lambda: "relayhost unreachable" in r.log_text(), 30))
        j = self.status_json(r)
        self.assertGreaterEqual(j["queue"]["percent_used"], 75)
        self.assertIn(j["state"], ("warning", "critical"))
        texts = " | ".join(x["text"] for x in j["problems"])
        self.assertIn("% full", texts)
        self.assertIn("relay unreachable", texts)
        self.assertGreater(j["delivery"]["relay_down_until"], time.time())
        p = self.status(r, "--check")
        self.assertIn(p.returncode, (1, 2), p.stdout)
        p = self.status(r)
        self.assertIn("DOWN", p.stdout)
        self.assertRegex(p.stdout, r"\[#+\.*\] \d+ % used")
