"""TLS and AUTH towards the smarthost (issue 5), against real servers.

A python3-aiosmtpd smarthost with STARTTLS (certificates from the test
PKI, tlspki.py) and an authenticator receives what edgemta relays. The
good case is delivered with a CA-verified certificate; wrong name,
expired, self-signed and unknown-CA certificates are refused (deferred,
nothing delivered); a pinned self-signed smarthost works; a smarthost
without STARTTLS gets no credentials (raw capture of a scripted server).
"""
import os
import shutil
import socket
import ssl
import tempfile
import threading
import unittest

from helpers import RelayTest, Smtp, free_port, wait_until
from tlspki import Pki

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

_PKI_DIR = tempfile.mkdtemp(prefix="edgemta-pki-")
PKI = None
USER, PASSWORD = "relayuser", "relay pass 1"


def pki():
    global PKI
    if PKI is None:
        PKI = Pki(_PKI_DIR)
    return PKI


def tearDownModule():
    shutil.rmtree(_PKI_DIR, True)


class Handler:
    def __init__(self):
        self.messages = []
        self.auth = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos,
                              envelope.content,
                              server.transport.get_extra_info(
                                  "ssl_object") is not None,
                              session.authenticated))
        return "250 2.0.0 Ok: stored"


class TlsSmarthost:
    """aiosmtpd on 127.0.0.1 with STARTTLS using cert NAME; AUTH
    PLAIN/LOGIN (only inside TLS) checked against USER/PASSWORD."""

    def __init__(self, name, auth_ok=True, implicit=False):
        self.handler = Handler()
        self.port = free_port()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        chain = pki().path(name + ".chain")
        ctx.load_cert_chain(chain if os.path.exists(chain) else
                            pki().cert(name), pki().key(name))

        def authenticator(server, session, envelope, mechanism, data):
            ok = (auth_ok and data.login == USER.encode() and
                  data.password == PASSWORD.encode())
            self.handler.auth.append((mechanism, data.login, ok))
            if ok:
                return AuthResult(success=True)
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 Authentication failed")

        kw = dict(authenticator=authenticator, auth_require_tls=True,
                  auth_required=True)
        if implicit:
            # aiosmtpd only counts STARTTLS as TLS for auth_require_tls
            kw["auth_require_tls"] = False
            self.ctl = Controller(self.handler, hostname="127.0.0.1",
                                  port=self.port, ssl_context=ctx, **kw)
        else:
            self.ctl = Controller(self.handler, hostname="127.0.0.1",
                                  port=self.port, tls_context=ctx,
                                  require_starttls=True, **kw)
        self.ctl.start()

    def stop(self):
        self.ctl.stop()


class RawSmarthost:
    """A scripted plaintext SMTP server that records every byte it
    receives and offers AUTH but not STARTTLS."""

    def __init__(self, starttls_reply=None):
        self.port = free_port()
        self.starttls_reply = starttls_reply	# offer it, answer this
        self.capture = b""
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(8)
        self.lsock.settimeout(0.5)
        self.stopping = False
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        for _ in range(200):		# bounded: ~100 s at most
            if self.stopping:
                return
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            c.settimeout(5)
            try:
                c.sendall(b"220 raw.example ESMTP\r\n")
                buf = b""
                for _ in range(50):
                    d = c.recv(4096)
                    if not d:
                        break
                    self.capture += d
                    buf += d
                    while b"\r\n" in buf:
                        line, buf = buf.split(b"\r\n", 1)
                        if line.upper().startswith(b"EHLO"):
                            c.sendall(b"250-raw.example\r\n250-AUTH PLAIN "
                                      b"LOGIN\r\n%s250 8BITMIME\r\n" % (
                                          b"250-STARTTLS\r\n" if
                                          self.starttls_reply else b""))
                        elif line.upper() == b"STARTTLS" and \
                                self.starttls_reply:
                            c.sendall(self.starttls_reply)
                        elif line.upper().startswith(b"QUIT"):
                            c.sendall(b"221 bye\r\n")
                        else:
                            c.sendall(b"250 ok\r\n")
            except OSError:
                pass
            finally:
                c.close()

    def stop(self):
        self.stopping = True
        self.t.join(5)
        self.lsock.close()


class InjectingSmarthost:
    """STARTTLS smarthost that sends "421 injected" right behind its 220
    to STARTTLS, in the same write, then does TLS and accepts mail."""

    def __init__(self):
        self.port = free_port()
        self.got = b""
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(4)
        self.lsock.settimeout(20)
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        c.settimeout(10)
        f = c.makefile("rb")
        try:
            c.sendall(b"220 inj.example ESMTP\r\n")
            f.readline()					# EHLO
            c.sendall(b"250-inj.example\r\n250 STARTTLS\r\n")
            f.readline()					# STARTTLS
            c.sendall(b"220 go ahead\r\n421 4.7.0 injected\r\n")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki().path("good.chain"),
                                pki().key("good"))
            t = ctx.wrap_socket(c, server_side=True)
            tf = t.makefile("rb")
            for _ in range(200):
                line = tf.readline()
                if not line:
                    break
                cmd = line[:4].upper()
                if cmd == b"EHLO":
                    t.sendall(b"250 inj.example\r\n")
                elif cmd == b"DATA":
                    t.sendall(b"354 go\r\n")
                    for _ in range(10000):
                        l = tf.readline()
                        if not l or l == b".\r\n":
                            break
                        self.got += l
                    t.sendall(b"250 2.0.0 stored\r\n")
                elif cmd == b"QUIT":
                    t.sendall(b"221 bye\r\n")
                    break
                else:
                    t.sendall(b"250 ok\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()

    def stop(self):
        self.lsock.close()
        self.t.join(5)


class TlsClientTest(RelayTest):
    def relay_to(self, port, extra="", secrets=True, sub="r"):
        if "smtp_tls_security_level" not in extra:
            # on loopback the default would be "may"
            extra += "smtp_tls_security_level = verify\n"
        conf = ("relayhost = [127.0.0.1]:%d\n"
                "smtp_tls_CAfile = %s\n"
                "minimal_backoff_time = 1s\n"
                "maximal_backoff_time = 2s\n" % (port,
                                                 pki().path("ca.crt")))
        if secrets:
            f = os.path.join(self.tmp, "sasl")
            with open(f, "w") as fh:
                fh.write("%s:%s\n" % (USER, PASSWORD))
            os.chmod(f, 0o600)
            conf += "smtp_sasl_password_file = %s\n" % f
        # helpers.Relay writes "relayhost =" first; ours comes later
        return self.relay(sub=sub, conf_extra=conf + extra)

    def smarthost(self, *a, **kw):
        h = TlsSmarthost(*a, **kw)
        self.addCleanup(h.stop)
        return h

    def assert_delivered(self, r, h, token):
        ok = wait_until(lambda: any(token.encode() in m[2]
                                    for m in h.handler.messages), 30)
        self.assertTrue(ok, r.log_tail())
        m = [m for m in h.handler.messages if token.encode() in m[2]][0]
        self.assertTrue(m[3], "not over TLS")
        self.assertTrue(m[4], "not authenticated")

    def assert_deferred(self, r, h, what):
        ok = wait_until(lambda: what in r.log_text(), 30)
        self.assertTrue(ok, "no %r in the log:\n%s" % (what, r.log_tail()))
        self.assertEqual(h.handler.messages, [])
        self.assertEqual(h.handler.auth, [])	# no credentials sent
        self.assertEqual(len(r.queue_ids()), 1)	# still queued

    def test_ca_verified_delivery(self):
        h = self.smarthost("good")
        r = self.relay_to(h.port)
        self.send_token(r, "tok-good")
        self.assert_delivered(r, h, "tok-good")
        self.assertEqual(h.handler.auth[0][2], True)
        self.assertIn("TLS connection established", r.log_text())
        self.assertTrue(wait_until(lambda: r.queue_ids() == [], 20))

    def test_large_message_over_tls(self):
        h = self.smarthost("good")
        r = self.relay_to(h.port)
        body = b"".join(b"line %06d %s\r\n" % (i, b"x" * 70)
                        for i in range(6000))	# about 500 KB
        with Smtp(r.port) as c:
            c.ehlo()
            c.send_message("a@lan.example", ["b@example.com"],
                           b"Subject: big\r\n\r\n" + body)
        ok = wait_until(lambda: h.handler.messages, 60)
        self.assertTrue(ok, r.log_tail())
        got = h.handler.messages[0][2].replace(b"\r\n", b"\n")
        self.assertTrue(got.endswith(body.replace(b"\r\n", b"\n")))

    def test_implicit_tls(self):
        h = self.smarthost("good", implicit=True)
        r = self.relay_to(h.port, "smtp_tls_wrapper = yes\n")
        self.send_token(r, "tok-wrapper")
        self.assert_delivered(r, h, "tok-wrapper")

    def test_bad_certificates_deferred(self):
        for name, why in (("wrongname", "does not list the relay's IP"),
                          ("expired", "expired"),
                          ("selfsigned", "not trusted"),
                          ("unknownca", "not trusted")):
            with self.subTest(cert=name):
                h = self.smarthost(name)
                r = self.relay_to(h.port, sub=name)
                self.send_token(r, "tok-" + name)
                self.assert_deferred(r, h, why)
                # the log names the presented certificate so it can be
                # pinned
                self.assertIn(pki().fingerprint(name), r.log_text())
                self.assertIn("subject CN=", r.log_text())
                r.close()

    def test_pinned_self_signed(self):
        h = self.smarthost("selfsigned")
        r = self.relay_to(h.port, "smtp_tls_fingerprint = %s\n"
                          % pki().fingerprint("selfsigned"))
        self.send_token(r, "tok-pinned")
        self.assert_delivered(r, h, "tok-pinned")

    def test_encrypt_does_not_verify(self):
        h = self.smarthost("selfsigned")
        r = self.relay_to(h.port, "smtp_tls_security_level = encrypt\n")
        self.send_token(r, "tok-encrypt")
        self.assert_delivered(r, h, "tok-encrypt")

    def test_loopback_default_is_may(self):
        h = self.smarthost("selfsigned")
        r = self.relay_to(h.port, "smtp_tls_security_level =\n")
        self.send_token(r, "tok-may")
        self.assert_delivered(r, h, "tok-may")

    def test_wrong_pin_deferred(self):
        h = self.smarthost("good")
        r = self.relay_to(h.port, "smtp_tls_fingerprint = %s\n"
                          % pki().fingerprint("selfsigned"))
        self.send_token(r, "tok-wrongpin")
        self.assert_deferred(r, h, "does not match smtp_tls_fingerprint")

    def test_auth_refused_deferred(self):
        h = self.smarthost("good", auth_ok=False)
        r = self.relay_to(h.port)
        self.send_token(r, "tok-535")
        ok = wait_until(lambda: "SMTP AUTH failed: 535" in r.log_text(), 30)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(h.handler.messages, [])
        self.assertEqual(len(r.queue_ids()), 1)

    def test_plaintext_before_handshake_discarded(self):
        h = InjectingSmarthost()
        self.addCleanup(h.stop)
        r = self.relay_to(h.port, secrets=False)
        self.send_token(r, "tok-inject")
        ok = wait_until(lambda: b"tok-inject" in h.got, 30)
        self.assertTrue(ok, r.log_tail())
        self.assertNotIn("injected", r.log_text())

    def test_no_starttls_no_credentials(self):
        h = RawSmarthost()
        self.addCleanup(h.stop)
        r = self.relay_to(h.port)
        self.send_token(r, "tok-raw")
        ok = wait_until(lambda: "STARTTLS not offered" in r.log_text(), 30)
        self.assertTrue(ok, r.log_tail())
        self.assertIn(b"EHLO", h.capture)
        self.assertNotIn(b"AUTH", h.capture)
        self.assertNotIn(b"MAIL", h.capture)
        self.assertEqual(len(r.queue_ids()), 1)

    def faketime_relay(self, port, extra=""):
        """A relay whose wall clock says 2001 (libfaketime preloaded;
        the monotonic clock is left alone)."""
        lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
        if not os.path.exists(lib):
            self.skipTest("libfaketime not installed")
        env = {"LD_PRELOAD": lib, "FAKETIME": "@2001-01-01 00:00:00",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               "FAKETIME_NO_CACHE": "1",
               # an ASan build tolerates the preload
               "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                                ":verify_asan_link_order=0").lstrip(":")}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return self.relay_to(port, extra)
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    def test_starttls_refused_no_credentials(self):
        h = RawSmarthost(b"454 4.7.0 TLS not available\r\n")
        self.addCleanup(h.stop)
        r = self.relay_to(h.port)
        self.send_token(r, "tok-refused")
        ok = wait_until(lambda: "STARTTLS refused: 454" in r.log_text(), 30)
        self.assertTrue(ok, r.log_tail())
        self.assertIn(b"STARTTLS", h.capture)
        self.assertNotIn(b"AUTH", h.capture)
        self.assertNotIn(b"MAIL", h.capture)
        self.assertEqual(len(r.queue_ids()), 1)

    def test_clock_unset_ca_defers(self):
        h = self.smarthost("good")
        r = self.faketime_relay(h.port)
        self.send_token(r, "tok-clock")
        self.assert_deferred(r, h, "clock not set")

    def test_clock_unset_pinned_works(self):
        h = self.smarthost("selfsigned")
        r = self.faketime_relay(h.port, "smtp_tls_fingerprint = %s\n"
                                % pki().fingerprint("selfsigned"))
        self.send_token(r, "tok-clock-pin")
        self.assert_delivered(r, h, "tok-clock-pin")

if __name__ == "__main__":
    unittest.main()
