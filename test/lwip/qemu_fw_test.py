#!/usr/bin/python3
"""qemu_fw_test.py ELF PKI - the mps2-an386 firmware
(platform/lwip/boards/mps2-an386/firmware.c) under qemu-system-arm, with
qemu's user-mode network restricted to forwards on the host's loopback:
127.0.0.1:FWD -> the firmware's port 25, and the firmware's relayhost
10.0.2.100:25 -> an aiosmtpd smarthost on 127.0.0.1 (through
stdio_proxy.py, one per connection) that requires STARTTLS, with the
certificate "gateway" (IP 10.0.2.100) of the test PKI in the directory
PKI (test/integration/tlspki.py) whose CA the firmware trusts
(compiled in; the relay verifies). Mail sent over STARTTLS from the host
(the firmware's certificate verified against that CA) and the firmware's
boot alert (the in-process submit API) must both reach the smarthost;
the firmware's log is read from its UART, with its stack high-water
mark after the TLS handshakes.
Then, with the smarthost down, the machine is reset (qemu's
system_reset) while mail streams in: after the reboot every message the
firmware acknowledged must still reach the smarthost.
Prints "qemu_fw_test: N passed, N failed"."""
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from checks import check, report  # noqa: E402
from helpers import free_port  # noqa: E402

ELF = os.path.abspath(sys.argv[1])
PKI = os.path.abspath(sys.argv[2])
STACK_HEAP = 8192   # RAM kept for the stack and heap (`make size`)
got = []






class Sink:
    async def handle_DATA(self, server, session, envelope):
        got.append((envelope.mail_from, envelope.original_content))
        return "250 2.0.0 Ok: sunk"


def subjects():
    out = set()
    for _, data in got:
        for line in data.decode("utf-8", "replace").split("\r\n"):
            if line.startswith("Subject: "):
                out.add(line[9:])
    return out


def reset_while_sending(fwd, mon):
    """Stream messages into the firmware; reset the machine meanwhile.
    Returns the subjects the firmware acknowledged (250)."""
    acked = []

    def sender():
        body = ("w" * 70 + "\r\n") * 40
        try:
            with smtplib.SMTP("127.0.0.1", fwd, timeout=10) as s:
                for i in range(1000):
                    subj = "reset-%d" % i
                    s.sendmail("host@test.example", ["ops@example.net"],
                               "Subject: %s\r\n\r\n%s" % (subj, body))
                    acked.append(subj)
        except (OSError, smtplib.SMTPException):
            pass

    t = threading.Thread(target=sender)
    t.start()
    end = time.time() + 20
    while time.time() < end and len(acked) < 3:
        time.sleep(0.05)
    time.sleep(0.15)        # somewhere inside the next message
    c = socket.socket(socket.AF_UNIX)
    c.connect(mon)
    c.sendall(b"system_reset\n")
    time.sleep(0.5)
    c.close()
    t.join(30)
    return acked


def smarthost(port):
    """aiosmtpd on 127.0.0.1:port, STARTTLS required (as 10.0.2.100)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(PKI, "gateway.crt"),
                        os.path.join(PKI, "gateway.key"))
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port,
                     tls_context=ctx, require_starttls=True)
    ctl.start()
    return ctl


def main():
    sh_port, fwd = free_port(), free_port()
    ctl = smarthost(sh_port)
    cctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
    tmp = tempfile.mkdtemp(prefix="edgemta-fw.")
    with open(os.path.join(tmp, "edgemta.conf"), "w") as f:
        f.write("listen = 10.0.2.15:25 smtp\n"
                "mynetworks = 10.0.2.0/24\n"
                "relayhost = [10.0.2.100]:25\n"
                "smtp_tls_security_level = verify\n"
                "minimal_backoff_time = 1s\n"
                "queue_size = 256k\n")
    open(os.path.join(tmp, "erase-queue"), "w").close()
    uart = os.path.join(tmp, "uart.log")
    mon = os.path.join(tmp, "monitor")
    nic = ("user,model=lan9118,restrict=on,"
           "hostfwd=tcp:127.0.0.1:%d-:25,"
           "guestfwd=tcp:10.0.2.100:25-cmd:/usr/bin/python3 %s %d"
           % (fwd, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "stdio_proxy.py"), sh_port))
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "mps2-an386", "-display", "none",
         "-monitor", "unix:%s,server=on,wait=off" % mon,
         "-serial", "file:" + uart, "-semihosting",
         "-nic", nic, "-kernel", ELF,
         # the config blob in its flash region (firmware.c: CONF_BLOB)
         "-device", "loader,file=%s,addr=0x21f00000,force-raw=on"
         % os.path.join(tmp, "edgemta.conf")], cwd=tmp, stdin=subprocess.DEVNULL)
    try:
        # one TLS session at a time (CONFIG_TLS_MAX_SESSIONS=1): while
        # the boot alert's delivery holds it, STARTTLS gets 454: again
        end = time.time() + 30
        sent = False
        body = "".join("line %04d %s\r\n" % (i, "z" * 50)
                       for i in range(100))
        while time.time() < end and not sent:
            try:
                with smtplib.SMTP("127.0.0.1", fwd, timeout=5) as s:
                    s.ehlo("host.test")
                    s.starttls(context=cctx)    # verifies 127.0.0.1
                    s.sendmail("host@test.example", ["ops@example.net"],
                               "Subject: from the host\r\n\r\n" + body)
                    sent = True
            except (OSError, smtplib.SMTPException):
                time.sleep(0.5)
        check("SMTP into the firmware over the LAN9118, STARTTLS with its "
              "certificate verified", sent)
        end = time.time() + 30
        while time.time() < end and len(got) < 2:
            time.sleep(0.2)
        texts = [d.decode("utf-8", "replace") for _, d in got]
        check("mail from the host relayed to the smarthost over STARTTLS",
              any("Subject: from the host" in t and t.endswith(body) and
                  "TLSv1.2" in t.split("\r\n\r\n")[0]
                  for t in texts), "got %d" % len(got))
        check("boot alert (submit API) relayed to the smarthost over "
              "STARTTLS",
              any("Subject: boot alert from mps2-an386" in t
                  for t in texts))
        log = open(uart).read()
        check("UART log: started, alert queued, both sent",
              "edgemta started on lwIP" in log and
              "boot alert queued" in log and
              log.count("status=sent") >= 2, log[-2000:])
        # the high-water mark after both handshakes (logged once a second
        # when it grew: a report has had time to come)
        time.sleep(2.5)
        peaks = [ln for ln in open(uart).read().split("\n")
                 if ln.startswith("memory: stack peak")]
        peak = peaks[-1] if peaks else None
        print("firmware after the TLS handshakes: %s" % peak)
        check("stack high-water mark + heap reported, within the %d bytes "
              "the RAM budget keeps for them" % STACK_HEAP,
              peak is not None and int(peak.split()[3]) +
              int(peak.split()[6]) < STACK_HEAP, str(peak))
        ctl.stop()          # the smarthost goes away: mail stays queued
        acked = reset_while_sending(fwd, mon)
        print("reset after %d acknowledged messages" % len(acked))
        check("messages acknowledged before the reset", len(acked) >= 2,
              "acked %d" % len(acked))
        end = time.time() + 30
        while time.time() < end and open(uart).read().count(
                "edgemta started on lwIP") < 2:
            time.sleep(0.2)
        del got[:]
        ctl = smarthost(sh_port)
        end = time.time() + 90
        while time.time() < end and not set(acked) <= subjects():
            time.sleep(0.3)
        lost = sorted(set(acked) - subjects())
        check("a reset mid-write loses no acknowledged message", not lost,
              "lost %s; uart: %s" % (lost[:5], open(uart).read()[-1500:]))
    finally:
        qemu.kill()
        qemu.wait()
        try:
            ctl.stop()
        except (AssertionError, RuntimeError):
            pass            # already stopped
    return report("qemu_fw_test")


sys.exit(main())
