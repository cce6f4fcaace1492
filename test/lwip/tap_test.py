#!/usr/bin/python3
"""tap_test.py EDGEMTA_LWIP - the lwIP relay (test/lwip/lwip_tap.c) on a
TAP device, tested from the Linux side. Run inside a network namespace
of its own (scripts/test-lwip.sh uses `unshare -n`): it creates tap0
(10.0.0.1/24 on the Linux side, 10.0.0.2 on lwIP's), an aiosmtpd
smarthost on 10.0.0.1:2526, and checks that a large message sent with
smtplib, a pipelined transaction and the relay's own alert (the
in-process submit API) all arrive at the smarthost byte for byte; that
kill -9 while mail arrives (the NOR part is a file that survives, as a
board's RAM-backed flash survives a reset) loses no acknowledged message;
that a full queue answers 452 4.3.1 and delivers what it took; and
TLS both ways: STARTTLS into the relay (its certificate verified by the
client), delivery over STARTTLS with AUTH to a smarthost whose
certificate the relay verifies, and no delivery to one it cannot verify.
Prints "tap_test: N passed, N failed"."""
import logging
import os
import random
import ssl
import socket
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from tlspki import Pki  # noqa: E402

from checks import check, failed, report  # noqa: E402

# aiosmtpd logs the handshakes the relay refuses on purpose
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

BIN = sys.argv[1]
got = []




class Sink:
    def __init__(self, box=None):
        self.box = got if box is None else box

    async def handle_DATA(self, server, session, envelope):
        self.box.append((envelope.mail_from, list(envelope.rcpt_tos),
                         envelope.original_content,
                         session.ssl is not None))
        return "250 2.0.0 Ok: sunk"


def sh(*cmd):
    subprocess.run(cmd, check=True)


def wait_port(host, port, timeout):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_msgs(n, timeout):
    end = time.time() + timeout
    while time.time() < end and len(got) < n:
        time.sleep(0.1)
    return len(got) >= n


def write_conf(tmp, name, relay_port, size="256k"):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("listen = 10.0.0.2:25 smtp\n"
                "mynetworks = 10.0.0.0/24\n"
                "relayhost = [10.0.0.1]:%d\n"
                "smtp_tls_security_level = none\n"
                "myhostname = edgemta-lwip.test\n"
                "minimal_backoff_time = 1s\n"
                "queue_size = %s\n" % (relay_port, size))
    return path


def start(conf, log, flash):
    env = dict(os.environ, EDGEMTA_LWIP_FLASH=flash)
    p = subprocess.Popen([BIN, "tap0", "10.0.0.2/24", conf], stderr=log,
                         env=env)
    if not wait_port("10.0.0.2", 25, 15):
        p.kill()
        p.wait()
        raise RuntimeError("relay did not start")
    return p


def subjects():
    out = []
    for _, _, data, _ in got:
        for line in data.decode("utf-8", "replace").split("\r\n"):
            if line.startswith("Subject: "):
                out.append(line[9:])
    return out


def send_until_error(prefix, size, acked, stop, errors):
    """Send messages one by one; record the acknowledged subjects."""
    i = 0
    body = "y" * 70 + "\r\n"
    try:
        with smtplib.SMTP("10.0.0.2", 25, timeout=10) as s:
            while not stop.is_set():
                subj = "%s-%d" % (prefix, i)
                s.sendmail("p@lwip.test", ["ops@example.net"],
                           "Subject: %s\r\n\r\n%s" % (subj,
                                                       body * (size // 72)))
                acked.append(subj)
                i += 1
    except (smtplib.SMTPException, OSError) as e:
        errors.append(e)


def test_power_cuts(tmp, log):
    flash = os.path.join(tmp, "flash-cuts")
    down = write_conf(tmp, "down.conf", 2599)
    up = write_conf(tmp, "up.conf", 2526)
    acked = []
    rnd = random.Random(7)
    for cut in range(3):
        relay = start(down, log, flash)
        stop, errors = threading.Event(), []
        t = threading.Thread(target=send_until_error,
                             args=("cut%d" % cut, 3000, acked, stop, errors))
        t.start()
        time.sleep(rnd.uniform(0.3, 1.2))
        relay.kill()            # the power cut: no shutdown at all
        relay.wait()
        stop.set()
        t.join(15)
    print("power cuts: %d messages acknowledged" % len(acked))
    check("messages acknowledged before the cuts", len(acked) > 5,
          "acked %d" % len(acked))
    del got[:]
    relay = start(up, log, flash)
    end = time.time() + 60
    while time.time() < end and not set(acked) <= set(subjects()):
        time.sleep(0.2)
    lost = sorted(set(acked) - set(subjects()))
    check("kill -9 x3 loses no acknowledged message", not lost,
          "lost %s" % lost[:10])
    relay.terminate()
    relay.wait(10)


def test_queue_full(tmp, log):
    flash = os.path.join(tmp, "flash-full")
    down = write_conf(tmp, "full-down.conf", 2599, "64k")
    up = write_conf(tmp, "full-up.conf", 2526, "64k")
    relay = start(down, log, flash)
    acked, errors = [], []
    send_until_error("full", 6000, acked, threading.Event(), errors)
    e = errors[0] if errors else None
    code = getattr(e, "smtp_code", None)
    text = getattr(e, "smtp_error", b"") or b""
    check("full queue answers 452 4.3.1", code == 452 and
          b"4.3.1" in text, repr(e))
    check("the queue took several messages first", len(acked) >= 3,
          "acked %d" % len(acked))
    relay.terminate()
    relay.wait(10)
    del got[:]
    relay = start(up, log, flash)
    end = time.time() + 60
    while time.time() < end and not set(acked) <= set(subjects()):
        time.sleep(0.2)
    check("what the full queue took is delivered",
          set(acked) <= set(subjects()))
    relay.terminate()
    relay.wait(10)


def test_tls(tmp, log):
    pki = Pki(os.path.join(tmp, "pki"))
    # one certificate for the Linux side (10.0.0.1) and the relay (.2)
    pki._leaf("tap", "ca", "edgemta-lwip.test",
              "subjectAltName=IP:10.0.0.1,IP:10.0.0.2")
    with open(pki.path("tap.chain"), "w") as f:
        f.write(open(pki.cert("tap")).read() + open(pki.cert("ca")).read())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("tap.chain"), pki.key("tap"))
    box, auths = [], []

    def authenticator(server, session, envelope, mechanism, data):
        ok = data.login == b"relay" and data.password == b"s3cret"
        auths.append(ok)
        return AuthResult(success=ok, handled=ok) if ok else \
            AuthResult(success=False, handled=False,
                       message="535 5.7.8 Authentication failed")

    tls_sh = Controller(Sink(box), hostname="10.0.0.1", port=2527,
                        tls_context=ctx, require_starttls=True,
                        authenticator=authenticator, auth_required=True,
                        auth_require_tls=True)
    tls_sh.start()
    base = ("listen = 10.0.0.2:25 smtp\n"
            "mynetworks = 10.0.0.0/24\n"
            "relayhost = [10.0.0.1]:2527\n"
            "smtp_tls_security_level = verify\n"
            "smtp_sasl_username = relay\n"
            "smtp_sasl_password = s3cret\n"
            "smtpd_tls_cert_file = %s\n"
            "smtpd_tls_key_file = %s\n"
            "myhostname = edgemta-lwip.test\n"
            "minimal_backoff_time = 1s\n"
            "queue_size = 256k\n" % (pki.path("tap.chain"),
                                     pki.key("tap")))
    try:
        for name, ca, want in (("good", "ca", True),
                               ("unknown CA", "otherca", False)):
            conf = os.path.join(tmp, "tls-%s.conf" % ca)
            with open(conf, "w") as f:
                f.write(base + "smtp_tls_CAfile = %s\n" % pki.cert(ca))
            relay = start(conf, log, os.path.join(tmp, "flash-" + ca))
            cctx = ssl.create_default_context(cafile=pki.cert("ca"))
            with smtplib.SMTP("10.0.0.2", 25, timeout=30) as s:
                s.ehlo("client.test")
                check("STARTTLS offered (%s)" % name,
                      s.has_extn("starttls"))
                s.starttls(context=cctx)    # verifies 10.0.0.2
                s.ehlo("client.test")
                s.sendmail("meter@lwip.test", ["ops@example.net"],
                           "Subject: tls %s\r\n\r\nover TLS\r\n" % ca)
            end = time.time() + (30 if want else 5)
            while time.time() < end and not box:
                time.sleep(0.1)
            if want:
                check("delivered over verified STARTTLS with AUTH",
                      len(box) == 1 and box[0][3] and auths == [True],
                      "box %r auths %r" % (box, auths))
            else:
                check("no delivery to a smarthost it cannot verify",
                      not box, "box %r" % box)
            del box[:]
            relay.terminate()
            relay.wait(10)
    finally:
        tls_sh.stop()


def main():
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
    sh("ip", "addr", "add", "10.0.0.1/24", "dev", "tap0")
    sh("ip", "link", "set", "tap0", "up")
    ctl = Controller(Sink(), hostname="10.0.0.1", port=2526)
    ctl.start()
    tmp = tempfile.mkdtemp(prefix="edgemta-lwip.")
    conf = os.path.join(tmp, "edgemta.conf")
    with open(conf, "w") as f:
        f.write("listen = 10.0.0.2:25 smtp\n"
                "mynetworks = 10.0.0.0/24\n"
                "relayhost = [10.0.0.1]:2526\n"
                "smtp_tls_security_level = none\n"
                "myhostname = edgemta-lwip.test\n"
                "queue_size = 256k\n")
    log = open(os.path.join(tmp, "log"), "w+")
    relay = subprocess.Popen([BIN, "tap0", "10.0.0.2/24", conf,
                              "alert@example.net"], stderr=log)
    try:
        check("relay listens on 10.0.0.2:25 over TAP",
              wait_port("10.0.0.2", 25, 15))
        # a large message: many TCP segments of full-size frames
        body = "".join("line %05d %s\r\n" % (i, "x" * 60)
                       for i in range(300))
        msg = ("From: meter@lwip.test\r\nSubject: big\r\n\r\n" + body)
        with smtplib.SMTP("10.0.0.2", 25, timeout=30) as s:
            code, _ = s.ehlo("client.test")
            check("EHLO", code == 250)
            check("PIPELINING offered", s.has_extn("pipelining"))
            s.sendmail("meter@lwip.test", ["ops@example.net"], msg)
        # a pipelined transaction in one write
        c = socket.create_connection(("10.0.0.2", 25), timeout=30)
        f = c.makefile("rb")
        f.readline()
        c.sendall(b"EHLO p.test\r\nMAIL FROM:<p@lwip.test>\r\n"
                  b"RCPT TO:<ops@example.net>\r\nDATA\r\n")
        replies = []
        while len(replies) < 4:
            line = f.readline().decode()
            if line[3:4] != "-":
                replies.append(line[:3])
        check("pipelined EHLO/MAIL/RCPT/DATA", replies ==
              ["250", "250", "250", "354"], replies)
        c.sendall(b"Subject: piped\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
        line = f.readline().decode()
        check("pipelined message queued", line.startswith("250 "), line)
        c.close()
        check("three messages at the smarthost", wait_msgs(3, 30),
              "got %d" % len(got))
        by_subject = {}
        for frm, rcpts, data, _ in got:
            text = data.decode("utf-8", "replace")
            for line in text.split("\r\n"):
                if line.startswith("Subject: "):
                    by_subject[line[9:]] = (frm, rcpts, text)
        big = by_subject.get("big")
        check("large message intact", big is not None and
              big[2].endswith(body) and big[1] == ["ops@example.net"])
        check("Received: header added", big is not None and
              big[2].startswith("Received: from client.test"))
        alert = by_subject.get("alert from the lwIP relay")
        check("alert from the submit API delivered", alert is not None and
              alert[0] == "alert@edgemta-lwip.test" and
              alert[1] == ["alert@example.net"])
        check("pipelined message delivered", "piped" in by_subject)
        relay.terminate()
        relay.wait(10)
        test_power_cuts(tmp, log)
        test_queue_full(tmp, log)
        test_tls(tmp, log)
    finally:
        if relay.poll() is None:
            relay.terminate()
            relay.wait(10)
        ctl.stop()
        if failed():
            log.seek(0)
            sys.stdout.write(log.read()[-4000:])
    return report("tap_test")


sys.exit(main())
