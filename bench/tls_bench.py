"""TLS figures for bench.py (scenario "tls"): both relays with the same
self-signed ECDSA P-256 certificate, clients that STARTTLS on port 25.

- session rate: C client threads (C = 1, 4: the default build keeps 6 of
  its 8 TLS sessions for clients), each session = connect, EHLO,
  STARTTLS, EHLO, MAIL, RCPT, DATA (4 KiB), QUIT; messages per second until
  every client is done (accept rate) and until the sink has them all.
  The client (Python's ssl, one new handshake per message, no resumption)
  is the same for both relays: the ratio is what matters.
- memory: on a fresh relay, up to 32 sessions held open after STARTTLS and
  a second EHLO (until one is refused); PSS of all the relay's processes
  before and with them, per session.

Everything on 127.0.0.1, every wait bounded, processes stopped by PID
(through the relay classes of bench.py).
"""

import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time

NHOLD = 32


def make_cert(B):
    d = os.path.join(B.WORK, "tls")
    os.makedirs(d, exist_ok=True)
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    B.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
           "-subj", "/CN=bench.example", "-keyout", key, "-out", crt],
          check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)
    return crt, key


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def bye(s):
    """QUIT, or just close when the session is already gone."""
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        s.close()


def one_session(port, ctx, body):
    s = smtplib.SMTP("127.0.0.1", port, "bench.example", timeout=20)
    try:
        s.starttls(context=ctx)
        s.ehlo("bench.example")
        s.sendmail("tls@bench.example", ["sink@example.net"], body)
    finally:
        bye(s)


def rate_run(B, relay, sink, c, n, body):
    """n messages from c threads; (accept seconds, e2e seconds or None,
    errors)."""
    ctx = client_ctx()
    left = [n]
    errs = []
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if left[0] <= 0 or len(errs) > 5:
                    return
                left[0] -= 1
            try:
                one_session(relay.port, ctx, body)
            except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
                with lock:
                    errs.append(repr(e))

    base = sink.count
    t0 = time.time()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(c)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=max(1, 180 - (time.time() - t0)))
    acc = time.time() - t0
    if any(t.is_alive() for t in ts):
        errs.append("clients still running after 180 s")
        return acc, None, errs
    ok = B.drain(sink, base + n - len(errs))
    return acc, (time.time() - t0) if ok and not errs else None, errs


def hold_sessions(port, n):
    """n sessions after STARTTLS + EHLO, or fewer; list of smtplib.SMTP."""
    ctx = client_ctx()
    out = []
    for _ in range(n):
        try:
            s = smtplib.SMTP("127.0.0.1", port, "bench.example", timeout=10)
            s.starttls(context=ctx)
            s.ehlo("bench.example")
            out.append(s)
        except (smtplib.SMTPException, OSError, ssl.SSLError):
            break
    return out


def start_relay(B, kind, crt, key):
    sink = B.Sink(kind.name + "-tls")
    r = kind(sink, tag="tls")
    if kind is B.Edgemta:
        with open(r.conf, "a") as f:
            f.write("smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n"
                    % (crt, key))
    else:
        B.run(["postconf", "-c", r.etc, "-e",
               "smtpd_tls_cert_file = " + crt,
               "smtpd_tls_key_file = " + key,
               "smtpd_tls_security_level = may"], check=True)
    try:
        r.start()
    except Exception:
        sink.stop()
        raise
    return r, sink


def hold(B, r):
    """Memory of NHOLD sessions held open after STARTTLS, on a fresh
    relay (nothing touched its TLS memory yet)."""
    time.sleep(0.5)
    before = B.mem(r.pids())[0]
    held = hold_sessions(r.port, NHOLD)
    time.sleep(0.5)
    during = B.mem(r.pids())[0]
    for s in held:
        bye(s)
    B.record("tls", "held_sessions", r.name, 1, len(held), "sessions")
    B.record("tls", "pss_idle", r.name, 1, before, "KiB")
    B.record("tls", "pss_held", r.name, 1, during, "KiB")
    if held:
        B.record("tls", "pss_per_session", r.name, 1,
                 round((during - before) / len(held), 1), "KiB")


def scen_tls(B, kinds, res):
    crt, key = make_cert(B)
    body = ("From: tls@bench.example\r\nTo: sink@example.net\r\n"
            "Subject: tls bench\r\n\r\n" +
            ("x" * 76 + "\r\n") * 52).encode()
    n = 60 if B.QUICK else 300
    res["tls_n"] = n
    for rep in range(B.REPS):
        order = kinds if rep % 2 == 0 else kinds[::-1]
        for kind in order:
            try:
                r, sink = start_relay(B, kind, crt, key)
            except Exception as e:
                B.notes[kind.name].append("tls: relay did not start: %s" % e)
                continue
            try:
                if rep == 0:
                    hold(B, r)
                for c in (1, 4):
                    B.log("tls %s C=%d rep %d" % (r.name, c, rep + 1))
                    acc, e2e, errs = rate_run(B, r, sink, c, n, body)
                    if errs:
                        B.notes[r.name].append(
                            "tls C=%d rep %d: %d failed sessions, first: %s"
                            % (c, rep + 1, len(errs), errs[0]))
                        continue
                    B.record("tls", "accept_rate_c%d" % c, r.name, rep + 1,
                             round(n / acc, 1), "msg/s")
                    if e2e is not None:
                        B.record("tls", "e2e_rate_c%d" % c, r.name, rep + 1,
                                 round(n / e2e, 1), "msg/s")
            finally:
                r.stop()
                sink.stop()


def report(B):
    med = B.med
    L = ["", "## 6. TLS (STARTTLS on port 25, ECDSA P-256 certificate)", "",
         "Each message is one new session: connect, EHLO, STARTTLS, EHLO, "
         "MAIL, RCPT, DATA (4 KiB), QUIT, from Python's ssl client (no "
         "session resumption), the same client for both relays.", "",
         "| metric | edgemta | Postfix | edgemta/Postfix |",
         "|---|---|---|---|"]
    for m, lab in (("accept_rate_c1", "TLS sessions/s, C=1 (accept)"),
                   ("e2e_rate_c1", "TLS sessions/s, C=1 (end to end)"),
                   ("accept_rate_c4", "TLS sessions/s, C=4 (accept)"),
                   ("e2e_rate_c4", "TLS sessions/s, C=4 (end to end)"),
                   ("pss_idle", "PSS before, KiB"),
                   ("held_sessions", "TLS sessions held open (of %d tried)"
                    % NHOLD),
                   ("pss_held", "PSS with them open, KiB"),
                   ("pss_per_session", "PSS per open TLS session, KiB")):
        e, p = med("edgemta", "tls", m), med("postfix", "tls", m)
        ratio = "%.2f" % (e / p) if e is not None and p else "n/a"
        L.append("| %s | %s | %s | %s |" % (lab, B.fmt(e, 1), B.fmt(p, 1),
                                            ratio))
    return L
