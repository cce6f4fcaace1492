"""Delivery to the smarthost (issue 3): real peers on 127.0.0.1.

Postfix's smtp-sink (PIPELINING) and a scripted python3-aiosmtpd
smarthost (smarthost.py: no PIPELINING, exact byte capture, faults) stand
in for the user's provider. Retry waits are kept short with
minimal_backoff_time = 1s; every wait is bounded and nothing asserts on
how long something took.
"""
import email
import glob
import json
import os
import random
import socket
import threading
import time

import helpers
from helpers import (RelayTest, Smtp, SmtpError, free_port, reap, slow,
                     smtp_sink, spawn, strip_received, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
FAST = ("minimal_backoff_time = 1s\n"
        "maximal_backoff_time = 2s\n")


def make_body(i, size=600, tag="m"):
    """A message with a unique token, lines that need dot-stuffing and
    filler up to about size bytes (CRLF lines)."""
    token = "%s-%06d-%08x" % (tag, i, random.getrandbits(32))
    lines = ["Subject: test %s" % token, "From: <alice@example.org>",
             "Message-ID: <%s@example.org>" % token, "",
             "token %s" % token, ".leading dot", "..two dots", ".",
             " . not a dot line", ""]
    n = 0
    while sum(len(l) + 2 for l in lines) < size:
        lines.append("line %05d %s %s" % (n, token, "x" * 40))
        n += 1
    lines.append("end %s" % token)
    return token, ("\r\n".join(lines) + "\r\n").encode()


def token_of(data):
    i = data.find(b"token ")
    if i < 0:
        return None
    return data[i + 6:data.find(b"\r\n", i)].decode()


class Smarthost:
    """smarthost.py on 127.0.0.1:port with fault options."""

    def __init__(self, tmp, args=(), port=None):
        self.port = port or free_port()
        self.dir = os.path.join(tmp, "smarthost-%d-%d" % (
            self.port, random.getrandbits(24)))
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "log")
        with open(self.log, "ab") as log:
            self.proc = spawn([PY, os.path.join(HERE, "smarthost.py"),
                               "--port", str(self.port), "--dir", self.dir]
                              + list(args), stdout=log, stderr=log)
        ok = wait_until(lambda: os.path.exists(os.path.join(
            self.dir, "ready")) or self.proc.poll() is not None, 20)
        if not ok or self.proc.poll() is not None:
            reap(self.proc)
            with open(self.log) as f:
                raise AssertionError("smarthost did not start: " + f.read())

    def messages(self):
        """[(envelope dict, raw bytes)] of accepted messages, in order."""
        out = []
        for name in sorted(glob.glob(os.path.join(self.dir, "msg.*.env"))):
            with open(name) as f:
                env = json.load(f)
            with open(name[:-4], "rb") as f:
                out.append((env, f.read()))
        return out

    def dropped(self):
        out = []
        for name in sorted(glob.glob(os.path.join(self.dir,
                                                  "msg.*.dropped"))):
            with open(name, "rb") as f:
                out.append(f.read())
        return out

    def connections(self):
        try:
            with open(os.path.join(self.dir, "connections")) as f:
                return int(f.read().strip() or 0)
        except OSError:
            return 0

    def stop(self):
        reap(self.proc, helpers.signal.SIGTERM)


class DeadHost:
    """A port that accepts and closes at once (a smarthost that is down
    after the TCP handshake), counting connection attempts."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.count = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            c.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class DeliveryBase(RelayTest):
    """Helpers shared by the delivery tests (no tests of its own)."""

    def smarthost(self, *args, port=None):
        sh = Smarthost(self.tmp, args, port=port)
        self.addCleanup(sh.stop)
        return sh

    def sink(self, args=()):
        """smtp-sink (as nobody, see helpers.Sink) dumping to tmp/dump."""
        os.chmod(self.tmp, 0o755)  # nobody must reach the dump directory
        port = free_port()
        sink = smtp_sink(port, list(args), dump_dir=os.path.join(
            self.tmp, "dump"))
        self.addCleanup(sink.stop)
        return sink

    def relay_to(self, port, extra=FAST, **kw):
        return self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n%s"
                          % (port, extra), **kw)

    def send(self, relay, bodies, sender="alice@example.org",
             rcpts=("bob@example.net",)):
        """Send each body in its own transaction; returns queue ids."""
        ids = []
        with Smtp(relay.port) as c:
            c.ehlo()
            for body in bodies:
                code, text = c.send_message(sender, list(rcpts), body)
                self.assertEqual(code, 250, text)
                ids.append(helpers.queue_id(text))
        return ids

    def wait_queue_empty(self, relay, timeout=60):
        ok = wait_until(lambda: relay.queue_list() == [], timeout, 0.2)
        self.assertTrue(ok, "queue did not drain: %r\n%s"
                        % (relay.queue_list()[:5], relay.log_tail()))

    def wait_msgs(self, sh, n, timeout=60):
        ok = wait_until(lambda: len(sh.messages()) >= n, timeout, 0.1)
        self.assertTrue(ok, "smarthost got %d of %d messages" %
                        (len(sh.messages()), n))
        return sh.messages()


class DeliveryTest(DeliveryBase):

    # ---- the happy path ----

    def test_pipelined_to_smtp_sink_1000_bodies_checked(self):
        """1,000 messages in through 4 clients, out to smtp-sink (which
        offers PIPELINING); every dumped body equals what was sent."""
        sink = self.sink()
        port = sink.port
        r = self.relay_to(port, queue_size="4M")
        sent = {}
        lock = threading.Lock()
        errors = []

        def client(k):
            try:
                bodies = [make_body(k * 1000 + i, size=300 + 37 * i)
                          for i in range(250)]
                self.send(r, [b for _, b in bodies])
                with lock:
                    sent.update(dict(bodies))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        self.assertEqual(errors, [])
        self.assertEqual(len(sent), 1000)
        ok = wait_until(lambda: len(sink.dumps()) >= 1000, 120, 0.2)
        self.assertTrue(ok, "sink got %d dumps" % len(sink.dumps()))
        seen = {}
        for d in sink.dumps():
            # smtp-sink: X- lines, its Received (3 lines), LF line ends
            body = d.split(b"\nReceived: from test.example", 1)[1]
            body = body.split(b"\n", 3)[3]
            ours = strip_received(body.replace(b"\n", b"\r\n"))
            tok = token_of(ours)
            self.assertIn(tok, sent)
            # smtp-sink adds one empty line after each dumped message
            self.assertEqual(ours, sent[tok] + b"\r\n", tok)
            seen[tok] = seen.get(tok, 0) + 1
        self.assertEqual(len(seen), 1000)
        self.assertEqual(set(seen.values()), {1})
        self.wait_queue_empty(r)
        log = r.log_text()
        self.assertRegex(log, r"[0-9A-F]{8}: to=<bob@example\.net>, "
                         r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, "
                         r"delay=\d+\.\d, delays=\d+\.\d/\d+\.\d/\d+\.\d/"
                         r"\d+\.\d, dsn=2\.0\.0, status=sent \(250 " % port)

    def test_bytes_identical_and_reused_connection(self):
        """aiosmtpd (no PIPELINING) gets exactly Received + body; several
        messages share one connection."""
        sh = self.smarthost()
        r = self.relay_to(sh.port)
        bodies = dict(make_body(i, size=2000 + 500 * i) for i in range(20))
        self.send(r, list(bodies.values()),
                  rcpts=("bob@example.net", "carol@example.net"))
        msgs = self.wait_msgs(sh, 20)
        self.assertEqual(len(msgs), 20)
        for env, data in msgs:
            ours = strip_received(data)
            self.assertEqual(ours, bodies[token_of(ours)])
            self.assertEqual(env["sender"], "alice@example.org")
            self.assertEqual(env["rcpts"], ["bob@example.net",
                                            "carol@example.net"])
        self.assertLess(sh.connections(), 20)
        self.wait_queue_empty(r)

    def test_100_recipients_pipelined_to_smtp_sink(self):
        """MAIL + 100 RCPT + DATA do not fit one send buffer: the
        pipeline is refilled as it drains, replies matched in order."""
        sink = self.sink()
        r = self.relay_to(sink.port)
        rcpts = ["user%03d@example.net" % i for i in range(100)]
        tok, body = make_body(1)
        self.send(r, [body], rcpts=rcpts)
        ok = wait_until(lambda: len(sink.dumps()) >= 1, 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        d = sink.dumps()[0]
        self.assertEqual(d.count(b"X-Rcpt-Args: <"), 100)
        for a in rcpts:
            self.assertIn(b"X-Rcpt-Args: <%s>\n" % a.encode(), d)
        self.wait_queue_empty(r)
        self.assertEqual(r.log_text().count("status=sent"), 100)

    def test_ehlo_rejected_falls_back_to_helo(self):
        sink = self.sink(["-f", "EHLO"])
        r = self.relay_to(sink.port)
        tok, body = make_body(1)
        self.send(r, [body])
        ok = wait_until(lambda: len(sink.dumps()) >= 1, 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertIn(b"X-Client-Proto: SMTP\n", sink.dumps()[0])
        self.assertIn(tok.encode(), sink.dumps()[0])
        self.wait_queue_empty(r)

    # ---- temporary failures ----

    def test_smtp_sink_421_at_mail_stays_deferred(self):
        sink = self.sink(["-Q", "MAIL"])
        r = self.relay_to(sink.port)
        ids = self.send(r, [make_body(1)[1]])
        ok = wait_until(lambda: r.log_text().count("status=deferred (421")
                        >= 2, 30, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(r.queue_ids(), ids)
        self.assertEqual(sink.dumps(), [])
        self.assertNotIn("status=bounced", r.log_text())
        # `queue list` tells the admin why and when it is tried again
        entry = r.queue_list()[0]
        self.assertRegex(entry.get("deferred", ""),
                         r"^\(deferred \d+ times?, next try "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: .*421")

    def test_greylisting_451_then_250(self):
        sh = self.smarthost("--greylist")
        r = self.relay_to(sh.port)
        tok, body = make_body(1)
        self.send(r, [body], rcpts=("bob@example.net", "carol@example.net"))
        msgs = self.wait_msgs(sh, 1)
        self.wait_queue_empty(r)
        self.assertEqual(len(sh.messages()), 1)
        self.assertEqual(sorted(msgs[0][0]["rcpts"]),
                         ["bob@example.net", "carol@example.net"])
        log = r.log_text()
        self.assertIn("dsn=4.7.1, status=deferred (451 4.7.1 "
                      "<bob@example.net>: greylisted", log)
        self.assertRegex(log, r"to=<carol@example\.net>, .*status=sent")

    def test_421_at_each_stage(self):
        for stage in ("MAIL", "RCPT", "DATA", "DOT"):
            with self.subTest(stage=stage):
                sh = self.smarthost("--fail", stage + ":1")
                r = self.relay_to(sh.port, sub="r-" + stage)
                tok, body = make_body(7, tag=stage)
                self.send(r, [body])
                msgs = self.wait_msgs(sh, 1)
                self.wait_queue_empty(r)
                # 421 means not accepted: exactly one copy arrives
                self.assertEqual(len(sh.messages()), 1)
                self.assertEqual(strip_received(msgs[0][1]), body)
                self.assertIn("status=deferred (421 4.3.2 scripted",
                              r.log_text())
                self.assertGreaterEqual(sh.connections(), 2)

    def test_drop_after_final_dot_is_sent_again(self):
        sh = self.smarthost("--drop-after-dot", "1")
        r = self.relay_to(sh.port)
        tok, body = make_body(3)
        self.send(r, [body])
        msgs = self.wait_msgs(sh, 1)
        self.wait_queue_empty(r)
        dropped = sh.dropped()
        self.assertEqual(len(dropped), 1)
        self.assertEqual(strip_received(dropped[0]), body)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(strip_received(msgs[0][1]), body)
        self.assertIn("while sending end of data -- message may be sent "
                      "more than once", r.log_text())

    def test_host_name_relayhost_waits_for_dns(self):
        # CONFIG_DNS: the name is looked up, here at a local resolver
        # port that never answers; without DNS support the name waits.
        # Either way the mail is deferred and stays queued.
        r = self.relay(conf_extra="relayhost = [smarthost.invalid]:25\n"
                       "dns_servers = 127.0.0.1:9\n" + FAST)
        tok, body = make_body(1)
        ids = self.send(r, [body])
        ok = wait_until(lambda: ("host name lookup not available yet "
                                 "(DNS issue)" in r.log_text() or
                                 "Name service error for name=smarthost."
                                 "invalid" in r.log_text()) and
                        "status=deferred" in r.log_text(), 40, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(r.queue_ids(), ids)

    def test_empty_relayhost_keeps_mail_queued(self):
        # relayhost empty: MX delivery (CONFIG_DNS); with a resolver that
        # never answers the mail is deferred, never lost or bounced.
        r = self.relay(conf_extra="dns_servers = 127.0.0.1:9\n")
        ids = self.send(r, [make_body(1)[1]])
        log = r.log_text
        ok = wait_until(lambda: "relayhost is empty: delivery disabled"
                        in log() or ("delivering to the MX hosts" in log()
                                     and "status=deferred" in log()),
                        40, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertNotIn("status=bounced", log())
        self.assertEqual(r.queue_ids(), ids)

    # ---- permanent failures and bounces ----

    def test_one_of_three_rcpts_5xx_bounces_once(self):
        sh = self.smarthost("--reject", "bad@example.net")
        r = self.relay_to(sh.port)
        tok, body = make_body(5)
        self.send(r, [body], rcpts=("ok1@example.net", "bad@example.net",
                                    "ok2@example.net"))
        msgs = self.wait_msgs(sh, 2)
        self.wait_queue_empty(r)
        msgs = sh.messages()
        self.assertEqual(len(msgs), 2, [m[0] for m in msgs])
        orig = [m for m in msgs if m[0]["sender"] == "alice@example.org"]
        dsns = [m for m in msgs if m[0]["sender"] in ("", "<>")]
        self.assertEqual(len(orig), 1)
        self.assertEqual(orig[0][0]["rcpts"], ["ok1@example.net",
                                               "ok2@example.net"])
        self.assertEqual(strip_received(orig[0][1]), body)
        self.assertEqual(len(dsns), 1, [m[0] for m in msgs])
        self.assertEqual(dsns[0][0]["rcpts"], ["alice@example.org"])
        m = email.message_from_bytes(dsns[0][1])
        self.assertEqual(m.get_content_type(), "multipart/report")
        self.assertEqual(m.get_param("report-type"), "delivery-status")
        self.assertEqual(m["Auto-Submitted"], "auto-replied")
        self.assertTrue(m["From"].startswith("MAILER-DAEMON@test.example"))
        self.assertTrue(m.is_multipart())
        self.assertFalse(m.defects, m.defects)
        parts = m.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/delivery-status",
                          "text/rfc822-headers"])
        blocks = parts[1].get_payload()
        self.assertEqual(blocks[0]["Reporting-MTA"], "dns; test.example")
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[1]["Final-Recipient"],
                         "rfc822; bad@example.net")
        self.assertEqual(blocks[1]["Action"], "failed")
        self.assertEqual(blocks[1]["Status"], "5.1.1")
        self.assertIn("550 5.1.1", blocks[1]["Diagnostic-Code"])
        hdrs = parts[2].get_payload()
        self.assertIn("Subject: test " + tok, hdrs)
        self.assertNotIn("leading dot", hdrs)
        log = r.log_text()
        self.assertIn("to=<bad@example.net>", log)
        self.assertRegex(log, r"to=<bad@example\.net>, .*dsn=5\.1\.1, "
                         r"status=bounced \(550 5\.1\.1")

    def test_bounce_of_bounce_never_sent(self):
        """A null-sender message that fails is not bounced (no admin)."""
        sh = self.smarthost("--reject", "bad@example.net")
        r = self.relay_to(sh.port, FAST + "bounce_notice_recipient =\n")
        self.send(r, [make_body(1)[1]], sender="",
                  rcpts=("bad@example.net",))
        ok = wait_until(lambda: "status=bounced" in r.log_text(), 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.wait_queue_empty(r)
        self.assertEqual(sh.messages(), [])

    def test_bounce_to_default_admin_is_qualified(self):
        """Default bounce_notice_recipient (bare 'postmaster'): the bounce
        of a null-sender and of a local-sender message reaches the
        smarthost addressed to postmaster@myorigin (myhostname when
        myorigin is empty), not dropped as 'no domain' (issue 11 pt 7)."""
        for origin in ("", "example.org"):
            with self.subTest(myorigin=origin):
                sh = self.smarthost("--reject", "bad@example.net")
                r = self.relay_to(sh.port, FAST + "myorigin = %s\n" % origin,
                                  sub="r-" + (origin or "none"))
                admin = "postmaster@" + (origin or "test.example")
                self.send(r, [make_body(1)[1]], sender="",
                          rcpts=("bad@example.net",))
                self.send(r, [make_body(2)[1]], sender="cron@test.example",
                          rcpts=("bad@example.net",))
                msgs = self.wait_msgs(sh, 2)
                self.wait_queue_empty(r)
                self.assertEqual(len(sh.messages()), 2)
                for env, raw in msgs:
                    self.assertIn(env["sender"], ("", "<>"))
                    self.assertEqual(env["rcpts"], [admin])
                    m = email.message_from_bytes(raw)
                    self.assertEqual(m.get_content_type(),
                                     "multipart/report")
                self.assertNotIn("dropped", r.log_text())

    # ---- outage ----

    def test_smarthost_down_then_up_bounded_attempts(self):
        dead = DeadHost()
        port = dead.port
        r = self.relay_to(port, "minimal_backoff_time = 1s\n"
                          "maximal_backoff_time = 4s\n")
        t0 = time.monotonic()
        bodies = dict(make_body(i) for i in range(30))
        self.send(r, list(bodies.values()))
        ok = wait_until(lambda: dead.count >= 3, 40, 0.05)
        elapsed = time.monotonic() - t0
        attempts = dead.count
        dead.stop()
        self.assertTrue(ok, "only %d connection attempts" % attempts)
        log = r.log_text()
        deferred = log.count("status=deferred")
        # 30 messages were deferred, yet connections were few: one per
        # destination backoff period (>= 0.9 s), not one per message
        self.assertGreaterEqual(deferred, 30)
        self.assertLess(attempts, deferred)
        self.assertLessEqual(attempts, 2 + elapsed / 0.9)
        self.assertIn("relayhost unreachable", log)
        sh = self.smarthost(port=port)
        msgs = self.wait_msgs(sh, 30, timeout=90)
        self.wait_queue_empty(r)
        got = {}
        for env, data in msgs:
            ours = strip_received(data)
            got[token_of(ours)] = ours
        self.assertEqual(got, bodies)

    def test_flush_and_delete_deferred(self):
        """A message greylisted with a long backoff goes out on `queue
        flush`; `queue delete deferred` removes what is deferred."""
        sh = self.smarthost("--greylist", "--defer", "stuck@example.net")
        r = self.relay_to(sh.port, "minimal_backoff_time = 1h\n"
                          "maximal_backoff_time = 2h\n")
        self.send(r, [make_body(1)[1]])
        self.send(r, [make_body(2)[1]], rcpts=("stuck@example.net",))
        ok = wait_until(lambda: r.log_text().count("status=deferred") >= 2,
                        20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(len(r.queue_ids()), 2)
        res = r.cli("queue", "flush")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.wait_msgs(sh, 1, timeout=20)
        ok = wait_until(lambda: len(r.queue_ids()) == 1, 20, 0.1)
        self.assertTrue(ok, r.queue_list())
        res = r.cli("queue", "delete", "deferred")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("1 message deleted", res.stdout)
        self.assertEqual(r.queue_ids(), [])
