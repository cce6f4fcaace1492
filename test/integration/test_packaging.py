"""Installing edgemta: `make install` layout, the systemd unit (checked by
systemd-analyze verify), readiness over NOTIFY_SOCKET, the man pages
(mandoc -Tlint) and edgemta.conf(5) kept in step with `edgemta config`.
(The OpenWrt package is tested in test_openwrt.py.)"""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess

import helpers
from helpers import BIN, run_bin
from test_delivery import DeliveryBase

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MAN = os.path.join(ROOT, "man")


def conf5_keys():
    """Keys documented in edgemta.conf(5): `.It Cm KEY No = ...`, several
    per entry separated by `, Cm KEY2`."""
    keys = set()
    with open(os.path.join(MAN, "edgemta.conf.5")) as f:
        for line in f:
            if line.startswith(".It Cm "):
                keys.update(re.findall(r"Cm (\w+) No =", line))
    return keys


class Packaging(DeliveryBase):

    def install(self, prefix):
        build = os.path.dirname(BIN)
        p = subprocess.run(
            ["make", "--no-print-directory", "-C", ROOT, "BUILD=" + build,
             "KCONFIG_CONFIG=" + os.path.join(build, ".config"),
             "PREFIX=" + prefix, "install"],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_make_install_layout(self):
        prefix = os.path.join(self.tmp, "usr")
        self.install(prefix)
        for path, kind in [
                ("sbin/edgemta", "x"), ("sbin/sendmail", "l"),
                ("bin/mailq", "l"),
                ("share/man/man8/edgemta.8", "f"),
                ("share/man/man8/sendmail.8", "f"),
                ("share/man/man8/mailq.8", "l"),
                ("share/man/man5/edgemta.conf.5", "f"),
                ("lib/systemd/system/edgemta.service", "f"),
                ("share/doc/edgemta/edgemta.conf.example", "f")]:
            full = os.path.join(prefix, path)
            self.assertTrue(os.path.exists(full), path)
            if kind == "x":
                self.assertTrue(os.access(full, os.X_OK), path)
            if kind == "l":
                self.assertTrue(os.path.islink(full), path)
        # the links are the multi-call binary under its other names
        p = run_bin([os.path.join(prefix, "bin/mailq"), "-C",
                     "/nonexistent.conf"])
        self.assertEqual(p.returncode, 78, p.stderr)
        with open(os.path.join(prefix, "lib/systemd/system/"
                               "edgemta.service")) as f:
            unit = f.read()
        self.assertNotIn("@SBINDIR@", unit)
        self.assertIn("ExecStart=%s/sbin/edgemta " % prefix, unit)

    def test_systemd_unit_verifies(self):
        """systemd-analyze verify: syntax, every key known, the binary
        executable, the man pages of Documentation= found."""
        prefix = os.path.join(self.tmp, "usr")
        self.install(prefix)
        unit = os.path.join(prefix, "lib/systemd/system/edgemta.service")
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
        p = subprocess.run(["systemd-analyze", "verify", unit], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, "")
        with open(unit) as f:
            text = f.read()
        for want in ["Type=notify", "RuntimeDirectory=edgemta",
                     "ExecReload=/bin/kill -HUP $MAINPID",
                     "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "PrivateTmp=yes",
                     "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                     "SystemCallFilter=@system-service"]:
            self.assertIn(want + "\n", text)
        # a mistyped key is what verify exists to catch: prove it does
        bad = os.path.join(self.tmp, "edgemta.service")
        with open(bad, "w") as f:
            f.write(text.replace("ProtectSystem=", "ProtectSystm="))
        p = subprocess.run(["systemd-analyze", "verify", bad], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertIn("Unknown key", p.stdout + p.stderr)

    def test_ready_and_stopping_notifications(self):
        """Type=notify: READY=1 once the listener accepts, STOPPING=1 on
        SIGTERM, sent by edgemta itself to NOTIFY_SOCKET."""
        path = os.path.join(self.tmp, "notify")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(ns.close)
        ns.bind(path)
        ns.settimeout(15)
        old = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = path
        try:
            r = self.relay(start=False)
            r.start()
        finally:
            if old is None:
                del os.environ["NOTIFY_SOCKET"]
            else:
                os.environ["NOTIFY_SOCKET"] = old
        msg = ns.recv(4096).decode()
        self.assertIn("READY=1", msg.split("\n"))
        with helpers.Smtp(r.port) as s:
            s.ehlo()
        self.assertEqual(r.stop(), 0)
        self.assertEqual(ns.recv(4096).decode(), "STOPPING=1")

    def test_socket_directory_created_for_everyone(self):
        """The default local_socket is /run/edgemta/edgemta.sock: the
        daemon creates the socket's directory 0755 (sendmail users must
        reach it), whatever the umask."""
        sockdir = os.path.join(self.tmp, "run", "edgemta")
        r = self.relay(start=False)
        with open(r.conf, "a") as f:
            f.write("local_socket = %s/edgemta.sock\n" % sockdir)
        r.socket_path = os.path.join(sockdir, "edgemta.sock")
        old = os.umask(0o077)
        try:
            r.start()
        finally:
            os.umask(old)
        self.assertEqual(os.stat(sockdir).st_mode & 0o777, 0o755)
        p = run_bin([BIN, "-c", r.conf, "queue", "flush"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_runs_as_user_after_binding(self):
        """user = nobody: listeners and queue opened as root, then the
        daemon is nobody for good; intake, sendmail, admin commands and
        delivery still work."""
        nobody = pwd.getpwnam("nobody")
        sh = self.smarthost()
        r = self.relay_to(sh.port, start=False)
        with open(r.conf, "a") as f:
            f.write("user = nobody\n")
        r.start()
        self.assertTrue(helpers.wait_until(
            lambda: "running as user nobody" in r.log_text(), 10))
        with open("/proc/%d/status" % r.pid) as f:
            status = f.read()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        self.assertEqual(set(uids), {str(nobody.pw_uid)})
        self.assertEqual(set(gids), {str(nobody.pw_gid)})
        # supplementary groups: nobody's own, none of root's
        groups = re.search(r"^Groups:\s*(.*)$", status, re.M).group(1)
        self.assertEqual(set(groups.split()), {str(g) for g in
                         os.getgrouplist("nobody", nobody.pw_gid)})
        self.send(r, [b"Subject: as nobody\r\n\r\nhi\r\n"])
        p = run_bin([BIN, "sendmail", "-C", r.conf, "-i",
                     "bob@example.net"], input=b"Subject: sm\n\nhi\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_msgs(sh, 2)
        self.wait_queue_empty(r)
        p = r.cli("queue", "flush")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(r.stop(), 0)

    def test_unknown_user_is_a_config_error(self):
        r = self.relay(start=False)
        with open(r.conf, "a") as f:
            f.write("user = no-such-user-here\n")
        for args in (["check"], ["-f"]):
            p = run_bin([BIN, "-c", r.conf] + args, timeout=20)
            self.assertEqual(p.returncode, 78, p.stderr)
            self.assertIn("user = no-such-user-here: no such user",
                          p.stderr)

    def test_sighup_reloads_configuration(self):
        """SIGHUP (systemd's ExecReload) re-reads the file: mynetworks
        takes effect for new sessions at once, an open session and the
        queue are untouched, a key that needs a restart is named, and a
        broken file changes nothing."""
        r = self.relay()
        self.send(r, [b"Subject: kept\r\n\r\nx\r\n"])
        with open(r.conf) as f:
            orig = f.read()
        old = helpers.Smtp(r.port)
        self.addCleanup(old.close)
        old.ehlo()
        with open(r.conf, "w") as f:
            f.write(orig.replace("mynetworks = 127.0.0.0/8",
                                 "mynetworks = 192.0.2.0/24") +
                    "smtpd_timeout = 2m\nrelayhost = [127.0.0.1]:2\n")
        os.kill(r.pid, signal.SIGHUP)
        self.assertTrue(helpers.wait_until(
            lambda: "reload:" in r.log_text(), 10), r.log_tail())
        log = r.log_text()
        self.assertIn("in effect now: mynetworks, smtpd_timeout", log)
        self.assertIn("in effect only after a restart (the running values "
                      "are kept): relayhost", log)
        # a new session from 127.0.0.1 may no longer relay
        with helpers.Smtp(r.port) as s:
            s.ehlo()
            self.assertEqual(s.cmd("MAIL FROM:<a@example.org>")[0], 250)
            code, text = s.cmd("RCPT TO:<b@example.net>")
            self.assertEqual(code, 554, text)
        # the session opened before the reload keeps going
        code, text = old.send_message("a@example.org", ["c@example.net"],
                                      b"Subject: old\r\n\r\ny\r\n")
        self.assertEqual(code, 250, text)
        self.assertEqual(len(r.queue_list()), 2)
        # a broken file: logged, the running configuration stays
        with open(r.conf, "a") as f:
            f.write("no_such_key = 1\n")
        os.kill(r.pid, signal.SIGHUP)
        self.assertTrue(helpers.wait_until(
            lambda: "the running configuration is kept" in r.log_text(),
            10), r.log_tail())
        self.assertIn("no_such_key", r.log_text())
        self.assertTrue(r.running())
        self.assertEqual(r.stop(), 0)

    def test_busybox_init_script(self):
        """packaging/sysv/edgemta under BusyBox's sh and start-stop-daemon:
        start (ready when it answers), status, reload (a new mynetworks
        in effect), stop (clean), status again."""
        bbdir = os.path.join(self.tmp, "bb")
        os.makedirs(bbdir)
        for applet in ["start-stop-daemon", "sleep", "cat", "rm", "kill"]:
            os.symlink(shutil.which("busybox"), os.path.join(bbdir, applet))
        r = self.relay(start=False)
        pidfile = os.path.join(self.tmp, "edgemta.pid")
        env = dict(os.environ, EDGEMTA_DAEMON=BIN, EDGEMTA_CONF=r.conf,
                   EDGEMTA_PIDFILE=pidfile,
                   PATH=bbdir + ":" + os.environ["PATH"])

        def init(action):
            return subprocess.run(
                ["busybox", "sh", os.path.join(ROOT, "packaging", "sysv",
                                               "edgemta"), action],
                env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(init("status").returncode, 3)
        p = init("start")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(pidfile) as f:
            pid = int(f.read())
        def kill_left():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.addCleanup(kill_left)
        p = init("status")
        self.assertEqual(p.returncode, 0)
        self.assertIn("running (pid %d)" % pid, p.stdout)
        self.send(r, [b"Subject: init\r\n\r\nx\r\n"])
        with open(r.conf) as f:
            text = f.read()
        with open(r.conf, "w") as f:
            f.write(text.replace("mynetworks = 127.0.0.0/8",
                                 "mynetworks = 192.0.2.0/24"))
        self.assertEqual(init("reload").returncode, 0)

        def denied():
            with helpers.Smtp(r.port) as s:
                s.ehlo()
                s.cmd("MAIL FROM:<a@example.org>")
                return s.cmd("RCPT TO:<b@example.net>")[0] == 554
        self.assertTrue(helpers.wait_until(denied, 10))
        p = init("stop")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(pidfile))
        self.assertRaises(ProcessLookupError, os.kill, pid, 0)
        self.assertEqual(init("status").returncode, 3)
        self.assertEqual(len(r.queue_list()), 1)

    def test_man_pages_lint_clean(self):
        for page in ["edgemta.8", "edgemta.conf.5", "sendmail.8"]:
            p = subprocess.run(["mandoc", "-Tlint", "-W", "warning",
                                os.path.join(MAN, page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_conf5_documents_every_key(self):
        """Every key `edgemta config` prints has an entry in
        edgemta.conf(5), and every entry there is a real key."""
        p = run_bin([BIN, "-c", "/dev/null", "config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        code_keys = set(re.findall(r"^(\w+) =", p.stdout, re.M))
        self.assertGreater(len(code_keys), 20)
        doc_keys = conf5_keys()
        self.assertEqual(sorted(code_keys - doc_keys), [],
                         "keys missing from man/edgemta.conf.5")
        self.assertEqual(sorted(doc_keys - code_keys), [],
                         "edgemta.conf.5 documents keys that do not exist")


if __name__ == "__main__":
    import unittest
    unittest.main()
