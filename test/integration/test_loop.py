"""Mail loops (issue 17.1), the parts without DNS: the hop limit
(hopcount_limit, Received:/Delivered-To: trace fields) on intake over SMTP
and through sendmail, on delivery of a message already queued, and a
legitimate loopback relayhost next to a wildcard listener. The MX side
(0.0.0.0, 127.x MX hosts) is in test_dns.py."""
import os
import smtplib
import subprocess

import helpers
from helpers import RelayTest, free_port, smtp_sink, wait_until

FAST = ("minimal_backoff_time = 1s\n"
        "maximal_backoff_time = 2s\n")


def traced(n, rcpt="bob@example.net"):
    """A message that already went through n hops."""
    hops = "".join("Received: from hop%d.example by hop%d.example; "
                   "Mon, 1 Jan 2024 00:00:%02d +0000\r\n"
                   % (i, i + 1, i % 60) for i in range(n))
    return (hops + "From: alice@example.org\r\nTo: %s\r\n"
            "Subject: loop test\r\n\r\nbody\r\n" % rcpt)


class HopLimitTest(RelayTest):

    def sink(self):
        os.chmod(self.tmp, 0o755)  # nobody must reach the dump directory
        port = free_port()
        s = smtp_sink(port, [], dump_dir=os.path.join(self.tmp, "dump"))
        self.addCleanup(s.stop)
        return s

    def submit(self, relay, body, rcpts=("bob@example.net",)):
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as c:
            c.ehlo("client.example")
            return c.sendmail("alice@example.org", list(rcpts), body)

    def test_intake_over_the_limit_refused(self):
        """50 trace fields plus ours would be 51: 554 5.4.6, nothing
        queued; 49 (+ ours = 50) is accepted."""
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:9\n")
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.submit(r, traced(50))
        self.assertEqual(cm.exception.smtp_code, 554)
        self.assertIn(b"5.4.6", cm.exception.smtp_error)
        self.assertEqual(r.queue_ids(), [])
        self.assertIn("mail forwarding loop", r.log_text())
        self.assertEqual(self.submit(r, traced(49)), {})
        self.assertEqual(len(r.queue_ids()), 1)

    def test_delivered_to_counts(self):
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:9\n"
                       "hopcount_limit = 5\n")
        body = "Delivered-To: a@example.org\r\n" * 3 + traced(2)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            self.submit(r, body)
        self.assertEqual(cm.exception.smtp_code, 554)
        # the same words in the body are not hops
        self.assertEqual(self.submit(r, traced(4) + "Received: x\r\n" * 9),
                         {})

    def test_sendmail_over_the_limit_refused(self):
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:9\n"
                       "hopcount_limit = 3\n")
        sm = os.path.join(self.tmp, "sendmail")
        os.symlink(helpers.BIN, sm)
        p = subprocess.run([sm, "-C", r.conf, "-i", "bob@example.net"],
                           input=traced(3).replace("\r\n", "\n").encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, 65, p.stderr)   # EX_DATAERR
        self.assertIn(b"5.4.6", p.stderr)
        self.assertEqual(r.queue_ids(), [])

    def test_queued_over_the_limit_bounced_not_relayed(self):
        """A message queued under a higher limit (or by an older version)
        is bounced with 5.4.6 on delivery, never relayed."""
        sink = self.sink()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:9\n"
                       "hopcount_limit = 20\n" + FAST)
        self.submit(r, traced(10))
        self.submit(r, traced(2, "carol@example.net"),
                    rcpts=("carol@example.net",))
        self.assertEqual(len(r.queue_ids()), 2)
        r.stop()
        with open(r.conf) as f:
            conf = f.read()
        conf = conf.replace("relayhost = [127.0.0.1]:9\n",
                            "relayhost = [127.0.0.1]:%d\n" % sink.port)
        conf = conf.replace("hopcount_limit = 20\n", "hopcount_limit = 8\n")
        with open(r.conf, "w") as f:
            f.write(conf)
        r.start()
        ok = wait_until(lambda: "dsn=5.4.6" in r.log_text() and
                        len(sink.dumps()) >= 2, 30, 0.05)
        self.assertTrue(ok, r.log_tail(40))
        log = r.log_text()
        self.assertIn("to=<bob@example.net>, relay=none", log)
        self.assertIn("status=bounced (mail forwarding loop", log)
        dumps = sink.dumps()
        # carol's message went out; bob's did not: only its DSN did
        self.assertTrue(any(b"carol@example.net" in d and
                            b"delivery-status" not in d for d in dumps))
        for d in dumps:
            if b"To: bob@example.net" in d:
                self.assertIn(b"delivery-status", d.lower())
        self.assertTrue(wait_until(lambda: r.queue_ids() == [], 20, 0.05),
                        r.log_tail(40))

    def test_loopback_relayhost_with_wildcard_listener(self):
        """A smarthost on loopback is named by hand: it is not
        "ourselves", even with a wildcard listener."""
        sink = self.sink()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n"
                       "listen = 0.0.0.0:%d smtp\n" % (sink.port,
                                                     free_port()) + FAST)
        self.submit(r, traced(3))
        ok = wait_until(lambda: len(sink.dumps()) == 1, 20, 0.05)
        self.assertTrue(ok, r.log_tail(40))
        self.assertIn("status=sent", r.log_text())
