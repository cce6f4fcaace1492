"""The OpenWrt package (packaging/openwrt/edgemta): its procd init script
run under a stand-in for OpenWrt's shell functions (test/openwrt/, with
dash and BusyBox's ash, the shell of OpenWrt), turning UCI files, hostile
ones included, into edgemta.conf that `edgemta check` accepts, recording
the procd calls; and the package Makefile checked for what OpenWrt's
buildroot requires. No OpenWrt image or SDK is reachable from here."""
import os
import re
import subprocess

import helpers
from helpers import BIN, run_bin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PKG = os.path.join(ROOT, "packaging", "openwrt", "edgemta")
INIT = os.path.join(PKG, "files", "edgemta.init")
RC = os.path.join(ROOT, "test", "openwrt", "rc.common")
SHELLS = [["dash"], ["busybox", "sh"]]


class OpenWrt(helpers.RelayTest):

    def uci(self, text=None):
        """Write etc/config/edgemta (the shipped file when text is None),
        with the queue under self.tmp."""
        d = os.path.join(self.tmp, "etc", "config")
        os.makedirs(d, exist_ok=True)
        if text is None:
            with open(os.path.join(PKG, "files", "edgemta.config")) as f:
                text = f.read()
        text = text.replace("/etc/edgemta/queue",
                            os.path.join(self.tmp, "q", "queue"))
        with open(os.path.join(d, "edgemta"), "w") as f:
            f.write(text)

    def init(self, shell, action="start"):
        self.conf = os.path.join(self.tmp, "var", "etc", "edgemta.conf")
        self.secret = os.path.join(self.tmp, "var", "etc", "edgemta.secret")
        self.procd = os.path.join(self.tmp, "procd.log")
        if os.path.exists(self.procd):
            os.unlink(self.procd)
        env = dict(os.environ, UCI_CONFIG_DIR=os.path.join(
            self.tmp, "etc", "config"), PROCD_LOG=self.procd,
            TEST_PROG=BIN, TEST_CONF=self.conf, TEST_SECRET=self.secret)
        return subprocess.run(shell + [RC, INIT, action], env=env,
                              capture_output=True, text=True, timeout=60,
                              cwd=self.tmp)

    def read(self, path):
        with open(path) as f:
            return f.read()

    def procd_calls(self):
        if not os.path.exists(self.procd):
            return []
        return [line.split("|") for line in self.read(self.procd).split("\n")
                if line]

    def test_shipped_uci_file(self):
        self.uci()
        for sh in SHELLS:
            p = self.init(sh)
            self.assertEqual(p.returncode, 0, sh + [p.stdout, p.stderr])
            conf = self.read(self.conf)
            lines = [x for x in conf.splitlines() if not x.startswith("#")]
            self.assertEqual(lines, [
                "local_socket = /var/run/edgemta/edgemta.sock",
                "mynetworks = 127.0.0.0/8 [::1]/128 192.168.1.0/24",
                "queue_path = %s/q/queue" % self.tmp,
                "queue_size = 512k",
                "message_size_limit = 10M",
                # the disabled [::1] listener is left out
                "listen = 0.0.0.0:25 smtp",
                "aliases = root postmaster: admin@example.com"])
            self.assertEqual(os.stat(self.conf).st_mode & 0o777, 0o644)
            self.assertFalse(os.path.exists(self.secret))
            self.assertEqual(self.procd_calls(), [
                ["open_instance"],
                ["set_param", "command", BIN, "-f", "-c", self.conf],
                ["set_param", "respawn", "3600", "5", "5"],
                ["set_param", "file", self.conf, "/etc/config/edgemta"],
                ["set_param", "stderr", "1"],
                ["close_instance"]])
            p = run_bin([BIN, "-c", self.conf, "check"])
            self.assertEqual(p.returncode, 0, p.stderr)
            p = self.init(sh, "triggers")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.procd_calls(),
                             [["reload_trigger", "edgemta"]])

    def test_disabled_service_starts_nothing(self):
        self.uci("config edgemta 'main'\n\toption enabled '0'\n")
        p = self.init(SHELLS[1])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.procd_calls(), [])

    def test_credentials_stay_in_a_0600_file(self):
        self.uci("config edgemta 'main'\n"
                 "\toption relayhost '[127.0.0.1]:2587'\n"
                 "\toption username 'nas@example.com'\n"
                 "\toption password \"p4ss 'w=rd\"\n"
                 "config listen\n\toption address '::'\n"
                 "\toption port '2525'\n\toption mode 'smtp'\n")
        for sh in SHELLS:
            p = self.init(sh)
            self.assertEqual(p.returncode, 0, p.stderr)
            conf = self.read(self.conf)
            self.assertNotIn("p4ss", conf)
            self.assertIn("smtp_sasl_password_file = %s\n" % self.secret,
                          conf)
            self.assertIn("listen = [::]:2525 smtp\n", conf)
            self.assertEqual(os.stat(self.secret).st_mode & 0o777, 0o600)
            self.assertEqual(self.read(self.secret),
                             "nas@example.com:p4ss 'w=rd\n")

    def test_hostile_values_never_inject_a_line(self):
        """A newline, ';', quotes or '=' inside a UCI value: the start is
        refused (or edgemta check refuses the value), the previous good
        configuration stays, no extra line appears, no command runs."""
        self.uci()
        self.assertEqual(self.init(SHELLS[0]).returncode, 0)
        good = self.read(self.conf)
        pwned = os.path.join(self.tmp, "pwned")
        cases = [
            # a second line smuggled into relayhost
            "\toption relayhost \"[a.example]:587\nlisten = 0.0.0.0:2600 "
            "smtp\"\n",
            # the same through a listen section
            "config listen\n\toption address \"0.0.0.0:26 smtp\nrelayhost "
            "= [evil.example]\"\n\toption port '25'\n",
            # another alias smuggled in with ';'
            "\tlist alias 'root: a@example.com; evil: x@evil.example'\n",
            # shell metacharacters and '=' are data, never code
            "\toption myhostname \"x'; touch %s; '\"\n" % pwned,
            "\toption mynetworks '127.0.0.0/8 = 10.0.0.0/8'\n",
            "\toption listen 'ignored'\n\toption queue_size '1M$(touch %s)'\n"
            % pwned,
        ]
        for case in cases:
            text = "config edgemta 'main'\n" + case
            if not case.startswith("config"):
                text += "config listen\n\toption port '25'\n"
            else:
                text = "config edgemta 'main'\n" + case
            self.uci(text)
            for sh in SHELLS:
                p = self.init(sh)
                self.assertNotEqual(p.returncode, 0, (case, p.stderr))
                self.assertEqual(self.read(self.conf), good, case)
                self.assertEqual(self.procd_calls(), [], case)
                self.assertFalse(os.path.exists(pwned), case)
                self.assertTrue(p.stderr.strip(), case)

    def test_init_keys_are_real_keys(self):
        """Every key the init script copies exists in edgemta.conf(5)'s
        code (`edgemta config`), so a rename cannot silently break it."""
        m = re.search(r'^KEYS="([^"]*)"', self.read(INIT), re.M)
        keys = m.group(1).split()
        self.assertGreater(len(keys), 10)
        p = run_bin([BIN, "-c", "/dev/null", "config"])
        real = set(re.findall(r"^(\w+) =", p.stdout, re.M))
        self.assertEqual(sorted(set(keys) - real), [])

    def test_package_makefile(self):
        mk = self.read(os.path.join(PKG, "Makefile"))
        for want in [r"^include \$\(TOPDIR\)/rules\.mk$",
                     r"^PKG_NAME:=edgemta$", r"^PKG_RELEASE:=\d+$",
                     r"^PKG_LICENSE:=", r"^PKG_SOURCE:=",
                     r"^include \$\(INCLUDE_DIR\)/package\.mk$",
                     r"^define Package/edgemta$", r"^  SECTION:=mail$",
                     r"^  CATEGORY:=Mail$", r"^  TITLE:=", r"^  DEPENDS:=$",
                     r"200:/usr/sbin/sendmail:/usr/sbin/edgemta",
                     r"200:/usr/bin/mailq:/usr/sbin/edgemta",
                     r"^define Package/edgemta/description$",
                     r"^define Package/edgemta/conffiles\n/etc/config/"
                     r"edgemta$",
                     r"^define Package/edgemta/install$",
                     r"^define Build/Compile$",
                     r"^\$\(eval \$\(call BuildPackage,edgemta\)\)$"]:
            self.assertRegex(mk, re.compile(want, re.M))
        # the version is edgemta's own
        with open(os.path.join(ROOT, "core", "edgemta.h")) as f:
            ver = re.search(r'EDGEMTA_VERSION "([^"]+)"', f.read()).group(1)
        self.assertIn("PKG_VERSION:=%s\n" % ver, mk)
        # every Kconfig symbol it sets exists in edgemta's Kconfig
        kconfig = self.read(os.path.join(ROOT, "Kconfig"))
        syms = set(re.findall(r"\bCONFIG_([A-Z0-9_]+)=", mk))
        self.assertGreater(len(syms), 5)
        for s in syms:
            self.assertRegex(kconfig, re.compile(r"^config %s$" % s, re.M))
        # the package's Config.in symbols are the ones the Makefile reads
        cin = self.read(os.path.join(PKG, "Config.in"))
        for s in re.findall(r"^config (EDGEMTA_\w+)$", cin, re.M):
            self.assertIn("CONFIG_%s" % s, mk)
        self.assertTrue(os.access(INIT, os.X_OK))
        self.assertTrue(self.read(INIT).startswith(
            "#!/bin/sh /etc/rc.common\n"))
        self.assertIn("USE_PROCD=1\n", self.read(INIT))


if __name__ == "__main__":
    import unittest
    unittest.main()
