"""Outbound rate towards the relayhost: smtp_rate_limit = N/PERIOD (a
burst of N, then one per PERIOD/N) and smtp_destination_rate_delay (a
pause between messages). Mail over the limit waits in the queue: it is
not deferred and no attempt is counted; `edgemta status` says when the
next message may go. Assertions are on counts at a point in time (never
more than the limit allows, whatever the machine's speed) and on
everything arriving in the end."""
import json
import time

from test_delivery import DeliveryBase


class Rate(DeliveryBase):

    def queue_n(self, r, n):
        self.send(r, [b"Subject: rate %d\r\n\r\nbody\r\n" % i
                      for i in range(n)], sender="a@example.org")

    def test_rate_limit_burst_then_paced(self):
        sh = self.smarthost()
        r = self.relay_to(sh.port, "smtp_rate_limit = 2/8s\n")
        t0 = time.monotonic()
        self.queue_n(r, 4)
        self.wait_msgs(sh, 2)
        # the burst is 2: a third may go only 4 s after the first
        human = r.cli("status").stdout
        j = json.loads(r.cli("status", "--json").stdout)
        if time.monotonic() - t0 < 3.0:
            self.assertIn("rate limit: the next message may go at", human)
            self.assertGreater(j["delivery"]["rate_next"], time.time())
        while time.monotonic() - t0 < 3.0:
            self.assertLessEqual(len(sh.messages()), 2)
            time.sleep(0.1)
        # waiting is not deferring
        self.assertNotIn("status=deferred", r.log_text())
        self.assertFalse(any("deferred" in line for line in
                             r.cli("queue", "list").stdout.splitlines()))
        self.wait_msgs(sh, 4, timeout=60)
        self.assertGreaterEqual(time.monotonic() - t0, 7.5)
        self.wait_queue_empty(r)

    def test_destination_rate_delay(self):
        sh = self.smarthost()
        r = self.relay_to(sh.port, "smtp_destination_rate_delay = 2s\n")
        t0 = time.monotonic()
        self.queue_n(r, 3)
        self.wait_msgs(sh, 1)
        while time.monotonic() - t0 < 1.5:
            self.assertLessEqual(len(sh.messages()), 1)
            time.sleep(0.1)
        self.wait_msgs(sh, 3, timeout=60)
        self.assertGreaterEqual(time.monotonic() - t0, 3.9)
        self.assertNotIn("status=deferred", r.log_text())

    def test_bad_rate_is_a_config_error(self):
        r = self.relay(start=False, conf_extra="smtp_rate_limit = 30 per m\n")
        p = r.cli("check")
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("smtp_rate_limit", p.stderr)
        self.assertIn("expected messages/period like 30/1m", p.stderr)
