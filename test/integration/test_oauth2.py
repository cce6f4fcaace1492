"""OAuth2 towards the smarthost (issue 15, part 2), against real peers.

A local HTTPS token endpoint (http.server behind an ssl context with a
certificate of the throwaway test CA, tlspki.py) issues access tokens
for the RFC 6749 refresh-token grant, rotates refresh tokens, and can
answer invalid_grant, 500, bad JSON, or hold a reply; it also plays
the RFC 8628 device authorisation grant. An aiosmtpd smarthost with
STARTTLS accepts AUTH XOAUTH2 / OAUTHBEARER only with the access token
the endpoint issued last and that has not expired (535 otherwise, after
the provider-style JSON error challenge).
"""
import base64
import http.server
import json
import os
import socket
import ssl
import stat
import threading
import time
import urllib.parse
import warnings

from helpers import RelayTest, free_port, slow, wait_until
import tlspki

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

# aiosmtpd 1.4 warns on every successful AUTH of a handler mechanism
warnings.filterwarnings("ignore", "Session.login_data")

MAILBOX = "alerts@example.com"
CLIENT = "edgemta-test-client"
pki = tlspki.shared


class Tokens:
    """The authorisation server's state, shared with the smarthost."""

    def __init__(self, refresh="rt-0"):
        self.lock = threading.Lock()
        self.refresh = refresh      # the valid refresh token
        self.rotate = False
        self.expires_in = 3600
        self.mode = "ok"            # ok | invalid_grant | 500 | badjson
        self.n = 0
        self.current = None         # (access token, monotonic expiry)
        self.requests = []          # form dicts of token requests
        self.hold = None            # Event: hold the reply until set
        self.held = threading.Event()
        self.long_tokens = False
        self.device_script = []     # token replies for device polls
        self.device_polls = []      # monotonic time of each poll

    def token_reply(self, form):
        with self.lock:
            self.requests.append(form)
            if self.mode == "500":
                return 500, {"error": "server_error"}
            if self.mode == "badjson":
                return 200, '{"access_token": "x", "expires_in": 3600'
            if (self.mode == "invalid_grant" or
                    form.get("refresh_token") != self.refresh or
                    form.get("client_id") != CLIENT):
                return 400, {"error": "invalid_grant",
                             "error_description": "AADSTS70000: the "
                             "grant is expired or revoked"}
            self.n += 1
            tok = "at-%d" % self.n
            if self.long_tokens:
                tok += "." + "x" * 3000     # JWT-sized (Microsoft)
            self.current = (tok, time.monotonic() + self.expires_in)
            reply = {"token_type": "Bearer", "access_token": tok,
                     "expires_in": self.expires_in,
                     "scope": "https://outlook.office.com/SMTP.Send"}
            if self.rotate:
                self.refresh = "rt-%d" % self.n
                reply["refresh_token"] = self.refresh
            return 200, reply

    def valid(self, tok):
        with self.lock:
            return (self.current is not None and tok == self.current[0]
                    and time.monotonic() < self.current[1])


class TokenServer:
    """HTTPS on 127.0.0.1:port with certificate NAME of the test PKI."""

    def __init__(self, tokens, name="good", port=None):
        self.tokens = tokens
        self.port = port or free_port()
        toks = tokens

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = (obj if isinstance(obj, str)
                        else json.dumps(obj)).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n).decode()
                form = dict(urllib.parse.parse_qsl(raw))
                if self.path == "/device":
                    return self.reply(200, {
                        "device_code": "dev-code-1", "user_code": "ABCD-EFGH",
                        "verification_uri": "https://example.com/devicelogin",
                        "expires_in": 60, "interval": 1})
                gt = form.get("grant_type")
                if gt == "urn:ietf:params:oauth:grant-type:device_code":
                    toks.device_polls.append(time.monotonic())
                    step = (toks.device_script.pop(0)
                            if toks.device_script else "ok")
                    if step != "ok":
                        return self.reply(400, {"error": step})
                    if form.get("device_code") != "dev-code-1":
                        return self.reply(400, {"error": "invalid_grant"})
                    return self.reply(200, {"access_token": "at-dev",
                                            "refresh_token": "rt-device",
                                            "expires_in": 3600})
                if gt != "refresh_token":
                    return self.reply(400, {"error":
                                            "unsupported_grant_type"})
                if toks.hold is not None:
                    toks.held.set()
                    toks.hold.wait(30)
                code, obj = toks.token_reply(form)
                self.reply(code, obj)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     H)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        chain = pki().path(name + ".chain")
        ctx.load_cert_chain(chain if os.path.exists(chain)
                            else pki().cert(name), pki().key(name))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.t = threading.Thread(target=self.httpd.serve_forever,
                                  kwargs={"poll_interval": 0.1}, daemon=True)
        self.t.start()

    def stop(self):
        if self.tokens.hold is not None:
            self.tokens.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.t.join(5)


class Handler:
    def __init__(self, tokens, reject_all=False):
        self.tokens = tokens
        self.reject_all = reject_all
        self.auth = []          # (mechanism, user, token, accepted)
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.content, session.authenticated))
        return "250 2.0.0 Ok: stored"

    async def _bearer(self, server, args, mech):
        if len(args) == 2:
            blob = base64.b64decode(args[1], validate=True)
        else:
            blob = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x01")
        if mech == "XOAUTH2":
            user = parts[0][5:] if parts[0].startswith(b"user=") else None
        else:
            gs2 = parts[0].split(b",")
            user = gs2[1][2:] if len(gs2) > 2 and gs2[0] == b"n" else None
        auth = [p[len(b"auth=Bearer "):] for p in parts
                if p.startswith(b"auth=Bearer ")]
        ok_form = parts[-2:] == [b"", b""] and len(auth) == 1
        tok = auth[0].decode() if auth else ""
        ok = (ok_form and user == MAILBOX.encode() and
              not self.reject_all and self.tokens.valid(tok))
        self.auth.append((mech, user, tok, ok))
        if ok:
            return AuthResult(success=True)
        # the providers' error challenge, then 535
        await server.challenge_auth(json.dumps(
            {"status": "401", "schemes": "Bearer",
             "scope": "https://mail.google.com/"}))
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not "
                          "accepted")

    async def auth_XOAUTH2(self, server, args):
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self._bearer(server, args, "OAUTHBEARER")


class BigLineSMTP(SMTP):
    # a 3 KB token makes a 4 KB base64 line after the 334 (RFC 4954
    # allows 12288 octets)
    line_length_limit = 16384


class Ctl(Controller):
    def factory(self):
        return BigLineSMTP(self.handler, **self.SMTP_kwargs)


class Smarthost:
    def __init__(self, tokens, reject_all=False):
        self.handler = Handler(tokens, reject_all)
        self.port = free_port()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki().path("good.chain"), pki().key("good"))
        self.ctl = Ctl(self.handler, hostname="127.0.0.1", port=self.port,
                       tls_context=ctx, require_starttls=True,
                       auth_require_tls=True, auth_required=True)
        self.ctl.start()

    def stop(self):
        self.ctl.stop()


class NameServer:
    """python3-dnslib on 127.0.0.1 (UDP): A for NAME is ADDRS in that
    order, nothing else exists."""

    def __init__(self, name, addrs):
        import dnslib
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False

        def serve():
            for _ in range(1500):       # bounded: 300 s at most
                if self.stopping:
                    return
                try:
                    data, peer = self.sock.recvfrom(4096)
                except socket.timeout:
                    continue
                q = dnslib.DNSRecord.parse(data)
                a = q.reply()
                if (str(q.q.qname).rstrip(".") == name and
                        q.q.qtype == dnslib.QTYPE.A):
                    for ip in addrs:
                        a.add_answer(dnslib.RR(q.q.qname, dnslib.QTYPE.A,
                                               rdata=dnslib.A(ip), ttl=60))
                elif str(q.q.qname).rstrip(".") != name:
                    a.header.rcode = dnslib.RCODE.NXDOMAIN
                self.sock.sendto(a.pack(), peer)
        self.t = threading.Thread(target=serve, daemon=True)
        self.t.start()

    def stop(self):
        self.stopping = True
        self.t.join(5)
        self.sock.close()


class OAuth2Test(RelayTest):
    def setUp(self):
        super().setUp()
        self.tokens = Tokens()

    def token_server(self, name="good", port=None):
        s = TokenServer(self.tokens, name, port)
        self.addCleanup(s.stop)
        return s

    def smarthost(self, **kw):
        h = Smarthost(self.tokens, **kw)
        self.addCleanup(h.stop)
        return h

    def rt_file(self, content="rt-0\n", mode=0o600):
        f = os.path.join(self.tmp, "oauth2-refresh-token")
        with open(f, "w") as fh:
            fh.write(content)
        os.chmod(f, mode)
        return f

    def conf(self, h_port, t_port, mech="xoauth2", level="verify",
             extra=""):
        c = ("relayhost = [127.0.0.1]:%d\n"
             "smtp_tls_CAfile = %s\n"
             "minimal_backoff_time = 1s\n"
             "maximal_backoff_time = 2s\n"
             "smtp_sasl_username = %s\n"
             "smtp_sasl_mechanism = %s\n"
             "smtp_oauth2_token_url = https://127.0.0.1:%d/token\n"
             "smtp_oauth2_device_url = https://127.0.0.1:%d/device\n"
             "smtp_oauth2_scope = https://outlook.office.com/SMTP.Send "
             "offline_access\n"
             "smtp_oauth2_client_id = %s\n"
             "smtp_oauth2_refresh_token_file = %s\n"
             % (h_port, pki().path("ca.crt"), MAILBOX, mech, t_port,
                t_port, CLIENT, os.path.join(self.tmp,
                                             "oauth2-refresh-token")))
        if level:
            c += "smtp_tls_security_level = %s\n" % level
        return c + extra

    def relay_for(self, h, t, **kw):
        if not os.path.exists(os.path.join(self.tmp,
                                           "oauth2-refresh-token")):
            self.rt_file()
        return self.relay(conf_extra=self.conf(h.port, t.port, **kw))

    def delivered(self, r, h, token, timeout=30):
        ok = wait_until(lambda: any(token.encode() in m[0]
                                    for m in h.handler.messages), timeout)
        self.assertTrue(ok, "%s not delivered:\n%s" % (token, r.log_tail()))

    def wait_log(self, r, what, timeout=30):
        ok = wait_until(lambda: what in r.log_text(), timeout)
        self.assertTrue(ok, "no %r in the log:\n%s" % (what, r.log_tail()))

    def new_connection(self):
        # the relay keeps an idle connection 2 s for more mail, then
        # says QUIT: wait past that, so the next message connects (and
        # AUTHs) again
        time.sleep(3)

    # ---- the refresh-token grant ----

    @slow
    def test_first_token_then_reuse(self):
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-one")
        self.delivered(r, h, "msg-one")
        self.assertEqual(len(self.tokens.requests), 1)
        form = self.tokens.requests[0]
        self.assertEqual(form["grant_type"], "refresh_token")
        self.assertEqual(form["refresh_token"], "rt-0")
        self.assertEqual(form["client_id"], CLIENT)
        self.assertNotIn("client_secret", form)
        self.assertEqual(h.handler.auth, [("XOAUTH2", MAILBOX.encode(),
                                           "at-1", True)])
        # a new connection later: the cached token, no new request
        self.new_connection()
        self.send_token(r, "msg-two")
        self.delivered(r, h, "msg-two")
        self.assertEqual(len(self.tokens.requests), 1)
        self.assertEqual([a[2] for a in h.handler.auth], ["at-1", "at-1"])
        self.assertTrue(wait_until(lambda: r.queue_ids() == [], 20))

    def test_oauthbearer_secret_and_default_level(self):
        # loopback relay without a level: "may" for the relay, but the
        # token URL is still verified against the CA bundle
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t, mech="oauthbearer", level="",
                           extra="smtp_oauth2_client_secret = s3cr&t\n")
        self.send_token(r, "msg-bearer")
        self.delivered(r, h, "msg-bearer")
        self.assertEqual(self.tokens.requests[0]["client_secret"], "s3cr&t")
        self.assertEqual(h.handler.auth[0][0], "OAUTHBEARER")
        self.assertTrue(h.handler.auth[0][3])
        self.assertNotIn("s3cr", r.cli("config").stdout)

    @slow
    def test_expiry_refresh_and_rotation(self):
        self.tokens.expires_in = 1
        self.tokens.rotate = True
        t = self.token_server()
        h = self.smarthost()
        rt = self.rt_file()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-a")
        self.delivered(r, h, "msg-a")
        # rotated: the file has the new token, still 0600
        self.assertTrue(wait_until(lambda: open(rt).read() == "rt-1\n", 10),
                        open(rt).read())
        self.assertEqual(stat.S_IMODE(os.stat(rt).st_mode), 0o600)
        self.assertFalse(os.path.exists(rt + ".tmp"))
        self.new_connection()
        self.send_token(r, "msg-b")
        self.delivered(r, h, "msg-b")
        # the expired token was not offered again: a new one, fetched
        # with the rotated refresh token
        self.assertEqual([f["refresh_token"] for f in self.tokens.requests],
                         ["rt-0", "rt-1"])
        self.assertEqual([a[2] for a in h.handler.auth], ["at-1", "at-2"])
        self.assertTrue(all(a[3] for a in h.handler.auth))
        self.assertEqual(open(rt).read(), "rt-2\n")
        # a restart reads the rotated token from the file
        r.restart()
        self.new_connection()
        self.send_token(r, "msg-c")
        self.delivered(r, h, "msg-c")
        self.assertEqual(self.tokens.requests[-1]["refresh_token"], "rt-2")

    def test_token_url_by_name(self):
        # looked up with udns (dns_servers), the certificate checked
        # against the name; the first address refuses the connection,
        # the next one is tried
        t = self.token_server()
        h = self.smarthost()
        ns = NameServer("localhost", ["127.0.0.2", "127.0.0.1"])
        self.addCleanup(ns.stop)
        self.rt_file()
        c = self.conf(h.port, t.port).replace(
            "https://127.0.0.1:%d/token" % t.port,
            "https://localhost:%d/token" % t.port)
        r = self.relay(conf_extra=c + "dns_servers = 127.0.0.1:%d\n"
                       % ns.port)
        self.send_token(r, "msg-by-name")
        self.delivered(r, h, "msg-by-name")
        self.assertEqual(len(self.tokens.requests), 1)

    def test_long_token_after_334(self):
        # a Microsoft-sized token: the AUTH line would pass 512 octets,
        # so the response goes after "334 " (RFC 4954 4), in pieces
        self.tokens.long_tokens = True
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-long")
        self.delivered(r, h, "msg-long")
        self.assertTrue(h.handler.auth[0][3])
        self.assertGreater(len(h.handler.auth[0][2]), 3000)

    # ---- failures: deferred, never bounced ----

    def assert_deferred(self, r, h, what):
        self.wait_log(r, what)
        self.assertEqual(h.handler.messages, [])
        ids = r.queue_list()
        self.assertEqual(len(ids), 1, ids)
        self.assertNotIn("bounced", r.log_text())

    def test_invalid_grant_deferred_and_status(self):
        self.tokens.mode = "invalid_grant"
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-revoked")
        self.assert_deferred(r, h, "invalid_grant")
        self.wait_log(r, "status=deferred")
        self.assertIn("re-authorise: run edgemta oauth2 device-login",
                      r.log_text())
        self.assertEqual(h.handler.auth, [])
        st = r.cli("status")
        self.assertIn("re-authorise: run edgemta oauth2 device-login",
                      st.stdout, st.stdout + st.stderr)
        self.assertIn("invalid_grant", st.stdout)
        js = json.loads(r.cli("status", "--json").stdout)
        self.assertTrue(any("device-login" in p["text"]
                            for p in js["problems"]), js["problems"])
        self.assertEqual(js["delivery"]["oauth2"], "invalid_grant")
        self.assertNotEqual(r.cli("status", "--check").returncode, 0)
        # re-authorised (a new refresh token in the file, restart): sent
        self.tokens.mode = "ok"
        self.tokens.refresh = "rt-new"
        self.rt_file("rt-new\n")
        r.restart()
        self.delivered(r, h, "msg-revoked")
        self.assertNotIn("device-login", r.cli("status").stdout)

    def test_endpoint_down_then_back(self):
        port = free_port()
        h = self.smarthost()

        class Down:
            pass
        d = Down()
        d.port = port
        r = self.relay_for(h, d)
        self.send_token(r, "msg-down")
        self.assert_deferred(r, h, "OAuth2 token 127.0.0.1:%d" % port)
        self.wait_log(r, "status=deferred")
        self.token_server(port=port)
        self.delivered(r, h, "msg-down")

    @slow
    def test_500_then_ok(self):
        self.tokens.mode = "500"
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-500")
        self.assert_deferred(r, h, "HTTP status 500")
        self.tokens.mode = "ok"
        self.delivered(r, h, "msg-500")

    def test_bad_json_deferred(self):
        self.tokens.mode = "badjson"
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-json")
        self.assert_deferred(r, h, "not valid JSON")
        self.assertEqual(h.handler.auth, [])

    def test_tls_failure_to_token_url(self):
        t = self.token_server(name="wrongname")
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-tls")
        self.assert_deferred(r, h, "OAuth2 token 127.0.0.1:%d: TLS"
                             % t.port)
        self.assertEqual(self.tokens.requests, [])  # nothing was sent

    def test_slow_endpoint_loop_keeps_serving(self):
        self.tokens.hold = threading.Event()
        t = self.token_server()
        h = self.smarthost()
        r = self.relay_for(h, t)
        self.send_token(r, "msg-slow-1")
        self.assertTrue(self.tokens.held.wait(30), r.log_tail())
        # the token request is pending: SMTP is still served at once
        self.send_token(r, "msg-slow-2")
        self.assertEqual(len(r.queue_ids()), 2)
        self.tokens.hold.set()
        self.delivered(r, h, "msg-slow-1")
        self.delivered(r, h, "msg-slow-2")
        self.assertEqual(len(self.tokens.requests), 1)

    def test_535_refresh_once_then_admin(self):
        t = self.token_server()
        h = self.smarthost(reject_all=True)
        r = self.relay_for(h, t)
        self.send_token(r, "msg-535")
        self.wait_log(r, "fetching a new one for the next attempt")
        self.wait_log(r, "refused a fresh access token")
        self.assertEqual(h.handler.messages, [])
        self.assertGreaterEqual(len(self.tokens.requests), 2)
        self.assertEqual(len(r.queue_ids()), 1)
        st = r.cli("status").stdout
        self.assertIn("refuses the OAuth2 access token", st)

    # ---- configuration ----

    def test_token_file_mode_and_missing_keys(self):
        self.rt_file(mode=0o644)
        r = self.relay(conf_extra=self.conf(25, 443), start=False)
        p = r.cli("check")
        self.assertEqual(p.returncode, 78, p.stderr)
        line = [i + 1 for i, l in enumerate(open(r.conf).read()
                                              .splitlines())
                if l.startswith("smtp_oauth2_refresh_token_file")][0]
        self.assertIn("edgemta.conf:%d:" % line, p.stderr)
        self.assertIn("chmod 600", p.stderr)
        # a mechanism without a token URL: FILE:LINE of the mechanism
        r2 = self.relay(sub="r2", conf_extra="smtp_sasl_mechanism = "
                        "xoauth2\nsmtp_sasl_username = a@b.example\n",
                        start=False)
        p = r2.cli("check")
        self.assertEqual(p.returncode, 78)
        self.assertIn("needs smtp_oauth2_token_url", p.stderr)
        self.assertRegex(p.stderr, r"edgemta\.conf:\d+: ")
        r3 = self.relay(sub="r3", conf_extra="smtp_sasl_mechanism = "
                        "cram-md5\n", start=False)
        p = r3.cli("check")
        self.assertIn("expected xoauth2 or oauthbearer", p.stderr)

    # ---- edgemta oauth2 device-login ----

    def device_login(self, script):
        self.tokens.device_script = list(script)
        t = self.token_server()
        rt = os.path.join(self.tmp, "oauth2-refresh-token")
        r = self.relay(conf_extra=self.conf(25, t.port), start=False)
        p = r.cli("oauth2", "device-login", timeout=90)
        return p, rt

    def test_device_login_happy(self):
        p, rt = self.device_login(["authorization_pending"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("https://example.com/devicelogin", p.stdout)
        self.assertIn("ABCD-EFGH", p.stdout)
        self.assertEqual(open(rt).read(), "rt-device\n")
        self.assertEqual(stat.S_IMODE(os.stat(rt).st_mode), 0o600)
        self.assertEqual(len(self.tokens.device_polls), 2)

    @slow
    def test_device_login_slow_down_then_denied(self):
        p, rt = self.device_login(["slow_down", "access_denied"])
        self.assertEqual(p.returncode, 77, p.stdout + p.stderr)
        self.assertIn("access_denied", p.stderr)
        self.assertIn("poll more slowly: every 6 s", p.stdout)
        self.assertFalse(os.path.exists(rt))
        polls = self.tokens.device_polls
        self.assertEqual(len(polls), 2)
        # RFC 8628 3.5: the interval grew by 5 s after slow_down (a
        # lower bound, not a timing measurement)
        self.assertGreaterEqual(polls[1] - polls[0], 5.5)

    def test_device_login_expired(self):
        p, rt = self.device_login(["expired_token"])
        self.assertEqual(p.returncode, 77)
        self.assertIn("run device-login again", p.stderr)
        self.assertFalse(os.path.exists(rt))
