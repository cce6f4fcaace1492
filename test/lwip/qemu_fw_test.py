#!/usr/bin/python3
"""qemu_fw_test.py ELF - the mps2-an386 firmware
(platform/lwip/boards/mps2-an386/firmware.c) under qemu-system-arm, with
qemu's user-mode network restricted to forwards on the host's loopback:
127.0.0.1:FWD -> the firmware's port 25, and the firmware's relayhost
10.0.2.100:25 -> an aiosmtpd smarthost on 127.0.0.1. Mail sent over SMTP
from the host and the firmware's boot alert (the in-process submit API)
must both reach the smarthost; the firmware's log is read from its UART.
Prints "qemu_fw_test: N passed, N failed"."""
import os
import smtplib
import subprocess
import sys
import tempfile
import time

from aiosmtpd.controller import Controller

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from checks import check, report  # noqa: E402
from helpers import free_port  # noqa: E402

ELF = os.path.abspath(sys.argv[1])
got = []






class Sink:
    async def handle_DATA(self, server, session, envelope):
        got.append((envelope.mail_from, envelope.original_content))
        return "250 2.0.0 Ok: sunk"


def main():
    sh_port, fwd = free_port(), free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=sh_port)
    ctl.start()
    tmp = tempfile.mkdtemp(prefix="edgemta-fw.")
    with open(os.path.join(tmp, "edgemta.conf"), "w") as f:
        f.write("listen = 10.0.2.15:25 smtp\n"
                "mynetworks = 10.0.2.0/24\n"
                "relayhost = [10.0.2.100]:25\n"
                "smtp_tls_security_level = none\n"
                "minimal_backoff_time = 1s\n"
                "queue_size = 256k\n")
    uart = os.path.join(tmp, "uart.log")
    nic = ("user,model=lan9118,restrict=on,"
           "hostfwd=tcp:127.0.0.1:%d-:25,"
           "guestfwd=tcp:10.0.2.100:25-tcp:127.0.0.1:%d" % (fwd, sh_port))
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", "mps2-an386", "-display", "none",
         "-monitor", "none", "-serial", "file:" + uart, "-semihosting",
         "-nic", nic, "-kernel", ELF], cwd=tmp, stdin=subprocess.DEVNULL)
    try:
        end = time.time() + 30
        banner = None
        while time.time() < end and banner is None:
            try:
                with smtplib.SMTP("127.0.0.1", fwd, timeout=5) as s:
                    code, banner = s.ehlo("host.test")
                    body = "".join("line %04d %s\r\n" % (i, "z" * 50)
                                   for i in range(100))
                    s.sendmail("host@test.example", ["ops@example.net"],
                               "Subject: from the host\r\n\r\n" + body)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.5)
        check("SMTP into the firmware over the LAN9118", banner is not None)
        end = time.time() + 30
        while time.time() < end and len(got) < 2:
            time.sleep(0.2)
        texts = [d.decode("utf-8", "replace") for _, d in got]
        check("mail from the host relayed to the smarthost",
              any("Subject: from the host" in t and t.endswith(body)
                  for t in texts), "got %d" % len(got))
        check("boot alert (submit API) relayed to the smarthost",
              any("Subject: boot alert from mps2-an386" in t
                  for t in texts))
        log = open(uart).read()
        check("UART log: started, alert queued, both sent",
              "edgemta started on lwIP" in log and
              "boot alert queued" in log and
              log.count("status=sent") >= 2, log[-2000:])
    finally:
        qemu.kill()
        qemu.wait()
        ctl.stop()
    return report("qemu_fw_test")


sys.exit(main())
