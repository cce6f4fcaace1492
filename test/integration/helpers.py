"""Shared harness of the integration suite: run the real edgemta binary
and real SMTP peers on 127.0.0.1, with bounded waits and by-PID cleanup.

Environment:
  EDGEMTA_BIN            the binary under test (run.py sets it from --bin;
                         default build/edgemta)
  EDGEMTA_POSTFIX_TOOLS  the extracted postfix .deb (default
                         build/postfix-tools; extracted on first use)
  EDGEMTA_QUICK=1        skip tests decorated with @slow (run.py --quick)
  EDGEMTA_EMU            an emulator command for a cross-built binary
                         (run.py --emu, e.g. "qemu-mips"): BIN is then a
                         wrapper script that runs the binary under it
"""
import atexit
import ctypes
import fcntl
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _abs(path):
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


BIN = _abs(os.environ.get("EDGEMTA_BIN") or "build/edgemta")
POSTFIX_TOOLS = _abs(os.environ.get("EDGEMTA_POSTFIX_TOOLS",
                                    "build/postfix-tools"))
QUICK = os.environ.get("EDGEMTA_QUICK") == "1"
EMU = os.environ.get("EDGEMTA_EMU", "").split()


def _emu_wrapper(binary):
    """A script that runs binary under EMU with the script's own name as
    argv[0] (qemu-user's -0), so that links to it named sendmail or mailq
    dispatch as they do natively, and every spawn of BIN works unchanged."""
    d = tempfile.mkdtemp(prefix="edgemta-emu.")
    atexit.register(shutil.rmtree, d, True)
    path = os.path.join(d, "edgemta")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec %s -0 "$0" %s "$@"\n' % (
            " ".join(map(shlex.quote, EMU)), shlex.quote(binary)))
    os.chmod(path, 0o755)
    return path


REAL_BIN = BIN
if EMU:
    BIN = _emu_wrapper(BIN)

ID_RE = re.compile(rb"queued as ([0-9A-F]{8})\b")
ARRIVAL_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
EX_CONFIG = 78

# Every process started here, so that nothing outlives the suite.
_PROCS = set()
_PROCS_LOCK = threading.Lock()


def slow(obj):
    """Decorator: skip this test (or class) under run.py --quick."""
    return unittest.skipIf(QUICK, "slow test (--quick)")(obj)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the harness dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(argv, **kw):
    """Popen that is registered for cleanup and, when started from the
    main thread, dies with the harness (PR_SET_PDEATHSIG fires when the
    creating *thread* exits, so it is not used from other threads)."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    if threading.current_thread() is threading.main_thread():
        kw["preexec_fn"] = _die_with_parent
    p = subprocess.Popen(argv, **kw)
    with _PROCS_LOCK:
        _PROCS.add(p)
    return p


def reap(p, sig=signal.SIGKILL, timeout=10):
    """Send sig to p (by PID) unless it exited, wait bounded. Returns rc."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
    with _PROCS_LOCK:
        _PROCS.discard(p)
    return p.returncode


def kill_all():
    """SIGKILL every process this harness started (watchdog, atexit)."""
    with _PROCS_LOCK:
        procs = list(_PROCS)
    for p in procs:
        reap(p)


atexit.register(kill_all)


def free_port():
    """An unused TCP port on 127.0.0.1 (and free on ::1 where possible)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if has_ipv6():
            try:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                s6.bind(("::1", port))
                s6.close()
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


_HAS_V6 = None


def has_ipv6():
    """True if ::1 can be bound on this host."""
    global _HAS_V6
    if _HAS_V6 is None:
        try:
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.bind(("::1", 0))
            s.close()
            _HAS_V6 = True
        except OSError:
            _HAS_V6 = False
    return _HAS_V6


def _listening(port):
    """True if something listens on TCP port (v4 or v6) per /proc/net."""
    hexport = ":%04X" % port
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(hexport) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_until(pred, timeout, step=0.02):
    """Poll pred() until true or timeout seconds. Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


# ---- message helpers ----

def dot_stuff(body):
    """Wire form of body (bytes, CRLF lines): leading dots doubled."""
    lines = body.split(b"\r\n")
    return b"\r\n".join(b"." + l if l.startswith(b".") else l
                        for l in lines)


def dot_unstuff(wire):
    """Inverse of dot_stuff."""
    lines = wire.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


def strip_received(stored):
    """Remove our Received: header (first line + tab continuations).
    Raises AssertionError if the message does not start with one."""
    if not stored.startswith(b"Received: "):
        raise AssertionError("stored message does not start with "
                             "'Received: ': %r" % stored[:200])
    pos = stored.find(b"\r\n")
    if pos < 0:
        raise AssertionError("Received header not CRLF-terminated")
    pos += 2
    while stored.startswith(b"\t", pos):
        nxt = stored.find(b"\r\n", pos)
        if nxt < 0:
            raise AssertionError("Received continuation not terminated")
        pos = nxt + 2
    return stored[pos:]


def bare_cr_lf(data):
    """True if data holds a CR not followed by LF or an LF not after CR."""
    return bool(re.search(rb"\r(?!\n)|(?<!\r)\n", data))


def queue_id(reply):
    """The queue id from a '250 ... queued as ID' reply (bytes/str)."""
    if isinstance(reply, str):
        reply = reply.encode("latin-1")
    m = ID_RE.search(reply)
    return m.group(1).decode() if m else None


# ---- a raw SMTP client with bounded reads ----

class SmtpError(Exception):
    pass


class Smtp:
    """Raw SMTP client: send bytes exactly, read replies with deadlines.

    reply() returns (code, text) where text is all lines joined by \\n
    (without the code), code an int; (0, "") if the peer closed."""

    def __init__(self, port, host="127.0.0.1", timeout=15, greet=True):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self.greeting = self.reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise SmtpError("timeout waiting for a reply; got %r"
                                % self.buf)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise SmtpError("timeout waiting for a reply; got %r"
                                % self.buf)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                if self.buf:
                    raise SmtpError("connection closed in a reply: %r"
                                    % self.buf)
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        texts = []
        while True:
            line = self._line()
            if line is None:
                if texts:
                    raise SmtpError("connection closed in a multi-line "
                                    "reply")
                return 0, ""
            if len(line) < 3 or not line[:3].isdigit() or \
                    (len(line) > 3 and line[3:4] not in b" -"):
                raise SmtpError("malformed reply line %r" % line)
            texts.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                return int(line[:3]), "\n".join(texts)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str)
                  else line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example.com"):
        code, text = self.cmd("EHLO " + name)
        if code != 250:
            raise SmtpError("EHLO: %d %s" % (code, text))
        return text

    def mail_rcpt_data(self, sender, rcpts, mail_params=""):
        """Pipelined MAIL/RCPT.../DATA; returns the list of replies."""
        cmds = "MAIL FROM:<%s>%s\r\n" % (sender, mail_params)
        cmds += "".join("RCPT TO:<%s>\r\n" % r for r in rcpts)
        cmds += "DATA\r\n"
        self.send(cmds)
        return [self.reply() for _ in range(len(rcpts) + 2)]

    def send_message(self, sender, rcpts, body, mail_params=""):
        """One transaction; body is the message (CRLF lines) before
        dot-stuffing. Returns the final reply (code, text); raises
        SmtpError if MAIL/RCPT/DATA were not accepted."""
        replies = self.mail_rcpt_data(sender, rcpts, mail_params)
        if replies[-1][0] != 354:
            raise SmtpError("transaction refused: %r" % (replies,))
        wire = dot_stuff(body)
        if wire and not wire.endswith(b"\r\n"):
            wire += b"\r\n"
        self.send(wire + b".\r\n")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---- the relay under test ----

class Relay:
    """One edgemta daemon (`BIN -f -c tmpdir/edgemta.conf`).

    conf_extra lines come after the defaults, so they override them
    (listen lines add listeners). Stderr of every run is appended to
    tmpdir/edgemta.log. Stopped by PID at cleanup/atexit."""

    START_TIMEOUT = 10
    STOP_TIMEOUT = 20
    live = []  # relays not yet stopped, for the run.py watchdog

    def __init__(self, tmpdir, conf_extra="", queue_size="1M",
                 listen_port=None, start=True, mynetworks="127.0.0.0/8"):
        self.tmpdir = tmpdir
        self.port = listen_port or free_port()
        self.conf = os.path.join(tmpdir, "edgemta.conf")
        self.queue_path = os.path.join(tmpdir, "queue")
        self.socket_path = os.path.join(tmpdir, "sock")
        self.log_path = os.path.join(tmpdir, "edgemta.log")
        self.proc = None
        self.pid = None
        self.bin = None  # None: BIN (read at each start; tests swap it)
        self._log_cache = b""
        with open(self.conf, "w") as f:
            f.write("# written by test/integration/helpers.py\n"
                    "listen = 127.0.0.1:%d smtp\n"
                    "mynetworks = %s\n"
                    "queue_path = %s\n"
                    "queue_size = %s\n"
                    "local_socket = %s\n"
                    "myhostname = test.example\n"
                    "relayhost =\n"
                    "%s\n" % (self.port, mynetworks, self.queue_path,
                              queue_size, self.socket_path, conf_extra))
        ALL_RELAYS.append(self)
        if start:
            self.start()

    def start(self):
        """Start the daemon; wait (bounded) until its port listens."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("relay already running")
        log = open(self.log_path, "ab")
        log.write(b"---- start %s ----\n" % time.strftime(
            "%H:%M:%S").encode())
        log.flush()
        try:
            self.proc = spawn([self.bin or BIN, "-f", "-c", self.conf],
                              stdout=log,
                              stderr=log, cwd=self.tmpdir)
        finally:
            log.close()
        self.pid = self.proc.pid
        Relay.live.append(self)
        deadline = time.monotonic() + self.START_TIMEOUT
        while not _listening(self.port):
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self._forget()
                raise AssertionError(
                    "edgemta exited with %d at start-up:\n%s"
                    % (rc, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError("edgemta did not listen on %d within "
                                     "%ds:\n%s" % (self.port,
                                                   self.START_TIMEOUT,
                                                   self.log_tail()))
            time.sleep(0.02)
        return self

    def strace(self, *args):
        """Attach `strace -p PID ARGS` to the running daemon (e.g. fault
        injection: "-e", "inject=fdatasync:signal=SIGKILL:when=3");
        waits (bounded) until attached. Returns the strace Popen, which
        ends with the daemon (cleaned up like every spawned process)."""
        p = spawn(["strace", "-qq", "-p", str(self.pid)] + list(args),
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def attached():
            try:
                with open("/proc/%d/status" % self.pid) as f:
                    return re.search(r"^TracerPid:\s+[1-9]", f.read(), re.M)
            except OSError:
                return False
        if not wait_until(attached, 10):
            reap(p)
            raise AssertionError("strace did not attach to %d" % self.pid)
        return p

    def _forget(self):
        with _PROCS_LOCK:
            _PROCS.discard(self.proc)
        if self in Relay.live:
            Relay.live.remove(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait bounded; returns the exit code. If it does not
        exit in STOP_TIMEOUT s it is killed and AssertionError raised."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                reap(self.proc)
                self._forget()
                raise AssertionError("edgemta ignored SIGTERM for %ds:\n%s"
                                     % (self.STOP_TIMEOUT, self.log_tail()))
        self._forget()
        return self.proc.returncode

    def kill9(self):
        """SIGKILL by PID and wait. Returns the exit code."""
        if self.proc is None:
            return None
        rc = reap(self.proc, signal.SIGKILL)
        self._forget()
        return rc

    def restart(self):
        """stop() (asserting exit 0) then start()."""
        rc = self.stop()
        if rc != 0:
            raise AssertionError("edgemta exited %r on SIGTERM:\n%s"
                                 % (rc, self.log_tail()))
        return self.start()

    def cli(self, *args, binary=False, input=None, timeout=60):
        """CompletedProcess of `BIN -c conf ARGS` (text unless binary)."""
        argv = [self.bin or BIN, "-c", self.conf] + [str(a) for a in args]
        return run_bin(argv, binary=binary, input=input, timeout=timeout,
                       cwd=self.tmpdir)

    def queue_list(self):
        """`queue list` parsed: [{id, size, arrival, sender, rcpts, line}]
        with addresses without <> ('' for the null sender)."""
        r = self.cli("queue", "list")
        if r.returncode != 0:
            raise AssertionError("queue list exited %d: %s\n%s"
                                 % (r.returncode, r.stderr, self.log_tail()))
        out = []
        for line in r.stdout.splitlines():
            if not line.strip() or line.startswith("-- queue damage: "):
                continue    # the damage trailer (test_queue_damage.py)
            if line[0].isspace():
                # "  (deferred N times, next try T: reason)" of the
                # message above
                # or "  (held until T: reason)" (alert_collapse_window)
                t = line.strip()
                if not out or not t.startswith(("(deferred ", "(held ")):
                    raise AssertionError("bad queue list line %r" % line)
                out[-1]["held" if t.startswith("(held ") else
                       "deferred"] = t
                continue
            parts = line.split()
            if len(parts) < 5 or not re.match(r"^[0-9A-F]{8}$", parts[0]):
                raise AssertionError("bad queue list line %r" % line)
            addrs = [p[1:-1] for p in parts[3:]
                     if p.startswith("<") and p.endswith(">")]
            out.append({"id": parts[0], "size": int(parts[1]),
                        "arrival": parts[2], "sender": addrs[0],
                        "rcpts": addrs[1:], "line": line})
        return out

    def queue_ids(self):
        return [e["id"] for e in self.queue_list()]

    def queue_show(self, qid):
        """The stored bytes of message qid (`queue show`)."""
        r = self.cli("queue", "show", qid, binary=True)
        if r.returncode != 0:
            raise AssertionError("queue show %s exited %d: %r\n%s"
                                 % (qid, r.returncode, r.stderr,
                                    self.log_tail()))
        return r.stdout

    def queue_show_many(self, ids, workers=4):
        """{id: stored bytes} for many ids, `queue show` run in parallel."""
        import concurrent.futures

        def show(qid):
            argv = [self.bin or BIN, "-c", self.conf, "queue", "show", qid]
            p = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60,
                               stdin=subprocess.DEVNULL, cwd=self.tmpdir)
            if p.returncode != 0:
                raise AssertionError("queue show %s exited %d: %r"
                                     % (qid, p.returncode, p.stderr))
            return qid, p.stdout

        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            return dict(ex.map(show, list(ids)))

    def log_text(self):
        """Everything the daemon wrote to stderr so far (all runs)."""
        try:
            with open(self.log_path, "rb") as f:
                self._log_cache = f.read()
        except OSError:
            pass
        return self._log_cache.decode("utf-8", "replace")

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "\n".join(lines[-n:])

    def close(self):
        """Stop (SIGTERM, then SIGKILL) and keep the log in memory."""
        try:
            if self.running():
                self.stop()
        except AssertionError:
            pass
        finally:
            if self.proc is not None:
                reap(self.proc)
                self._forget()
            self.log_text()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


ALL_RELAYS = []  # relays created (run.py prints their logs on failure)


def run_bin(argv, binary=False, input=None, timeout=60, cwd=None):
    """Run a command to completion (bounded); never raises on rc != 0."""
    if input is not None and not binary and isinstance(input, str):
        input = input.encode()
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              stdin=subprocess.PIPE if input is not None
              else subprocess.DEVNULL, cwd=cwd)
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        raise AssertionError("%s did not finish within %ds"
                             % (" ".join(argv), timeout))
    reap(p)
    if not binary:
        out = out.decode("utf-8", "replace")
        err = err.decode("utf-8", "replace")
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


# ---- Postfix's test tools ----

def postfix_tools():
    """Directory of the extracted postfix .deb; extracted on first use
    (apt-get download postfix + dpkg-deb -x), under a lock."""
    tool = os.path.join(POSTFIX_TOOLS, "usr/sbin/smtp-source")
    if os.path.exists(tool):
        return POSTFIX_TOOLS
    os.makedirs(os.path.dirname(POSTFIX_TOOLS), exist_ok=True)
    with open(POSTFIX_TOOLS + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(tool):
            return POSTFIX_TOOLS
        work = tempfile.mkdtemp(prefix="postfix-deb-")
        try:
            r = subprocess.run(["apt-get", "download", "postfix"], cwd=work,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=300)
            debs = glob.glob(os.path.join(work, "postfix_*.deb"))
            if not debs:
                raise RuntimeError("apt-get download postfix failed: %s"
                                   % r.stdout.decode("utf-8", "replace"))
            tmp = POSTFIX_TOOLS + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            subprocess.run(["dpkg-deb", "-x", debs[0], tmp], check=True,
                           timeout=300)
            os.rename(tmp, POSTFIX_TOOLS)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return POSTFIX_TOOLS


def _postfix_env():
    d = postfix_tools()
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(d, "usr/lib/postfix")
    return d, env


def smtp_source(port, args, timeout=240, host="127.0.0.1"):
    """Run Postfix's smtp-source ARGS against host:port to completion
    (bounded). Returns a text CompletedProcess."""
    d, env = _postfix_env()
    argv = [os.path.join(d, "usr/sbin/smtp-source")] + list(args) + \
        ["%s:%d" % (host, port)]
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        reap(p)
        raise AssertionError("smtp-source did not finish in %ds" % timeout)
    reap(p)
    return subprocess.CompletedProcess(argv, p.returncode,
                                       out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


class Sink:
    """A running smtp-sink; .port, .proc, .pid, .dump_dir, .stop(),
    .dumps() -> list of bytes (one per dumped transaction)."""

    def __init__(self, port, args, dump_dir=None, host="127.0.0.1",
                 backlog=128):
        d, env = _postfix_env()
        self.port = port
        self.dump_dir = dump_dir
        argv = [os.path.join(d, "usr/sbin/smtp-sink")]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        if dump_dir:
            os.makedirs(dump_dir, exist_ok=True)
            os.chmod(dump_dir, 0o777)
            argv += ["-d", os.path.join(dump_dir, "m.")]
        argv += list(args) + ["%s:%d" % (host, port), str(backlog)]
        self.log_path = os.path.join(dump_dir or tempfile.gettempdir(),
                                     "smtp-sink-%d.log" % port)
        log = open(self.log_path, "ab")
        try:
            self.proc = spawn(argv, stdout=log, stderr=log, env=env)
        finally:
            log.close()
        self.pid = self.proc.pid
        if not wait_until(lambda: _listening(port) or
                          self.proc.poll() is not None, 10) or \
                self.proc.poll() is not None:
            reap(self.proc)
            with open(self.log_path, "rb") as f:
                raise AssertionError("smtp-sink did not start: %s"
                                     % f.read().decode("utf-8", "replace"))

    def dumps(self):
        if not self.dump_dir:
            return []
        out = []
        for name in sorted(glob.glob(os.path.join(self.dump_dir, "m.*"))):
            with open(name, "rb") as f:
                out.append(f.read())
        return out

    def stop(self):
        return reap(self.proc, signal.SIGTERM)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def smtp_sink(port, args, dump_dir=None, host="127.0.0.1"):
    """Start Postfix's smtp-sink on host:port with ARGS; returns a Sink."""
    return Sink(port, args, dump_dir=dump_dir, host=host)


# ---- base class for tests ----

class RelayTest(unittest.TestCase):
    """TestCase with self.tmp (removed afterwards) and self.relay(...)
    which starts a Relay that is stopped at cleanup."""

    def setUp(self):
        if not os.access(BIN, os.X_OK):
            self.fail("binary %s not found (build it or pass --bin)" % BIN)
        self.tmp = tempfile.mkdtemp(prefix="edgemta-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def relay(self, sub="r", **kw):
        d = os.path.join(self.tmp, sub)
        os.makedirs(d, exist_ok=True)
        r = Relay(d, **kw)
        self.addCleanup(r.close)
        return r

    def send_token(self, relay, token):
        """One message whose Subject and body carry token, to find it at
        the peer."""
        with Smtp(relay.port) as c:
            c.ehlo()
            c.send_message("a@lan.example", ["b@example.com"],
                           b"Subject: %s\r\n\r\nbody %s\r\n"
                           % (token.encode(), token.encode()))

    def assert_stored(self, relay, qid, body, msg=""):
        """Message qid is stored as Received: + body exactly."""
        stored = relay.queue_show(qid)
        rest = strip_received(stored)
        if rest != body:
            i = next((i for i in range(min(len(rest), len(body)))
                      if rest[i] != body[i]), min(len(rest), len(body)))
            self.fail("%s message %s differs from what was sent: stored %d "
                      "bytes, sent %d; first difference at %d: stored %r, "
                      "sent %r" % (msg, qid, len(rest), len(body), i,
                                   rest[max(0, i - 40):i + 40],
                                   body[max(0, i - 40):i + 40]))
        return stored


# ---- a peer that fails slowly (delays=a/b/c/d tests) ----

def stalling_peer(test, ip="127.0.0.1", port=0, hold=2.0,
                  reply=b"554 5.3.2 not now\r\n"):
    """Listen on ip:port; the first connection is held `hold` seconds, then
    gets `reply` and is closed. Cleaned up with test. Returns the port."""
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(4)
    test.addCleanup(ls.close)

    def run():
        try:
            c, _ = ls.accept()
        except OSError:
            return
        time.sleep(hold)
        try:
            c.sendall(reply)
        except OSError:
            pass
        c.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    test.addCleanup(t.join, hold + 10)
    return ls.getsockname()[1]


DELAYS_RE = (r"delay=([\d.]+), delays=([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+),")


def assert_setup_delay(test, line_re, log, hold):
    """The result line matching line_re + DELAYS_RE counts at least hold
    seconds of connection setup (c) and in delay; a+b+c+d = delay."""
    m = re.search(line_re + DELAYS_RE, log)
    test.assertIsNotNone(m, log[-3000:])
    delay, a, b, c, d = (float(x) for x in m.groups())
    test.assertGreaterEqual(c, hold - 0.1, m.group(0))
    test.assertGreaterEqual(delay, hold - 0.1, m.group(0))
    test.assertAlmostEqual(delay, a + b + c + d, delta=0.25)
