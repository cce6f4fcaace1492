"""kill -9 during load: nothing acknowledged with 250 is ever lost."""
import random
import shutil
import unittest
import re
import threading

import helpers
from helpers import Smtp, SmtpError, queue_id, strip_received

TOKEN_RE = re.compile(rb"^Subject: (T[0-9-]+)\r\n", re.M)


def make_body(token, size, rnd):
    """A message of about size bytes: CRLF lines, some starting with '.',
    8-bit bytes, a unique token in the Subject."""
    out = [b"Subject: %s\r\nFrom: <c@example.com>\r\n\r\n" % token.encode()]
    n = len(out[0])
    while n < size:
        k = rnd.randrange(0, 200)
        line = bytes(rnd.choice(b"abcXYZ019 .\t\xe9\xff") for _ in range(k))
        if rnd.random() < 0.1:
            line = b"." + line
        out.append(line + b"\r\n")
        n += len(line) + 2
    return b"".join(out)


class Load:
    """Client threads sending until told to stop (or the relay dies),
    recording every message acknowledged with 250 and every attempt."""

    def __init__(self, port, rnd_seed, tag, nthreads, sizes, per_thread=400):
        self.port = port
        self.acked = {}      # qid -> (sender, rcpts, body)
        self.attempted = {}  # token -> (sender, rcpts, body)
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(
            target=self.run, args=(tag, i, sizes, per_thread,
                                   random.Random(rnd_seed * 100 + i)),
            daemon=True) for i in range(nthreads)]
        for t in self.threads:
            t.start()

    def run(self, tag, tid, sizes, per_thread, rnd):
        try:
            s = Smtp(self.port, timeout=20)
            s.ehlo()
            for i in range(per_thread):
                if self.stop.is_set():
                    break
                token = "T%d-%d-%d" % (tag, tid, i)
                body = make_body(token, rnd.choice(sizes), rnd)
                env = ("s%d@example.com" % tid,
                       ["r%d@example.org" % j for j in range(1 + i % 3)])
                with self.lock:
                    self.attempted[token] = env + (body,)
                code, text = s.send_message(env[0], env[1], body)
                if code == 0:
                    break  # connection closed: the relay was killed
                if code != 250:
                    with self.lock:
                        self.errors.append((code, text))
                    break
                qid = queue_id(text)
                with self.lock:
                    self.acked[qid] = env + (body,)
        except (OSError, SmtpError):
            pass  # the relay was killed under us

    def nacked(self):
        with self.lock:
            return len(self.acked)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            if t.is_alive():
                raise AssertionError("client thread did not finish")


class Crash(helpers.RelayTest):

    def verify(self, r, acked, attempted):
        """Every acknowledged message is listed and byte-exact; every
        listed message is one that was sent, intact (never torn)."""
        entries = {e["id"]: e for e in r.queue_list()}
        missing = sorted(set(acked) - set(entries))
        self.assertEqual(missing, [], "%d acknowledged messages lost"
                         % len(missing))
        shown = r.queue_show_many(entries)
        for qid, e in entries.items():
            stored = shown[qid]
            self.assertEqual(len(stored), e["size"], e["line"])
            rest = strip_received(stored)
            m = TOKEN_RE.match(rest)
            self.assertTrue(m, "%s is not a message we sent: %r"
                            % (qid, rest[:100]))
            tok = m.group(1).decode()
            self.assertIn(tok, attempted, qid)
            sender, rcpts, body = attempted[tok]
            if qid in acked:
                self.assertEqual(acked[qid][2], body)
            self.assertEqual(rest, body, "%s (%s) torn or altered"
                             % (qid, tok))
            self.assertEqual(e["sender"], sender, qid)
            self.assertEqual(e["rcpts"], rcpts, qid)
        return entries

    def crash_round(self, r, tag, nthreads, sizes, kill_after, acked,
                    attempted):
        load = Load(r.port, tag, tag, nthreads, sizes)
        ok = helpers.wait_until(lambda: load.nacked() >= kill_after, 90)
        rc = r.kill9()
        load.join()
        self.assertTrue(ok, "only %d messages acknowledged before the "
                        "deadline; errors %r" % (load.nacked(),
                                                 load.errors[:3]))
        self.assertEqual(load.errors, [], "refused during load")
        self.assertEqual(rc, -9)
        acked.update(load.acked)
        attempted.update(load.attempted)
        r.start()
        return self.verify(r, acked, attempted)

    def accepts_new_mail(self, r, acked, attempted):
        body = make_body("T999-0-0", 3000, random.Random(1))
        attempted["T999-0-0"] = ("n@example.com", ["m@example.org"], body)
        with Smtp(r.port) as s:
            s.ehlo()
            code, text = s.send_message("n@example.com", ["m@example.org"],
                                        body)
            self.assertEqual(code, 250, text)
            acked[queue_id(text)] = attempted["T999-0-0"]
        self.assert_stored(r, queue_id(text), body)

    def test_kill9_during_load(self):
        """kill -9 while 8 clients send: after a restart every message
        whose client saw 250 is present and byte-exact, nothing torn is
        visible, and the queue takes new mail; a clean restart after
        that still has all of them."""
        r = self.relay(queue_size="4M")
        acked, attempted = {}, {}
        self.crash_round(r, 1, 8, [300, 2000, 5000, 20000], 80, acked,
                         attempted)
        self.accepts_new_mail(r, acked, attempted)
        r.restart()
        self.verify(r, acked, attempted)

    @helpers.slow
    def test_kill9_three_times(self):
        """Three kills at different moments (after a few big messages,
        i.e. mostly mid-DATA; after many small ones; right after the
        first 250) on the same queue: every acknowledged message of every
        round survives, byte-exact."""
        r = self.relay(queue_size="4M")
        acked, attempted = {}, {}
        self.crash_round(r, 2, 4, [100000, 200000], 4, acked, attempted)
        self.crash_round(r, 3, 12, [200, 1000], 100, acked, attempted)
        self.crash_round(r, 4, 6, [500, 60000], 1, acked, attempted)
        self.accepts_new_mail(r, acked, attempted)
        r.restart()
        entries = self.verify(r, acked, attempted)
        self.assertGreaterEqual(len(entries), len(acked))

    @unittest.skipUnless(shutil.which("strace"), "strace not installed")
    def test_kill_at_nth_sync(self):
        """SIGKILL exactly at the Nth fdatasync (strace fault injection),
        i.e. after a commit record was written but before it is durable,
        for several N: every message acknowledged before is present and
        byte-exact, the one being committed was never acknowledged and is
        either absent or intact, and the queue takes new mail."""
        r = self.relay(queue_size="1M")
        acked, attempted = {}, {}
        nbefore = 0
        for n in (1, 2, 4, 7):
            nacked = len(acked)
            r.strace("-o", "/dev/null", "-e", "trace=fdatasync", "-e",
                     "inject=fdatasync:signal=SIGKILL:when=%d" % n)
            killed = False
            rnd = random.Random(n)
            try:
                with Smtp(r.port) as s:
                    s.ehlo()
                    for i in range(20):
                        tok = "T5%d-0-%d" % (n, i)
                        body = make_body(tok, rnd.choice([100, 3000]), rnd)
                        env = ("k@example.com", ["v@example.org"])
                        attempted[tok] = env + (body,)
                        code, text = s.send_message(env[0], env[1], body)
                        if code == 0:
                            killed = True
                            break
                        self.assertEqual(code, 250, text)
                        acked[queue_id(text)] = env + (body,)
            except (OSError, SmtpError):
                killed = True
            self.assertTrue(killed, "no kill at fdatasync #%d" % n)
            self.assertTrue(helpers.wait_until(
                lambda: r.proc.poll() is not None, 20),
                "daemon still running after the injected kill")
            self.assertEqual(r.kill9(), -9)
            r.start()
            entries = self.verify(r, acked, attempted)
            # at most the one message being committed, unacknowledged
            self.assertLessEqual(len(entries) - nbefore,
                                 len(acked) - nacked + 1)
            nbefore = len(entries)
        self.accepts_new_mail(r, acked, attempted)

    @unittest.skipUnless(shutil.which("strace"), "strace not installed")
    def test_ack_only_after_sync(self):
        """The 250 after DATA is sent only once the message is durable:
        under strace, between the last write to the queue file and each
        '250 ... queued as' reply there is a successful fdatasync/fsync
        (one client, one message at a time, so nothing interleaves)."""
        r = self.relay(queue_size="4M")
        trace = r.tmpdir + "/strace.out"
        st = r.strace("-o", trace, "-s", "48", "-e",
                      "trace=pwrite64,pwritev,pwritev2,fdatasync,fsync,"
                      "sendto,sendmsg,write,writev")
        rnd = random.Random(7)
        acked = {}
        with Smtp(r.port) as s:
            s.ehlo()
            for i in range(30):
                body = make_body("T6-0-%d" % i,
                                 rnd.choice([50, 600, 5000, 100000]), rnd)
                code, text = s.send_message("o@example.com",
                                            ["p@example.org"], body)
                self.assertEqual(code, 250, text)
                acked[queue_id(text)] = body
            s.cmd("QUIT")
        self.assertEqual(r.stop(), 0)
        helpers.wait_until(lambda: st.poll() is not None, 20)
        helpers.reap(st)
        dirty, acks, syncs, writes = False, [], 0, 0
        with open(trace, errors="replace") as f:
            for line in f:
                m = re.match(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)", line)
                if not m:
                    continue
                call, args, ret = m.group(1), m.group(2), int(m.group(3))
                if call.startswith("pwrite") and ret > 0:
                    dirty, writes = True, writes + 1
                elif call in ("fdatasync", "fsync") and ret == 0:
                    dirty, syncs = False, syncs + 1
                elif "250 2.0.0 Ok: queued as" in args:
                    acks.append(dirty)
        self.assertEqual(len(acks), 30, "trace parse: %d acks" % len(acks))
        self.assertEqual([i for i, d in enumerate(acks) if d], [],
                         "250 sent while queue writes were not synced")
        self.assertGreaterEqual(syncs, 30)
        self.assertGreaterEqual(writes, 30, "no queue writes traced")
        r.start()
        for qid, body in acked.items():
            self.assert_stored(r, qid, body)

    def test_sigterm_mid_data(self):
        """SIGTERM while a client is in the middle of DATA and another is
        idle: the daemon exits 0 (bounded), the half message is never
        queued (the client saw no 250), acknowledged ones survive."""
        r = self.relay()
        body = make_body("T7-0-0", 2000, random.Random(3))
        with Smtp(r.port) as s1, Smtp(r.port) as s2:
            s1.ehlo()
            s2.ehlo()
            code, text = s1.send_message("a@example.com", ["b@example.org"],
                                         body)
            self.assertEqual(code, 250, text)
            qid = queue_id(text)
            replies = s2.mail_rcpt_data("c@example.com", ["d@example.org"])
            self.assertEqual(replies[-1][0], 354)
            s2.send(b"Subject: half\r\n\r\nhalf a message\r\n")
            self.assertEqual(r.stop(), 0)
            for s in (s1, s2):
                code, text = s.reply()
                self.assertIn(code, (0, 421), text)
        r.start()
        self.assertEqual(r.queue_ids(), [qid])
        self.assert_stored(r, qid, body)
