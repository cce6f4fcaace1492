"""The SMTP client against a raw-socket smarthost that records every byte:
EHLO replies larger than the read buffer (issue 17.3), a hostile endless
reply, QUIT before closing when TLS is required but STARTTLS is not
offered (issue 11.8), and the delays=a/b/c/d field when the first relayhost
fails slowly (issue 17.5)."""
import socket
import smtplib
import threading

from helpers import RelayTest, assert_setup_delay, stalling_peer, wait_until

FAST = ("minimal_backoff_time = 1s\n"
        "maximal_backoff_time = 2s\n")


class RawSmarthost:
    """SMTP on 127.0.0.1:port (one thread per connection) answering EHLO
    with the given lines; .raw holds what each connection sent,
    .delivered the DATA of each accepted message."""

    def __init__(self, ehlo_lines):
        self.ehlo = "".join(ehlo_lines).encode()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.raw = []
        self.delivered = []
        self.stop_ev = threading.Event()
        self.threads = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._session, args=(c,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _session(self, c):
        raw = bytearray()
        self.raw.append(raw)
        try:
            c.settimeout(10)
            f = c.makefile("rb")
            c.sendall(b"220 raw.example ESMTP\r\n")
            while True:
                line = f.readline()
                raw += line
                if not line:
                    break
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    c.sendall(self.ehlo)
                elif cmd == b"DATA":
                    c.sendall(b"354 go\r\n")
                    data = bytearray()
                    while True:
                        x = f.readline()
                        raw += x
                        if x in (b".\r\n", b""):
                            break
                        data += x
                    self.delivered.append(bytes(data))
                    c.sendall(b"250 2.0.0 ok\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 2.0.0 bye\r\n")
                    break
                else:
                    c.sendall(b"250 2.0.0 ok\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        self.lsock.close()
        for t in self.threads:
            t.join(12)


class SmtpOutTest(RelayTest):

    def smarthost(self, lines):
        h = RawSmarthost(lines)
        self.addCleanup(h.stop)
        return h

    def submit(self, relay, body, rcpt="bob@example.net"):
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=15) as c:
            c.ehlo("client.example")
            self.assertEqual(c.sendmail("alice@example.org", [rcpt], body),
                             {})

    def wait_log(self, relay, needle, timeout=20):
        ok = wait_until(lambda: needle in relay.log_text(), timeout, 0.05)
        self.assertTrue(ok, "%r not logged:\n%s" % (needle,
                                                    relay.log_tail(40)))

    def test_ehlo_reply_of_62_lines(self):
        """~3.5 KB of capabilities (more than the 2 KB read buffer):
        delivered; SIZE on the last line is still understood (a larger
        message is refused before DATA)."""
        lines = ["250-raw.example greets you\r\n"]
        lines += ["250-X-VENDOR-CAPABILITY-%02d %s\r\n" % (i, "x" * 29)
                  for i in range(58)]
        lines += ["250-PIPELINING\r\n", "250-8BITMIME\r\n",
                  "250 SIZE 4000\r\n"]
        self.assertEqual(len(lines), 62)
        self.assertGreater(len("".join(lines)), 3400)
        h = self.smarthost(lines)
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n" % h.port
                       + FAST)
        self.submit(r, "Subject: small\r\n\r\nhello\r\n")
        self.wait_log(r, "status=sent")
        self.assertEqual(len(h.delivered), 1)
        self.submit(r, "Subject: big\r\n\r\n" + "y" * 76 + "\r\n" * 1 +
                    ("z" * 76 + "\r\n") * 80, rcpt="carol@example.net")
        self.wait_log(r, "to=<carol@example.net>")
        self.wait_log(r, "dsn=5.3.4")
        # not sent (its DSN to alice may be: it carries headers only)
        self.assertFalse([m for m in h.delivered if b"z" * 76 in m])
        self.assertNotIn("malformed reply", r.log_text())

    def test_endless_ehlo_reply_fails_bounded(self):
        """10,000 continuation lines: a clear, bounded failure (deferred),
        the daemon lives on."""
        lines = ["250-raw.example\r\n"]
        lines += ["250-X-JUNK-%05d\r\n" % i for i in range(10000)]
        lines += ["250 PIPELINING\r\n"]
        h = self.smarthost(lines)
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n" % h.port
                       + FAST)
        self.submit(r, "Subject: x\r\n\r\nhello\r\n")
        self.wait_log(r, "reply from the server too long")
        self.assertEqual(h.delivered, [])
        self.assertEqual(len(r.queue_ids()), 1)
        self.assertTrue(r.running(), r.log_tail(40))
        self.assertNotIn("status=bounced", r.log_text())

    def test_quit_when_starttls_required_but_not_offered(self):
        h = self.smarthost(["250-raw.example\r\n", "250 PIPELINING\r\n"])
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n"
                       "smtp_tls_security_level = encrypt\n" % h.port + FAST)
        self.submit(r, "Subject: x\r\n\r\nhello\r\n")
        self.wait_log(r, "STARTTLS not offered")
        ok = wait_until(lambda: len(h.raw) >= 1 and
                        h.raw[0].endswith(b"\r\n") and
                        b"QUIT" in h.raw[0], 10, 0.05)
        self.assertTrue(ok, "%r" % h.raw)
        self.assertEqual(bytes(h.raw[0]), b"EHLO test.example\r\nQUIT\r\n")
        self.assertEqual(h.delivered, [])
        self.assertEqual(len(r.queue_ids()), 1)

    def test_delays_count_a_slow_failing_first_relayhost(self):
        """The first relayhost holds the connection ~2 s, then refuses
        (554 greeting): the time is connection setup (c) of the line of
        the delivery through the second one, not "before the queue" (a)."""
        h = self.smarthost(["250 raw.example\r\n"])
        slow = stalling_peer(self, hold=2.0)
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d, "
                       "[127.0.0.1]:%d\n" % (slow, h.port) + FAST)
        self.submit(r, "Subject: x\r\n\r\nhello\r\n")
        self.wait_log(r, "status=sent")
        assert_setup_delay(self, r"to=<bob@example.net>, relay=\S*:%d, "
                           % h.port, r.log_text(), 2.0)
