"""Runtime configuration file: errors with file:line, check, config."""
import os
import re

import helpers
from helpers import EX_CONFIG

KEYS = ["listen", "mynetworks", "queue_path", "queue_size",
        "message_size_limit", "local_socket", "smtpd_timeout", "relayhost",
        "myhostname"]

BAD_LINES = [
    ("unknown key", "no_such_key = 1"),
    ("bad number", "queue_size = 12X"),
    ("bad number", "message_size_limit = lots"),
    ("negative number", "message_size_limit = -5"),
    ("bad time", "smtpd_timeout = soon"),
    ("bad listen mode", "listen = 127.0.0.1:2599 bogusmode"),
    ("bad listen port", "listen = 127.0.0.1:99999 smtp"),
    ("bad listen address", "listen = 300.1.1.1:25 smtp"),
    ("bad prefix", "mynetworks = 10.0.0.0/33"),
    ("bad network", "mynetworks = 10.0.0/8x"),
    ("missing '='", "myhostname test.example"),
    ("empty key", "= 5"),
]


class Config(helpers.RelayTest):

    def write_conf(self, bad_line):
        """A good config with bad_line at line 4. Returns (relay, path)."""
        d = os.path.join(self.tmp, "c%d" % len(os.listdir(self.tmp)))
        os.makedirs(d)
        r = helpers.Relay(d, start=False)
        with open(r.conf) as f:
            lines = f.read().splitlines()
        lines.insert(3, bad_line)
        with open(r.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return r

    def test_bad_lines_check(self):
        """`edgemta -c FILE check` on a file with one bad line: exit 78 and
        'FILE:4:' (the line of the error) on stderr."""
        for what, line in BAD_LINES:
            with self.subTest(what=what, line=line):
                r = self.write_conf(line)
                p = r.cli("check")
                self.assertEqual(p.returncode, EX_CONFIG, p.stdout + p.stderr)
                self.assertIn("%s:4:" % r.conf, p.stderr)
                self.assertNotIn("config OK", p.stdout)

    def test_bad_lines_daemon(self):
        """The daemon (`-f -c FILE`) refuses to start on the same bad
        lines: exit 78, 'FILE:4:' on stderr, nothing listening."""
        for what, line in BAD_LINES:
            with self.subTest(what=what, line=line):
                r = self.write_conf(line)
                p = helpers.run_bin([helpers.BIN, "-f", "-c", r.conf],
                                    timeout=15, cwd=r.tmpdir)
                self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
                self.assertIn("%s:4:" % r.conf, p.stderr)
                self.assertFalse(helpers._listening(r.port))

    # Errors found after parsing (values checked across keys, files the
    # config names): still "FILE:LINE:" of the key (issue 11 point 6).
    LATE_BAD_LINES = [
        ("tls level", "smtp_tls_security_level = maybe"),
        ("fingerprint", "smtp_tls_fingerprint = ZZ:YY"),
        ("tls wrapper", "smtp_tls_wrapper = perhaps"),
        ("missing certificate", "smtpd_tls_cert_file = /nonexistent/c.pem"),
        ("missing users file", "smtpd_users_file = /nonexistent/users"),
        ("missing sasl file", "smtp_sasl_password_file = /nonexistent/pw"),
        ("backoff times", "maximal_backoff_time = 1s"),
        ("alias loop", "aliases = a: b; b: a"),
    ]

    def test_error_has_file_line_check(self):
        """`check`: exit 78 and 'FILE:4: KEY' for errors found after the
        line was read (cross-key checks, missing files, alias loops)."""
        for what, line in self.LATE_BAD_LINES:
            with self.subTest(what=what, line=line):
                r = self.write_conf(line)
                p = r.cli("check")
                self.assertEqual(p.returncode, EX_CONFIG, p.stdout + p.stderr)
                self.assertIn("%s:4: " % r.conf, p.stderr)
                self.assertIn(line.split()[0], p.stderr)
                self.assertNotIn("config OK", p.stdout)

    def test_error_has_file_line_daemon(self):
        """The daemon refuses the same lines with exit 78 and FILE:4:."""
        for what, line in self.LATE_BAD_LINES:
            with self.subTest(what=what, line=line):
                r = self.write_conf(line)
                p = helpers.run_bin([helpers.BIN, "-f", "-c", r.conf],
                                    timeout=15, cwd=r.tmpdir)
                self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
                self.assertIn("%s:4: " % r.conf, p.stderr)
                self.assertIn(line.split()[0], p.stderr)
                self.assertFalse(helpers._listening(r.port))

    def test_error_has_file_line_listen_in_use(self):
        """A listener that cannot be opened (port taken): the daemon
        exits non-zero naming the listen line."""
        import socket
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        r = self.write_conf("listen = 127.0.0.1:%d smtp"
                            % busy.getsockname()[1])
        p = helpers.run_bin([helpers.BIN, "-f", "-c", r.conf], timeout=15,
                            cwd=r.tmpdir)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("%s:4: listen: cannot open the listeners" % r.conf,
                      p.stderr)

    def test_error_has_file_line_whole_file(self):
        """Errors about the whole file start with 'FILE:': a directory
        given as the config, a file over 64 KiB."""
        big = os.path.join(self.tmp, "big.conf")
        with open(big, "w") as f:
            f.write("# padding\n" * 7000)
        for path in (self.tmp, big):
            with self.subTest(path=path):
                for argv in ([helpers.BIN, "-c", path, "check"],
                             [helpers.BIN, "-f", "-c", path]):
                    p = helpers.run_bin(argv, timeout=15, cwd=self.tmp)
                    self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
                    self.assertTrue(p.stderr.startswith(path + ":"),
                                    p.stderr)

    def test_alias_loop_check(self):
        """An alias loop (also through @localhost and @myhostname, and
        a self-reference) fails `check` with the chain; aliases without a
        loop pass."""
        loops = [("a: b; b: a", "a -> b -> a"),
                 ("root: me@example.org, admin; admin: root@localhost",
                  "root -> admin -> root"),
                 ("x: y; y: z; z: X@test.example", "x -> y -> z -> X"),
                 ("a: a", "a -> a")]
        for aliases, chain in loops:
            with self.subTest(aliases=aliases):
                r = self.write_conf("aliases = " + aliases)
                p = r.cli("check")
                self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
                self.assertIn("%s:4: aliases: alias loop: %s"
                              % (r.conf, chain), p.stderr)
        r = self.write_conf("aliases = root postmaster: me@example.org; "
                            "backup: root, log@example.org")
        p = r.cli("check")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_warns_no_admin_with_smarthost(self):
        """On a relay to a smarthost, `check` warns (exit 0) when bounces
        to the admin have nowhere useful to go: bounce_notice_recipient
        empty, or a bare name without myorigin. No warning with an
        address, or without a relayhost."""
        cases = [("relayhost = [192.0.2.1]:25\nbounce_notice_recipient =",
                  "bounce_notice_recipient is empty"),
                 ("relayhost = [192.0.2.1]:25", "'postmaster' has no domain"),
                 ("relayhost = [192.0.2.1]:25\n"
                  "bounce_notice_recipient = me@example.org", None),
                 ("relayhost = [192.0.2.1]:25\nmyorigin = example.org",
                  None),
                 ("bounce_notice_recipient =", None)]
        for extra, warning in cases:
            with self.subTest(extra=extra):
                r = self.write_conf("# relayhost below")
                with open(r.conf, "a") as f:
                    f.write(extra + "\n")
                p = r.cli("check")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("config OK", p.stdout)
                if warning is None:
                    self.assertNotIn("warning", p.stderr)
                else:
                    self.assertIn("warning: %s:" % r.conf, p.stderr)
                    self.assertIn(warning, p.stderr)

    def test_check_and_config_good(self):
        """`check` on a good file exits 0 with 'config OK'; `config`
        prints every key as 'key = value' with the file's values, and its
        output is itself a valid config file."""
        r = self.write_conf("message_size_limit = 123456")
        p = r.cli("check")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("config OK", p.stdout + p.stderr)
        p = r.cli("config")
        self.assertEqual(p.returncode, 0, p.stderr)
        settings = {}
        for line in p.stdout.splitlines():
            m = re.match(r"^([A-Za-z0-9_]+) = ?(.*)$", line)
            self.assertTrue(m, "not key = value: %r" % line)
            settings.setdefault(m.group(1), []).append(m.group(2))
        for k in KEYS:
            self.assertIn(k, settings)
        self.assertEqual(settings["myhostname"], ["test.example"])
        self.assertEqual(settings["queue_path"], [r.queue_path])
        self.assertEqual(settings["local_socket"], [r.socket_path])
        self.assertEqual(settings["listen"], ["127.0.0.1:%d smtp" % r.port])
        self.assertIn(settings["message_size_limit"][0],
                      ("123456", "123456B"))
        self.assertEqual(settings["relayhost"], [""])
        again = os.path.join(r.tmpdir, "again.conf")
        with open(again, "w") as f:
            f.write(p.stdout)
        p2 = helpers.run_bin([helpers.BIN, "-c", again, "config"])
        self.assertEqual(p2.returncode, 0, p2.stderr)
        self.assertEqual(p2.stdout, p.stdout)

    def test_missing_file(self):
        """A config file that does not exist: non-zero exit, the file
        name on stderr."""
        path = os.path.join(self.tmp, "nope.conf")
        p = helpers.run_bin([helpers.BIN, "-c", path, "check"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(path, p.stderr)

    def test_second_daemon_refused(self):
        """A second daemon on the same queue_path refuses to start
        (non-zero exit, says the queue is in use); the first keeps
        working."""
        r = self.relay()
        d2 = os.path.join(self.tmp, "second")
        os.makedirs(d2)
        other = helpers.Relay(d2, start=False,
                              conf_extra="queue_path = %s" % r.queue_path)
        p = helpers.run_bin([helpers.BIN, "-f", "-c", other.conf],
                            timeout=15, cwd=d2)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"(?i)in use|locked")
        self.assertIn("queue", p.stderr)
        self.assertFalse(helpers._listening(other.port))
        with helpers.Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("a@example.com", ["b@example.org"],
                                        b"still here\r\n")
            self.assertEqual(code, 250, text)
        self.assertEqual(len(r.queue_list()), 1)

    def test_version(self):
        """`edgemta --version` exits 0 and prints EDGEMTA_VERSION."""
        with open(os.path.join(helpers.ROOT, "core/edgemta.h")) as f:
            ver = re.search(r'#define EDGEMTA_VERSION "([^"]+)"',
                            f.read()).group(1)
        p = helpers.run_bin([helpers.BIN, "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ver, p.stdout)
