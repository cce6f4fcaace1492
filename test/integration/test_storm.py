"""Alert storms (alert_collapse_window): the first message of a kind
(envelope sender, recipients, Subject:) goes out at once; repeats within
the window replace each other in the queue and only the last goes out
when the window ends, with X-Edgemta-Collapsed saying what it stands
for. Off by default. Assertions are on what arrives and what the queue
holds, plus a lower bound (a held message never leaves early)."""
import re
import time

from test_delivery import FAST, DeliveryBase

ALERT = b"Subject: UPS on battery\r\nFrom: ups@lan\r\n\r\nevent %d\r\n"


class Storm(DeliveryBase):

    def storm_relay(self, sh, window="4s"):
        return self.relay_to(sh.port, FAST + "alert_collapse_window = %s\n"
                             % window)

    def test_repeats_collapse_into_the_last_one(self):
        sh = self.smarthost()
        r = self.storm_relay(sh)
        t0 = time.monotonic()
        ids = self.send(r, [ALERT % i for i in range(5)], sender="ups@lan",
                        rcpts=("admin@example.org",))
        # other kinds are not repeats: another Subject, other recipients
        self.send(r, [b"Subject: UPS back on mains\r\n\r\nx\r\n"],
                  sender="ups@lan", rcpts=("admin@example.org",))
        self.send(r, [ALERT % 9], sender="ups@lan",
                  rcpts=("admin@example.org", "ops@example.org"))
        self.wait_msgs(sh, 3)
        q = r.queue_list()
        if time.monotonic() - t0 < 2.0:
            # the last repeat waits, held; the three before it are gone
            self.assertEqual([m["id"] for m in q], [ids[4]])
            self.assertIn("held until", q[0]["held"])
            self.assertIn("repeat 4 of an alert storm", q[0]["held"])
        msgs = self.wait_msgs(sh, 4, timeout=30)
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        self.wait_queue_empty(r)
        time.sleep(0.5)
        msgs = sh.messages()
        self.assertEqual(len(msgs), 4)
        alerts = [raw for env, raw in msgs if b"UPS on battery" in raw]
        self.assertEqual(len(alerts), 3)  # event 0, the 2-rcpt one, event 4
        self.assertIn(b"event 0", alerts[0])
        self.assertNotIn(b"X-Edgemta-Collapsed", alerts[0])
        last = alerts[-1]
        self.assertIn(b"event 4", last)
        m = re.search(rb"X-Edgemta-Collapsed: 5 identical messages since "
                      rb"[^\r\n]+\r\n\t\(the first sent as ([0-9A-F]{8}), 3 "
                      rb"not sent, this is the last\)\r\n\r\nevent 4", last)
        self.assertTrue(m, last)
        self.assertEqual(m.group(1).decode(), ids[0])
        log = r.log_text()
        for qid in ids[1:4]:
            self.assertIn("%s: removed: superseded by" % qid, log)
        self.assertNotIn("status=bounced", log)

    def test_off_by_default(self):
        sh = self.smarthost()
        r = self.relay_to(sh.port)
        self.send(r, [ALERT % i for i in range(3)], sender="ups@lan")
        msgs = self.wait_msgs(sh, 3)
        self.assertFalse(any(b"X-Edgemta-Collapsed" in raw
                             for env, raw in msgs))

    def test_held_repeat_survives_kill9(self):
        sh = self.smarthost()
        r = self.storm_relay(sh, "3s")
        ids = self.send(r, [ALERT % i for i in range(2)], sender="ups@lan")
        self.wait_msgs(sh, 1)
        r.kill9()
        r.start()
        msgs = self.wait_msgs(sh, 2, timeout=30)
        self.assertIn(b"event 1", msgs[1][1])
        self.assertIn(b"X-Edgemta-Collapsed: 2 identical", msgs[1][1])
        self.wait_queue_empty(r)
        self.assertRegex(r.log_text(), r"%s: to=<[^>]+>, .*status=sent"
                         % ids[1])
