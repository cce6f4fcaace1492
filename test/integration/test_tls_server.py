"""TLS and AUTH on the listeners (issue 5), against real clients.

openssl s_client, swaks and Python's ssl module talk to submission (587
style, STARTTLS + AUTH) and smtps (465 style, implicit TLS) listeners on
127.0.0.1 high ports, with a throwaway PKI (tlspki.py). testssl runs as a
slow test; the default run probes old protocols and weak suites with
openssl s_client instead.
"""
import base64
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

import helpers
from helpers import RelayTest, free_port, slow, wait_until
from tlspki import Pki

_PKI_DIR = tempfile.mkdtemp(prefix="edgemta-pki-")
PKI = None


def pki():
    global PKI
    if PKI is None:
        PKI = Pki(_PKI_DIR)
    return PKI


def tearDownModule():
    shutil.rmtree(_PKI_DIR, True)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Client:
    """A line-oriented SMTP client that can switch to TLS."""

    def __init__(self, port, tls=False, cafile=None, timeout=15):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.cafile = cafile
        self.buf = b""
        if tls:
            self.starttls_wrap()

    def starttls_wrap(self):
        ctx = ssl.create_default_context(cafile=self.cafile or
                                         pki().path("ca.crt"))
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else
                          data.encode())

    def reply(self):
        """(code, [lines]) of one complete reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                d = self.sock.recv(4096)
                if not d:
                    raise EOFError("closed; got %r" % lines)
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("latin-1"))
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class TlsRelayTest(RelayTest):
    USER, PASSWORD = "alice", "s3cret pass"

    def start(self, extra="", cert="good", users=True):
        self.p587 = free_port()
        self.p465 = free_port()
        self.users = os.path.join(self.tmp, "users")
        conf = ("listen = 127.0.0.1:%d submission\n"
                "listen = 127.0.0.1:%d smtps\n"
                "smtpd_tls_cert_file = %s\n"
                "smtpd_tls_key_file = %s\n"
                % (self.p587, self.p465, pki().path(cert + ".chain"),
                   pki().key(cert)))
        if users:
            conf += "smtpd_users_file = %s\n" % self.users
        # mynetworks excludes 127.0.0.1: relaying needs AUTH
        r = self.relay(conf_extra=conf + extra, start=False,
                       mynetworks="10.9.9.0/24")
        if users:
            p = r.cli("passwd", self.USER, input=self.PASSWORD + "\n")
            self.assertEqual(p.returncode, 0, p.stderr)
        r.start()
        # all listeners, not only the smtp one Relay waits for
        self.assertTrue(wait_until(lambda: helpers._listening(self.p587)
                                   and helpers._listening(self.p465), 20))
        self.r = r
        return r

    def auth_plain(self, c):
        return c.cmd("AUTH PLAIN " + b64("\0%s\0%s" % (self.USER,
                                                       self.PASSWORD)))


class TestSubmission(TlsRelayTest):
    def test_openssl_starttls_587(self):
        self.start()
        p = subprocess.run(
            ["openssl", "s_client", "-starttls", "smtp", "-connect",
             "127.0.0.1:%d" % self.p587, "-CAfile", pki().path("ca.crt"),
             "-verify_hostname", "localhost", "-verify_return_error",
             "-servername", "localhost", "-brief", "-crlf", "-ign_eof"],
            input="EHLO probe.example\nQUIT\n", stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("Protocol version: TLSv1.2", p.stdout)
        self.assertIn("Verification: OK", p.stdout)
        self.assertIn("250-AUTH PLAIN LOGIN", p.stdout)
        self.assertNotIn("STARTTLS", p.stdout.split("250-test.example")[-1])

    def test_key_exchange_groups(self):
        """Each ECDHE group a client may insist on (X25519 and the NIST
        curves go through different BearSSL code) completes a handshake
        and answers EHLO (an RSA certificate: OpenSSL wants the curve of
        an ECDSA one among the groups it offers)."""
        self.start(cert="rsa")
        for group, shown in (("X25519", "X25519"), ("P-256", "prime256v1"),
                             ("P-384", "secp384r1"), ("P-521", "secp521r1")):
            p = subprocess.run(
                ["openssl", "s_client", "-starttls", "smtp", "-connect",
                 "127.0.0.1:%d" % self.p587, "-CAfile", pki().path("ca.crt"),
                 "-verify_return_error", "-servername", "localhost",
                 "-groups", group, "-brief", "-crlf", "-ign_eof"],
                input="EHLO probe.example\nQUIT\n", stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, group + ": " + p.stdout)
            self.assertRegex(p.stdout, r"Server Temp Key: .*%s" % shown)
            self.assertIn("250-AUTH PLAIN LOGIN", p.stdout)

    def test_swaks_plain_587_and_login_465(self):
        r = self.start()
        for mode, port, mech in (("--tls", self.p587, "PLAIN"),
                                 ("--tls-on-connect", self.p465, "LOGIN")):
            p = subprocess.run(
                ["swaks", "--server", "127.0.0.1:%d" % port, mode,
                 "--auth", mech, "--auth-user", self.USER,
                 "--auth-password", self.PASSWORD, "--from",
                 "dev@lan.example", "--to", "bob@example.com",
                 "--timeout", "20"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + r.log_tail())
            self.assertIn("235 2.7.0", p.stdout)
            m = re.search(r"queued as ([0-9A-F]{8})", p.stdout)
            self.assertTrue(m, p.stdout)
            stored = r.queue_show(m.group(1))
            hdr = stored.split(b"\r\n\r\n")[0]
            self.assertIn(b"(using TLSv1.2 with cipher ECDHE-", hdr)
            self.assertIn(b"(Authenticated sender: alice)", hdr)
            self.assertIn(b"with ESMTPSA id", hdr)

    def test_submission_needs_tls_then_auth(self):
        self.start()
        c = Client(self.p587)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("EHLO x.example")
        self.assertIn("250-STARTTLS", lines)
        self.assertFalse(any("AUTH" in l for l in lines), lines)
        self.assertEqual(c.cmd("AUTH PLAIN " + b64("\0a\0b"))[0], 538)
        code, lines = c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(lines, ["530 5.7.0 Must issue a STARTTLS "
                                 "command first"])
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls_wrap()
        code, lines = c.cmd("EHLO x.example")
        self.assertEqual(code, 250)
        self.assertIn("250-AUTH PLAIN LOGIN", lines)
        self.assertNotIn("250-STARTTLS", lines)
        code, lines = c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(lines, ["530 5.7.0 Authentication required"])
        self.assertEqual(self.auth_plain(c)[0], 235)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 250)
        # authenticated: relays although 127.0.0.1 is not in mynetworks
        self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.example>")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_smtps_relay_denied_without_auth_on_smtp_port(self):
        r = self.start()
        c = Client(r.port)		# the plain smtp listener
        c.reply()
        code, lines = c.cmd("EHLO x.example")
        self.assertIn("250-STARTTLS", lines)	# a cert is configured
        c.cmd("MAIL FROM:<a@b.example>")
        self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.example>")[0], 554)
        c.close()

    def test_starttls_injection(self):
        r = self.start()
        c = Client(self.p587)
        c.reply()
        c.cmd("EHLO x.example")
        c.send(b"STARTTLS\r\nRSET\r\n")		# one write
        code, lines = c.reply()
        self.assertEqual(code, 220)
        c.starttls_wrap()
        # the first reply inside TLS answers our EHLO, not the RSET
        code, lines = c.cmd("EHLO y.example")
        self.assertEqual(lines[0], "250-test.example", lines)
        # state was reset: a second STARTTLS inside TLS is refused
        code, lines = c.cmd("STARTTLS")
        self.assertIn(code, (503, 554), lines)
        c.cmd("QUIT")
        c.close()
        self.assertTrue(wait_until(lambda: "disconnect from" in
                                   r.log_text(), 10))
        disc = [l for l in r.log_text().splitlines()
                if "disconnect from" in l][-1]
        self.assertNotIn("rset", disc)

    def test_starttls_resets_state(self):
        self.start()
        c = Client(self.p587)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls_wrap()
        # a new EHLO is required after the handshake
        self.assertEqual(c.cmd("MAIL FROM:<a@b.example>")[0], 503)
        c.close()

    def test_wrong_password_counted_and_blocked(self):
        r = self.start()
        c = Client(self.p465, tls=True)
        c.reply()
        c.cmd("EHLO x.example")
        codes = []
        for i in range(8):
            try:
                code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0wrong%d"
                                                        % i))
            except (EOFError, OSError):
                break
            codes.append(code)
            if code == 421:
                break
        self.assertEqual(codes, [535, 535, 535, 535, 421], codes)
        c.close()
        log = r.log_text()
        for n in range(1, 6):
            self.assertIn("(failure %d of 5)" % n, log)
        # blocked for a while, even with the right password
        c = Client(self.p465, tls=True)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(self.auth_plain(c)[0], 421)
        c.close()

    def test_auth_login_and_cancel(self):
        self.start()
        c = Client(self.p465, tls=True)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(c.cmd("AUTH LOGIN"), (334, ["334 VXNlcm5hbWU6"]))
        self.assertEqual(c.cmd("*")[0], 501)
        self.assertEqual(c.cmd("AUTH LOGIN " + b64(self.USER)),
                         (334, ["334 UGFzc3dvcmQ6"]))
        self.assertEqual(c.cmd(b64(self.PASSWORD))[0], 235)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 503)
        c.close()

    def test_large_message_smtps(self):
        r = self.start()
        body = b"".join(b"line %06d %s\r\n" % (i, b"y" * 70)
                        for i in range(6000))	# about 500 KB
        c = Client(self.p465, tls=True)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(self.auth_plain(c)[0], 235)
        c.cmd("MAIL FROM:<a@b.example>")
        c.cmd("RCPT TO:<x@elsewhere.example>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        qid = lines[0].split()[-1]
        self.assert_stored(r, qid, body)
        c.close()

    def test_rsa_certificate(self):
        self.start(cert="rsa")
        c = Client(self.p465, tls=True)
        self.assertEqual(c.reply()[0], 220)
        self.assertIn("ECDHE-RSA", c.sock.cipher()[0])
        c.close()

    def test_passwd_file(self):
        r = self.start()
        st = os.stat(self.users)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        line = open(self.users).read().strip()
        user, rest = line.split(":", 1)
        _, salt, it, h = rest.split("$")
        import hashlib
        self.assertEqual(user, self.USER)
        self.assertEqual(hashlib.pbkdf2_hmac(
            "sha256", self.PASSWORD.encode(), bytes.fromhex(salt),
            int(it)).hex(), h)
        # changing the password takes effect without a restart
        p = r.cli("passwd", self.USER, input="new one\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(open(self.users).read().splitlines()), 1)
        c = Client(self.p465, tls=True)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(c.cmd("AUTH PLAIN " + b64("\0alice\0new one"))[0],
                         235)
        c.close()


class TestHandshakeLimits(TlsRelayTest):
    INBOUND = 6		# CONFIG_TLS_MAX_SESSIONS 8 minus a quarter

    def test_pool_cap(self):
        r = self.start()
        idle = []
        for i in range(self.INBOUND):	# hold handshakes open
            idle.append(socket.create_connection(("127.0.0.1",
                                                  self.p465), 10))
        self.assertTrue(wait_until(lambda: r.log_text().count(
            "(smtps)") >= self.INBOUND, 10), r.log_tail())
        # over the cap: smtps is dropped, STARTTLS answered 454
        with self.assertRaises((ssl.SSLError, OSError, EOFError)):
            c = Client(self.p465, tls=True)
            c.reply()
        self.assertTrue(wait_until(lambda: "no TLS session free" in
                                   r.log_text(), 10), r.log_tail())
        c = Client(self.p587)
        c.reply()
        c.cmd("EHLO x.example")
        self.assertEqual(c.cmd("STARTTLS")[0], 454)
        c.close()
        for s in idle:
            s.close()
        # slots come back
        ok = False
        for _ in range(50):
            try:
                c = Client(self.p465, tls=True)
                ok = c.reply()[0] == 220
                c.close()
                break
            except (ssl.SSLError, OSError, EOFError):
                wait_until(lambda: False, 0.1)
        self.assertTrue(ok, r.log_tail())

    def test_starttls_burst_gets_454_not_a_reset(self):
        """More clients than TLS slots send STARTTLS at once: each gets a
        220 and a working TLS session, or a 454 and stays in plain text;
        nobody is cut off after a 220 (RFC 3207 4)."""
        r = self.start()
        cs = []
        for _ in range(self.INBOUND + 4):
            c = Client(self.p587)
            c.reply()
            c.cmd("EHLO x.example")
            cs.append(c)
        for c in cs:		# one burst, before reading any reply
            c.send("STARTTLS\r\n")
        codes = [c.reply()[0] for c in cs]
        self.assertEqual(codes.count(220), self.INBOUND, codes)
        self.assertEqual(codes.count(454), 4, codes)
        for c, code in zip(cs, codes):
            if code == 220:
                c.starttls_wrap()
                self.assertEqual(c.cmd("EHLO x.example")[0], 250)
            else:
                self.assertEqual(c.cmd("NOOP")[0], 250)
            c.close()
        self.assertNotIn("no TLS session free", r.log_text())

    @slow
    def test_handshake_timeout(self):
        r = self.start()
        s = socket.create_connection(("127.0.0.1", self.p465), 10)
        s.settimeout(60)		# CONFIG_TLS_HANDSHAKE_TIMEOUT is 30 s
        self.assertEqual(s.recv(100), b"")
        s.close()
        self.assertIn("TLS handshake timeout", r.log_text())


class TestTlsPolicy(TlsRelayTest):
    def probe(self, *args):
        return subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.p465,
             "-brief"] + list(args), input="", stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=30)

    def test_no_old_protocols_or_weak_suites(self):
        self.start(cert="rsa")
        ok = self.probe("-tls1_2")
        self.assertEqual(ok.returncode, 0, ok.stdout)
        for bad in (["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                    ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                    ["-tls1_3"],
                    ["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
                    ["-tls1_2", "-cipher", "AES128-SHA:AES256-SHA"],
                    ["-tls1_2", "-cipher",
                     "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384"],
                    ["-tls1_2", "-cipher", "DES-CBC3-SHA:@SECLEVEL=0"]):
            p = self.probe(*bad)
            self.assertNotEqual(p.returncode, 0, "%s accepted:\n%s"
                                % (bad, p.stdout))

    def test_bad_files_are_startup_errors(self):
        r = self.relay(conf_extra="smtpd_tls_cert_file = %s\n"
                       % os.path.join(self.tmp, "missing.pem"), start=False)
        p = r.cli("check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing.pem", p.stderr)
        bad = os.path.join(self.tmp, "bad.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        r = self.relay(sub="r2", conf_extra="smtpd_tls_cert_file = %s\n"
                       % bad, start=False)
        p = r.cli("check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bad.pem", p.stderr)
        # key of another certificate type
        r = self.relay(sub="r3", conf_extra="smtpd_tls_cert_file = %s\n"
                       "smtpd_tls_key_file = %s\n" % (
                           pki().cert("good"), pki().key("rsa")),
                       start=False)
        p = r.cli("check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rsa.key", p.stderr)

    @slow
    def test_testssl(self):
        if not shutil.which("testssl"):
            self.skipTest("testssl not installed")
        self.start(cert="rsa")
        for args in (["--starttls", "smtp", "127.0.0.1:%d" % self.p587],
                     ["127.0.0.1:%d" % self.p465]):
            p = subprocess.run(
                ["testssl", "--quiet", "--color", "0", "--warnings", "off",
                 "-p", "-s"] + args, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=600)
            out = p.stdout
            for proto in ("SSLv2", "SSLv3", "TLS 1 ", "TLS 1.1"):
                line = [l for l in out.splitlines()
                        if l.strip().startswith(proto)]
                self.assertTrue(line, out)
                self.assertIn("not offered", line[0], out)
            for weak in ("NULL ciphers", "Export ciphers",
                         "Triple DES Ciphers"):
                line = [l for l in out.splitlines() if weak in l]
                if line:
                    self.assertIn("not offered", line[0], out)


if __name__ == "__main__":
    unittest.main()
