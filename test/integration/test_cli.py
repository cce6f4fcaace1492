"""The admin command line: queue list/show/delete/flush with and without a
daemon, a queue from a newer edgemta, daemon mode and SIGTERM.
(Config errors and check/config are in test_config.py.)"""
import os
import re
import signal
import socket
import struct
import subprocess
import time
import zlib

import helpers
from helpers import BIN, Smtp, queue_id, run_bin


def body(n):
    return ("Subject: cli %d\r\n\r\nline %d\r\n" % (n, n)).encode()


class Cli(helpers.RelayTest):

    def conf(self, text, name="e.conf"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_cli(self, *args, **kw):
        return run_bin([BIN] + [str(a) for a in args], cwd=self.tmp, **kw)

    def test_queue_admin_with_and_without_daemon(self):
        r = self.relay(queue_size="1M")
        self.assertEqual(r.queue_list(), [])
        ids = []
        with Smtp(r.port) as s:
            s.ehlo()
            for i in range(3):
                code, text = s.send_message("a@example.com",
                                            ["b@example.org"], body(i))
                self.assertEqual(code, 250, text)
                ids.append(queue_id(text))
        self.assertEqual(r.queue_ids(), ids)
        # a second daemon on the same queue is refused with 75
        p = self.run_cli("-f", "-c", r.conf, timeout=20)
        self.assertEqual(p.returncode, 75, p.stderr)
        self.assertIn("in use by another edgemta process", p.stderr)
        p = self.run_cli("-c", r.conf, "queue", "show", "FFFFFFF0")
        self.assertEqual((p.returncode, p.stderr),
                         (1, "FFFFFFF0: no such message\n"))
        self.assertEqual(r.stop(), 0)
        self.assertIn("stopped", r.log_text())
        # no daemon: list still works, flush says so, delete works offline
        self.assertEqual(r.queue_ids(), ids)
        p = r.cli("queue", "flush")
        self.assertEqual(p.returncode, 75)
        self.assertIn("edgemta is not running; nothing to flush", p.stderr)
        p = r.cli("queue", "delete", ids[1])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ids[1], p.stdout)
        self.assertEqual(r.queue_ids(), [ids[0], ids[2]])
        p = r.cli("queue", "delete", ids[1])
        self.assertEqual(p.returncode, 1)
        p = r.cli("queue", "delete", "all")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("2 messages deleted", p.stdout)
        self.assertEqual(r.queue_ids(), [])
        r.start()
        self.assertEqual(r.queue_ids(), [])

    def test_newer_queue_is_refused_untouched(self):
        r = self.relay(queue_size="1M")
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        body(1))
            self.assertEqual(code, 250, text)
        self.assertEqual(r.stop(), 0)
        with open(r.queue_path, "r+b") as f:
            d = bytearray(f.read())
            bs = 4096
            for b in range(0, len(d), bs):
                if d[b:b + 3] == b"EMQ":
                    d[b + 3] = 200
                    d[b + 12:b + 16] = struct.pack(
                        "<I", zlib.crc32(bytes(d[b:b + 12])))
            f.seek(0)
            f.write(d)
        before = bytes(d)
        p = self.run_cli("-f", "-c", r.conf, timeout=20)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertIn("queue was written by a newer edgemta; refusing to "
                      "start (nothing was changed)", p.stderr)
        with open(r.queue_path, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_daemon_mode_and_sigterm(self):
        """Without -f: exit 0 once serving, then SIGTERM stops it."""
        r = self.relay(start=False)
        p = self.run_cli("-c", r.conf, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        helpers.wait_until(lambda: helpers._listening(r.port), 10)
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        body(7))
            self.assertEqual(code, 250, text)
        pid = self.daemon_pid(r.conf)
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(helpers.wait_until(lambda: self.gone(pid), 20),
                        "still running")
        self.assertEqual(len(r.queue_ids()), 1)

    def daemon_pid(self, conf_arg):
        """PID of the detached daemon started as `BIN -c conf_arg`."""
        pid = None
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if conf_arg.encode() in argv and BIN.encode() == argv[0]:
                    pid = int(d)
        self.assertIsNotNone(pid, "daemon process not found")
        return pid

    @staticmethod
    def gone(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split()[2] == "Z"
        except OSError:
            return True

    def test_daemon_reload_relative_config(self):
        """A daemon started with a relative -c path (it changes to / when
        it detaches) finds the file again on SIGHUP."""
        r = self.relay(start=False)
        name = os.path.basename(self.tmp) + ".conf"
        path = os.path.join(r.tmpdir, name)
        with open(r.conf) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text)
        p = run_bin([BIN, "-c", name], cwd=r.tmpdir, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        pid = self.daemon_pid(name)
        self.addCleanup(lambda: self.gone(pid) or os.kill(pid, signal.SIGKILL))

        def rcpt():
            with Smtp(r.port) as s:
                s.ehlo()
                self.assertEqual(s.cmd("MAIL FROM:<a@example.org>")[0], 250)
                return s.cmd("RCPT TO:<b@example.net>")[0]
        self.assertEqual(rcpt(), 250)
        with open(path, "w") as f:
            f.write(text.replace("mynetworks = 127.0.0.0/8",
                                 "mynetworks = 192.0.2.0/24"))
        os.kill(pid, signal.SIGHUP)
        self.assertTrue(helpers.wait_until(lambda: rcpt() == 554, 10),
                        "the reload did not take the new mynetworks")
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(helpers.wait_until(lambda: self.gone(pid), 20),
                        "still running")

    def test_syslog_datagrams(self):
        """-s logs to /dev/log: one RFC 3164 datagram per line, mail
        facility, "ident[pid]:"; after syslogd is restarted (a new socket
        at the same path) the next line still arrives. /dev/log is a link
        to the test's socket in a private mount namespace (tmpfs on /dev)."""
        r = self.relay(start=False)
        path = os.path.join(self.tmp, "log.sock")

        def listen():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(path)
            s.settimeout(0.2)
            self.addCleanup(s.close)
            return s

        def wait_for(s, text, got):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    got.append(s.recv(4096).decode())
                except socket.timeout:
                    continue
                if text in got[-1]:
                    return got[-1]
            self.fail("no syslog line with %r in %r" % (text, got))

        s = listen()
        p = helpers.spawn(
            ["unshare", "-m", "sh", "-c",
             "mount --make-rprivate / && mount -t tmpfs none /dev && "
             "ln -s \"$1\" /dev/log && exec \"$2\" -f -s -c \"$3\"",
             "sh", path, BIN, r.conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(helpers.reap, p)
        got = []
        line = wait_for(s, " started: ", got)
        m = re.match(r"<(\d+)>([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) "
                     r"edgemta\[(\d+)\]: edgemta \S+ started: ", line)
        self.assertTrue(m, line)
        self.assertEqual(int(m.group(1)), 2 * 8 + 6)  # LOG_MAIL|LOG_INFO
        self.assertEqual(int(m.group(3)), p.pid)
        self.assertNotIn("\n", line)
        # syslogd restarts: its socket is a new one
        s.close()
        os.unlink(path)
        s = listen()
        helpers.wait_until(lambda: helpers._listening(r.port), 10)
        with Smtp(r.port) as c:
            c.ehlo()
        wait_for(s, "connect from ", got)
        os.kill(p.pid, signal.SIGTERM)
        wait_for(s, "stopped", got)
        self.assertEqual(p.wait(timeout=20), 0, p.stderr.read())

    def test_options(self):
        """The daemon's options: bundled, -cFILE, "--" before the command;
        a wrong one is a usage error (64) that names it."""
        r = self.relay(start=False)
        for argv in (["-c", r.conf, "check"], ["-c" + r.conf, "check"],
                     ["-vc", r.conf, "check"], ["-c", r.conf, "--", "check"]):
            p = self.run_cli(*argv)
            self.assertEqual(p.returncode, 0, (argv, p.stderr))
        for argv, msg in ((["-x"], "unknown option -x"),
                          (["-c"], "option -c needs a file"),
                          (["-vq", "check"], "unknown option -q")):
            p = self.run_cli(*argv)
            self.assertEqual(p.returncode, 64, (argv, p.stderr))
            self.assertIn(msg, p.stderr)
            self.assertIn("usage", p.stderr.lower())
