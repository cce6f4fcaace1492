"""Local submission: the sendmail and mailq commands, driven by the real
programs that call them (s-nail, Python's subprocess, a cron-style job,
git send-email) against a running daemon's local socket."""
import os
import re
import shutil
import subprocess
import time

import helpers
from helpers import run_bin, spawn, reap, strip_received, bare_cr_lf

EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 64, 65, 75

ALIASES = ("aliases = root postmaster: admin@example.com; "
           "ops: a@example.com, b@example.com\n"
           "bounce_notice_recipient = alerts@example.org\n")


def header_block(stored):
    """The header lines of a stored message (Received: removed)."""
    rest = strip_received(stored)
    head = rest.split(b"\r\n\r\n", 1)[0]
    return head.decode("utf-8", "replace")


def headers(stored, name):
    """Values of every header field called name (unfolded)."""
    out = []
    for m in re.finditer(r"(?mi)^%s:[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)" %
                         re.escape(name), header_block(stored)):
        out.append(re.sub(r"\r\n", "", m.group(1)))
    return out


def body_of(stored):
    return strip_received(stored).split(b"\r\n\r\n", 1)[1]


class SendmailBase(helpers.RelayTest):
    """A relay with conf_extra, and tmp/sendmail, tmp/mailq symlinks."""

    conf_extra = ALIASES

    def setUp(self):
        super().setUp()
        self.r = self.relay(conf_extra=self.conf_extra)
        self.sendmail = os.path.join(self.tmp, "sendmail")
        self.mailq = os.path.join(self.tmp, "mailq")
        os.symlink(helpers.BIN, self.sendmail)
        os.symlink(helpers.BIN, self.mailq)
        self.env = dict(os.environ, EDGEMTA_CONFIG=self.r.conf)

    def sm(self, args, input=b"", env=None, timeout=60):
        """Run our sendmail (argv[0] "sendmail") with -C conf."""
        return run_bin([self.sendmail, "-C", self.r.conf] + list(args),
                       binary=True, input=input, timeout=timeout)

    def only_entry(self):
        q = self.r.queue_list()
        self.assertEqual(len(q), 1, "expected one queued message: %r" % q)
        return q[0], self.r.queue_show(q[0]["id"])

    def assert_nothing_queued(self):
        self.assertEqual(self.r.queue_list(), [])

    def assert_fixed_up(self, stored, msgid_re=r"^<[^<>@\s]+@test\.example>$"):
        """Date, Message-ID, From present once; CRLF only; no Bcc."""
        self.assertFalse(bare_cr_lf(stored), "bare CR/LF in %r" % stored)
        self.assertEqual(len(headers(stored, "Date")), 1, stored)
        ids = headers(stored, "Message-ID")
        self.assertEqual(len(ids), 1, stored)
        self.assertRegex(ids[0], msgid_re)
        self.assertEqual(len(headers(stored, "From")), 1, stored)
        self.assertEqual(headers(stored, "Bcc"), [])
        self.assertTrue(stored.endswith(b"\r\n"))

    CRON = (b"From: root (Cron Daemon)\n"
            b"To: root\n"
            b"Subject: Cron <root@nas> /usr/local/bin/backup.sh\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=UTF-8\n"
            b"Content-Transfer-Encoding: 8bit\n"
            b"X-Cron-Env: <SHELL=/bin/sh>\n"
            b"X-Cron-Env: <MAILTO=root>\n"
            b"\n"
            b"rsync: connection unexpectedly closed\n")


class SendmailTest(SendmailBase):

    # ---- real callers ----

    def test_python_subprocess_t_i(self):
        """A script pipes a message to `sendmail -t -i`: recipients from
        To/Cc/Bcc (folded, display names, groups, comments), Bcc removed,
        LF input stored as CRLF, Date/Message-ID/From added, a lone '.'
        line kept with -i."""
        msg = (b"To: \"Doe, John\" <john@example.com>, ops\n"
               b"Cc: Team: x@t.example, (c) y@t.example;\n"
               b"Bcc: hidden@example.net,\n"
               b"\thidden2@example.net\n"
               b"Subject: disk almost full\n"
               b"\n"
               b"/dev/sda1 is 95% full\n"
               b".\n"
               b"..twodots\n"
               b"no final newline")
        p = subprocess.run([self.sendmail, "-t", "-i"], input=msg,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "root@test.example")
        self.assertEqual(e["rcpts"], [
            "john@example.com", "a@example.com", "b@example.com",
            "x@t.example", "y@t.example", "hidden@example.net",
            "hidden2@example.net"])
        self.assert_fixed_up(stored)
        self.assertNotIn(b"hidden", stored)
        self.assertEqual(headers(stored, "From"), ["root@test.example"])
        self.assertEqual(headers(stored, "To"),
                         ['"Doe, John" <john@example.com>, ops'])
        self.assertEqual(body_of(stored), b"/dev/sda1 is 95% full\r\n.\r\n"
                         b"..twodots\r\nno final newline\r\n")

    def test_s_nail(self):
        """s-nail with mta= our sendmail (it runs `sendmail -i -- rcpts`
        with argv[0] "sendmail"; the config comes from EDGEMTA_CONFIG)."""
        if shutil.which("s-nail") is None:
            self.skipTest("s-nail not installed")
        p = subprocess.run(
            ["s-nail", "-:/", "-S", "mta=" + self.sendmail,
             "-s", "backup finished", "-c", "cc@example.com",
             "-b", "bcc@example.com", "to@example.com", "root"],
            input=b"Backup of /srv done: 12 GB.\n", env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "root@test.example")
        self.assertEqual(sorted(e["rcpts"]), sorted([
            "to@example.com", "admin@example.com", "cc@example.com",
            "bcc@example.com"]))
        self.assert_fixed_up(stored)
        self.assertEqual(headers(stored, "Subject"), ["backup finished"])
        self.assertNotIn(b"bcc@example.com", stored)
        self.assertEqual(body_of(stored), b"Backup of /srv done: 12 GB.\r\n")

    def test_cron_debian_arguments(self):
        """Debian's cron runs `sendmail -FCronDaemon -i -B8BITMIME -oem
        root`: root goes to the aliased admin, the cron From: is kept."""
        p = self.sm(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
                    input=self.CRON)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "root@test.example")
        self.assertEqual(e["rcpts"], ["admin@example.com"])
        self.assert_fixed_up(stored)
        self.assertEqual(headers(stored, "From"), ["root (Cron Daemon)"])
        self.assertEqual(body_of(stored),
                         b"rsync: connection unexpectedly closed\r\n")

    def test_cron_t(self):
        """A MAILTO message through `sendmail -t`: To: root -> admin."""
        p = self.sm(["-t"], input=self.CRON)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["admin@example.com"])
        self.assertEqual(headers(stored, "To"), ["root"])

    def test_git_send_email(self):
        """git send-email in sendmail mode (--smtp-server=PATH)."""
        if subprocess.run(["git", "send-email", "--help"],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0 or \
                subprocess.run(["perl", "-MMail::Address", "-e1"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("git send-email not installed (git-email, "
                          "libmailtools-perl)")
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        genv = dict(self.env, GIT_AUTHOR_NAME="Dev Eloper",
                    GIT_AUTHOR_EMAIL="dev@example.com",
                    GIT_COMMITTER_NAME="Dev Eloper",
                    GIT_COMMITTER_EMAIL="dev@example.com",
                    HOME=self.tmp, GIT_CONFIG_NOSYSTEM="1")

        def git(*a):
            r = subprocess.run(["git"] + list(a), cwd=repo, env=genv,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.decode()

        git("init", "-q")
        with open(os.path.join(repo, "f.txt"), "w") as f:
            f.write("one\n.\ntwo\n")
        git("add", "f.txt")
        git("commit", "-q", "-m", "Add f.txt")
        patch = git("format-patch", "-1", "-o", self.tmp).strip()
        git("send-email", "--smtp-server=" + self.sendmail,
            "--to=list@example.org", "--from=Dev Eloper <dev@example.com>",
            "--envelope-sender=auto", "--confirm=never",
            "--suppress-cc=all", "--quiet", patch)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "dev@example.com")
        self.assertEqual(e["rcpts"], ["list@example.org"])
        self.assert_fixed_up(stored, r"^<[^<>]+-dev@example\.com>$")
        self.assertIn(b"\r\n+.\r\n", stored)
        self.assertEqual(headers(stored, "From"),
                         ["Dev Eloper <dev@example.com>"])
        self.assertEqual(headers(stored, "Subject"), ["[PATCH] Add f.txt"])

    # ---- durability and the daemon being away ----

    def test_daemon_stopped_exit_75(self):
        """Daemon down: exit 75, one stderr line naming the socket and
        saying nothing was queued; after a start the queue is empty."""
        self.r.stop()
        p = self.sm(["to@example.com"], input=b"Subject: x\n\nbody\n")
        self.assertEqual(p.returncode, EX_TEMPFAIL, p.stderr)
        err = p.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(self.r.socket_path, err)
        self.assertIn("NOT queued", err)
        self.r.start()
        self.assert_nothing_queued()

    def test_waits_for_a_starting_daemon(self):
        """sendmail started before the daemon waits for it (bounded)."""
        self.r.stop()
        p = spawn([self.sendmail, "-C", self.r.conf, "to@example.com"],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
        p.stdin.write(b"Subject: early\n\nbody\n")
        p.stdin.close()
        time.sleep(0.3)
        self.r.start()
        try:
            p.wait(30)
        finally:
            rc = reap(p)
        self.assertEqual(rc, 0, p.stderr.read())
        e, stored = self.only_entry()
        self.assertEqual(headers(stored, "Subject"), ["early"])

    def test_exit_0_means_durable(self):
        """Exit 0, then kill -9 at once: after a restart the message is
        there, byte for byte."""
        p = self.sm(["-i", "to@example.com"],
                    input=b"Subject: durable\n\nline\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.r.kill9()
        self.r.start()
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["to@example.com"])
        self.assertEqual(headers(stored, "Subject"), ["durable"])
        self.assertEqual(body_of(stored), b"line\r\n")

    # ---- options ----

    def test_lone_dot_ends_input_without_i(self):
        """Without -i a line with a single '.' ends the message."""
        p = self.sm(["to@example.com"],
                    input=b"Subject: d\n\nkept\n.\ndropped\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        _, stored = self.only_entry()
        self.assertEqual(body_of(stored), b"kept\r\n")

    def test_f_and_F(self):
        """-f sets the envelope sender (bare names get myorigin), -F the
        From: display name; -r is the same as -f; -v shows the dialog."""
        p = self.sm(["-v", "-F", "Backup Job", "-f", "backup",
                     "x@example.com"], input=b"Subject: s\n\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b">>> MAIL FROM:<backup@test.example>", p.stderr)
        self.assertIn(b"<<< 250 2.0.0", p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "backup@test.example")
        self.assertEqual(headers(stored, "From"),
                         ['"Backup Job" <backup@test.example>'])
        p = self.sm(["-r", "a@b.example", "x@example.com"], input=b"")
        self.assertEqual(p.returncode, 0, p.stderr)
        senders = sorted(e["sender"] for e in self.r.queue_list())
        self.assertEqual(senders, ["a@b.example", "backup@test.example"])

    def test_double_dash_makes_addresses(self):
        """After `--`, "-oi" is an address, not the -oi option: the lone
        '.' still ends the input."""
        p = self.sm(["--", "-oi", "to@example.com"],
                    input=b"Subject: s\n\nbefore\n.\nafter\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["alerts@example.org",
                                      "to@example.com"])
        self.assertEqual(body_of(stored), b"before\r\n")

    def test_usage_errors(self):
        """Unknown option, missing argument, no recipients: exit 64 with
        a usage line; nothing queued."""
        for args in (["-X", "x@example.com"], ["-Z"], ["-f"], [], ["-t"],
                     ["-bz", "x@example.com"], ["-i"]):
            p = self.sm(args, input=b"Subject: s\n\nb\n")
            self.assertEqual(p.returncode, EX_USAGE, (args, p.stderr))
            self.assertIn(b"sendmail:", p.stderr)
        self.assert_nothing_queued()

    def test_ignored_options(self):
        """The usual no-op flags are accepted."""
        p = self.sm(["-odi", "-oem", "-oee", "-oep", "-om", "-oQ/x", "-odb",
                     "-B", "7BIT", "-N", "never", "-Ndsn", "-bm", "-i",
                     "x@example.com"], input=b"Subject: s\n\nb\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.r.queue_list()), 1)

    def test_bs_smtp_on_stdio(self):
        """-bs relays an SMTP dialog on stdin/stdout to the daemon."""
        dialog = (b"EHLO local\r\nMAIL FROM:<a@example.com>\r\n"
                  b"RCPT TO:<b@example.com>\r\nDATA\r\n"
                  b"Subject: bs\r\n\r\nhi\r\n.\r\nQUIT\r\n")
        p = self.sm(["-bs"], input=dialog)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, rb"^220 ")
        self.assertRegex(p.stdout, rb"250 2\.0\.0 Ok: queued as [0-9A-F]{8}")
        self.assertIn(b"221 ", p.stdout)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["b@example.com"])

    def test_q_flush(self):
        """-q asks the running daemon to flush (XQUEUE FLUSH): exit 0;
        with the daemon down: 75."""
        p = self.sm(["-q"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.r.stop()
        p = self.sm(["-q"])
        self.assertEqual(p.returncode, EX_TEMPFAIL, p.stderr)

    # ---- hostile input ----

    def test_control_characters_in_arguments(self):
        """CR/LF (and other control characters) in -f, -F or a
        recipient: exit 65 (EX_DATAERR), nothing queued. (NUL cannot be
        passed in an argv string at all.)"""
        cases = [
            ["-f", "a@example.com\r\nRCPT TO:<evil@example.net>",
             "x@example.com"],
            ["-f", "a@example.com\n", "x@example.com"],
            ["-F", "Name\r\nBcc: evil@example.net", "x@example.com"],
            ["-F", "Name\x01", "x@example.com"],
            ["x@example.com\r\nRCPT TO:<evil@example.net>"],
            ["x@example.com", "y@example.com\nDATA"],
            ["--", "\rx@example.com"],
        ]
        for args in cases:
            p = self.sm(args, input=b"Subject: s\n\nb\n")
            self.assertEqual(p.returncode, EX_DATAERR, (args, p.stderr))
            self.assertIn(b"NOT queued", p.stderr)
        self.assert_nothing_queued()
        self.assertNotIn("evil", self.r.log_text())

    REPRO = (b"To: b@example.test\nSubject: hi\rBcc: victim@outside.test"
             b"\rX-Injected: yes\n\nbody\n")

    def test_bare_cr_t_no_injected_recipient(self):
        """Issue 11.1: the repro through `sendmail -t -i`. A bare CR is
        a space, never a line end: only b@example.test is queued, there
        is no X-Injected: or Bcc: header, the Subject keeps the text."""
        p = self.sm(["-t", "-i"], input=self.REPRO)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["b@example.test"])
        self.assertNotIn(b"victim", b" ".join(
            r.encode() for r in e["rcpts"]))
        self.assertEqual(headers(stored, "X-Injected"), [])
        self.assertEqual(headers(stored, "Subject"),
                         ["hi Bcc: victim@outside.test X-Injected: yes"])
        self.assert_fixed_up(stored)

    def test_bare_cr_without_t_no_injected_header(self):
        """The same input without -t, recipient on the command line:
        no header is injected and nothing goes to victim@outside.test."""
        p = self.sm(["-i", "c@example.test"], input=self.REPRO)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["c@example.test"])
        self.assertEqual(headers(stored, "X-Injected"), [])
        self.assertEqual(headers(stored, "Bcc"), [])
        self.assertEqual(len(headers(stored, "Subject")), 1)
        self.assert_fixed_up(stored)

    def test_bare_cr_in_address_list_and_body(self):
        """A bare CR inside a -t address list does not start a second
        recipient (the list is malformed: 65, nothing queued); in the
        body it is a space, so "\r.\r" cannot end the input early."""
        p = self.sm(["-t"], input=b"To: a@example.test\rv@outside.test\n"
                    b"\nb\n")
        self.assertEqual(p.returncode, EX_DATAERR, p.stderr)
        self.assert_nothing_queued()
        p = self.sm(["d@example.test"], input=b"Subject: s\n\nx\r.\ry\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(body_of(stored), b"x . y\r\n")

    def test_t_too_many_recipients(self):
        """-t with 150 To: addresses: exit 65 (EX_DATAERR) with a clear
        error naming the limit; nothing queued."""
        to = ",\n ".join("user%d@example.com" % i for i in range(150))
        p = self.sm(["-t"], input=("To: %s\nSubject: many\n\nb\n" % to)
                    .encode())
        self.assertEqual(p.returncode, EX_DATAERR, p.stderr)
        self.assertIn(b"too many recipients (limit ", p.stderr)
        self.assertIn(b"NOT queued", p.stderr)
        self.assert_nothing_queued()

    def test_t_malformed_header(self):
        """-t with a To: that is not an address list: 65, nothing queued."""
        for to in (b"John Smith", b"<a@example.com", b"\"open@example.com"):
            p = self.sm(["-t"], input=b"To: " + to + b"\n\nb\n")
            self.assertEqual(p.returncode, EX_DATAERR, (to, p.stderr))
        self.assert_nothing_queued()

    def test_huge_header_field(self):
        """A header field over the injector's buffer: 65, nothing queued."""
        p = self.sm(["x@example.com"],
                    input=b"X-Big: " + b"a" * 40000 + b"\n\nb\n")
        self.assertEqual(p.returncode, EX_DATAERR, p.stderr)
        self.assert_nothing_queued()

    def test_large_body_streams(self):
        """A 500 KB body with long lines goes through; lines are at most
        998 octets on the wire and the text is intact."""
        line = b"x" * 2500 + b"\n"
        body = line * 200
        p = self.sm(["x@example.com"], input=b"Subject: big\n\n" + body,
                    timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, stored = self.only_entry()
        b = body_of(stored)
        self.assertTrue(all(len(l) <= 998 for l in b.split(b"\r\n")))
        self.assertEqual(b.replace(b"\r\n", b""),
                         body.replace(b"\n", b""))

    # ---- mailq ----

    def test_mailq(self):
        """mailq (and sendmail -bp): Postfix's shape; empty queue says so."""
        p = run_bin([self.mailq, "-C", self.r.conf])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "Mail queue is empty\n")
        p = self.sm(["-f", "s@example.com", "a@example.com",
                     "b@example.com"], input=b"Subject: q\n\nbody\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        e = self.r.queue_list()[0]
        p = subprocess.run([self.mailq], env=self.env, timeout=60,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        lines = out.split("\n")
        self.assertEqual(lines[0], "-Queue ID-  --Size-- ----Arrival Time---- "
                         "-Sender/Recipient-------")
        # "%-10s%c %8ld %20.20s %s" as Postfix's showq, asctime() date
        self.assertTrue(lines[1].startswith("%-10s  %8d " % (e["id"],
                                                             e["size"])),
                        lines[1])
        self.assertRegex(lines[1][21:], r"^[A-Z][a-z]{2} [A-Z][a-z]{2} "
                         r"[ 0-9]\d \d\d:\d\d:\d\d  s@example\.com$")
        self.assertEqual(lines[2], " " * 41 + "a@example.com")
        self.assertEqual(lines[3], " " * 41 + "b@example.com")
        self.assertEqual(lines[4], "")
        self.assertEqual(lines[5], "-- 1 Kbytes in 1 Request.")
        p2 = self.sm(["-bp"])
        self.assertEqual(p2.stdout.decode(), out)


class SenderRewriteTest(SendmailBase):
    """sender_rewrite and myorigin (smarthosts that want the envelope
    sender and From: to match)."""

    conf_extra = ALIASES + ("sender_rewrite = alerts@example.com\n"
                            "myorigin = example.net\n")

    def test_rewrite_envelope_and_from(self):
        p = self.sm(["-f", "root", "x@example.com"],
                    input=b"From: \"NAS Box\" <root@nas.lan>\n"
                    b"Subject: r\n\nb\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "alerts@example.com")
        self.assertEqual(headers(stored, "From"),
                         ['"NAS Box" <alerts@example.com>'])

    def test_rewrite_cron_from_comment(self):
        p = self.sm(["-FCronDaemon", "-i", "root"], input=self.CRON)
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "alerts@example.com")
        self.assertEqual(e["rcpts"], ["admin@example.com"])
        self.assertEqual(headers(stored, "From"),
                         ['"Cron Daemon" <alerts@example.com>'])

    def test_bare_recipient_goes_to_admin(self):
        """Bare names with no alias go to the admin address; a missing
        From: gets the rewritten sender."""
        p = self.sm(["bob"], input=b"")
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["rcpts"], ["alerts@example.org"])
        self.assertEqual(headers(stored, "From"), ["alerts@example.com"])


class MyoriginTest(SendmailBase):
    conf_extra = "myorigin = example.net\nbounce_notice_recipient =\n"

    def test_myorigin_qualifies(self):
        """No admin address: bare sender and recipients get myorigin."""
        p = self.sm(["-f", "backup", "bob"], input=b"Subject: m\n\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        e, stored = self.only_entry()
        self.assertEqual(e["sender"], "backup@example.net")
        self.assertEqual(e["rcpts"], ["bob@example.net"])


class MailqDeferredTest(SendmailBase):
    """mailq shows the deferral reason of a message whose relayhost
    refuses connections (a closed port on 127.0.0.1)."""

    def setUp(self):
        self.conf_extra = ALIASES + "relayhost = [127.0.0.1]:%d\n" % \
            helpers.free_port()
        super().setUp()

    def test_reason_line(self):
        p = self.sm(["-f", "s@example.com", "a@example.com"],
                    input=b"Subject: q\n\nbody\n")
        self.assertEqual(p.returncode, 0, p.stderr)

        def listing():
            out = run_bin([self.mailq, "-C", self.r.conf]).stdout
            return out if "\n(" in out else None

        out = helpers.wait_until(listing, 30, step=0.2)
        self.assertTrue(out, "no deferral reason in mailq output")
        lines = out.split("\n")
        self.assertRegex(lines[2], r"^\(.*127\.0\.0\.1.*\)$")
        self.assertEqual(lines[3], " " * 41 + "a@example.com")
        self.assertEqual(lines[-2], "-- 1 Kbytes in 1 Request.")


class LimitsTest(SendmailBase):
    """What the daemon refuses reaches the caller as a sysexits code."""

    conf_extra = ALIASES + "message_size_limit = 20000\n"

    def setUp(self):
        super().setUp()
        self.r.close()
        self.r = self.relay(sub="small", conf_extra=self.conf_extra,
                            queue_size="48K")

    def test_too_big_is_65(self):
        """Over message_size_limit: the 552 is shown, exit 65."""
        body = (b"a" * 99 + b"\n") * 500
        p = self.sm(["x@example.com"], input=b"Subject: big\n\n" + body)
        self.assertEqual(p.returncode, EX_DATAERR, p.stderr)
        self.assertIn(b"552", p.stderr)
        self.assertIn(b"NOT queued", p.stderr)
        self.assert_nothing_queued()

    def test_queue_full_is_75(self):
        """Queue full (452): exit 75, one line saying nothing was queued;
        what was queued before stays."""
        body = (b"b" * 99 + b"\n") * 150
        ok = 0
        for i in range(20):
            p = self.sm(["x@example.com"],
                        input=b"Subject: fill %d\n\n" % i + body)
            if p.returncode != 0:
                break
            ok += 1
        self.assertEqual(p.returncode, EX_TEMPFAIL, p.stderr)
        self.assertGreater(ok, 0)
        err = p.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("452", err)
        self.assertIn("NOT queued", err)
        self.assertEqual(len(self.r.queue_list()), ok)
