#!/usr/bin/python3
"""edgemta against Postfix on the same machine, in the same run.

Run through bench/run.sh (which installs the Debian packages and builds
edgemta).  Everything listens on 127.0.0.1 only; every process started here
is remembered by PID and stopped by PID; every wait is bounded.
Environment: BENCH_REPS (3), BENCH_QUICK=1 (short run), BENCH_EDGEMTA
(binary, default build/bench/edgemta), BENCH_EDGEMTA_1K (a build with
CONFIG_MAX_SESSIONS >= 1024), BENCH_WORK (/var/tmp/edgemta-bench),
BENCH_ONLY (comma list of scenarios: tput,lat,sendmail,mem,idle,storage,
size,plumb,cpu,tls).  Writes bench/results.md and bench/results.csv.
"""

import csv
import datetime
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import tls_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("BENCH_QUICK") == "1"
REPS = int(os.environ.get("BENCH_REPS", "1" if QUICK else "3"))
NMSG = int(os.environ.get("BENCH_MSGS", "300" if QUICK else "2000"))
NSEND = 40 if QUICK else 200
NSTORE = 300 if QUICK else 1000
NIDLE = 1000
WORK = os.environ.get("BENCH_WORK", "/var/tmp/edgemta-bench")
LOGDIR = "/dev/shm/edgemta-bench"  # logs on tmpfs: not counted as I/O
EDGEMTA = os.environ.get("BENCH_EDGEMTA",
                         os.path.join(ROOT, "build/bench/edgemta"))
EDGEMTA_1K = os.environ.get("BENCH_EDGEMTA_1K",
                            os.path.join(ROOT, "build/bench-1k/edgemta"))
QUEUE_SIZE = os.environ.get("BENCH_QUEUE_SIZE", "16M")
BUILD = os.environ.get("BENCH_BUILD", "build/bench")
PROBE = os.environ.get("BENCH_PROBE", os.path.join(ROOT, BUILD, "probe"))
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
CONCURRENCY = [1, 8, 32]
MSG_SIZE = 4096
T_SOURCE = 180  # seconds, bound on one smtp-source run
T_DRAIN = 120  # seconds, bound on waiting for the sink to have all
T_STALL = 20  # seconds without progress at the sink: give up
SENDER = "bench@src.example"
RCPT = "rcpt@sink.example"

procs = {}  # pid -> (name, Popen) of everything started here
rows = []  # CSV rows
notes = {"edgemta": [], "postfix": [], "general": []}


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, flush=True)


def want(name):
    return not ONLY or name in ONLY


def record(scen, metric, relay, rep, value, unit):
    rows.append([scen, metric, relay, rep, value, unit])


# ---------------------------------------------------------------- processes

def spawn(name, argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(argv, **kw)
    procs[p.pid] = (name, p)
    return p


def stop_proc(p, sig=signal.SIGTERM, wait=10):
    """Stops one Popen by its PID: sig, then SIGKILL after wait seconds."""
    if p.poll() is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
    procs.pop(p.pid, None)


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if fields[0] == "Z":
            continue
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def tree(pid):
    """pid and all its live descendants."""
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists("/proc/%d" % p):
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def mem(pids):
    """(PSS, RSS, count, anonymous) in KiB summed over pids, from
    smaps_rollup."""
    pss = rss = n = anon = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                txt = f.read()
        except OSError:
            continue
        m1 = re.search(r"^Pss:\s+(\d+)", txt, re.M)
        m2 = re.search(r"^Rss:\s+(\d+)", txt, re.M)
        m3 = re.search(r"^Anonymous:\s+(\d+)", txt, re.M)
        if m1 and m2:
            pss += int(m1.group(1))
            rss += int(m2.group(1))
            anon += int(m3.group(1)) if m3 else 0
            n += 1
    return pss, rss, n, anon


def io_write_bytes(pids):
    tot = 0
    for p in pids:
        try:
            with open("/proc/%d/io" % p) as f:
                m = re.search(r"^write_bytes:\s+(\d+)", f.read(), re.M)
            tot += int(m.group(1))
        except (OSError, AttributeError):
            pass
    return tot


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """True when something listens on 127.0.0.1:port (/proc/net/tcp), so
    that waiting for a relay does not open a session in it."""
    want_ = "0100007F:%04X" % port
    try:
        with open("/proc/net/tcp") as f:
            for line in f:
                w = line.split()
                if len(w) > 3 and w[1] == want_ and w[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def wait_port(port, alive, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if not alive():
            return False
        if listening(port):
            return True
        time.sleep(0.05)
    return False


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, timeout=timeout, **kw)


# ---------------------------------------------------------------- sink

class Sink:
    """Postfix's smtp-sink on 127.0.0.1, counting delivered messages."""

    def __init__(self, name):
        self.port = free_port()
        self.count = 0
        self.p = spawn("smtp-sink " + name,
                       ["smtp-sink", "-u", "postfix", "-c",
                        "127.0.0.1:%d" % self.port, "1024"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        if not wait_port(self.port, lambda: self.p.poll() is None):
            raise RuntimeError("smtp-sink did not start")

    def _read(self):
        tail = b""
        fd = self.p.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            tail = (tail + data)[-4096:]
            for m in re.finditer(rb"mesg=(\d+)\r", tail):
                self.count = max(self.count, int(m.group(1)))

    def stop(self):
        stop_proc(self.p)


# ---------------------------------------------------------------- relays

class Postfix:
    name = "postfix"

    def __init__(self, sink, queue_dir=None, tag="main"):
        self.dir = os.path.join(WORK, "postfix-" + tag)
        self.etc = os.path.join(self.dir, "etc")
        self.queue = queue_dir or os.path.join(self.dir, "queue")
        self.port = free_port()
        self.master = None
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.etc)
        os.makedirs(self.queue, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "data"))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        shutil.copy("/etc/postfix/master.cf", self.etc)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""# bench: private relay instance, default durability
compatibility_level = 3.6
queue_directory = %s
data_directory = %s/data
myhostname = bench.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:%d
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = no
maillog_file = %s/postfix-%s.log
maillog_file_prefixes = %s
""" % (self.queue, self.dir, sink.port, LOGDIR, tag, LOGDIR))
        pc = ["postconf", "-c", self.etc]
        run(pc + ["-MX", "smtp/inet"], check=True)
        svc = "127.0.0.1:%d" % self.port
        run(pc + ["-M", "%s/inet=%s inet n - n - - smtpd" % (svc, svc)],
            check=True)
        run(pc + ["-F", "*/*/chroot = n"], check=True)
        run(["postfix", "-c", self.etc, "check"], check=True)

    def start(self):
        run(["postfix", "-c", self.etc, "start"], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pidf = os.path.join(self.queue, "pid/master.pid")
        end = time.time() + 15
        while time.time() < end and self.master is None:
            try:
                with open(pidf) as f:
                    self.master = int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.1)
        if self.master is None:
            raise RuntimeError("postfix master did not start")
        if not wait_port(self.port, lambda: os.path.exists(
                "/proc/%d" % self.master)):
            raise RuntimeError("postfix does not listen")
        time.sleep(1)  # let pickup/qmgr settle

    def pids(self):
        return tree(self.master) if self.master else []

    def sendmail(self):
        return ["/usr/sbin/sendmail", "-C", self.etc, "-t", "-i"]

    def stop(self):
        if self.master is None:
            return
        left = self.pids()
        run(["postfix", "-c", self.etc, "stop"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=30)
        end = time.time() + 15
        while time.time() < end and any(
                os.path.exists("/proc/%d" % p) and not zombie(p)
                for p in left):
            time.sleep(0.1)
        for p in left:
            if os.path.exists("/proc/%d" % p) and not zombie(p):
                os.kill(p, signal.SIGKILL)
        self.master = None


def zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rfind(")") + 2] == "Z"
    except OSError:
        return True


class Edgemta:
    name = "edgemta"

    def __init__(self, sink, binary=EDGEMTA, queue_dir=None, tag="main"):
        self.bin = binary
        self.dir = os.path.join(WORK, "edgemta-" + tag)
        self.port = free_port()
        self.p = None
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "bin"))
        qdir = queue_dir or self.dir
        self.conf = os.path.join(self.dir, "edgemta.conf")
        with open(self.conf, "w") as f:
            f.write("""# bench
listen = 127.0.0.1:%d smtp
mynetworks = 127.0.0.0/8
queue_path = %s/queue
queue_size = %s
local_socket = %s/sock
relayhost = [127.0.0.1]:%d
myhostname = bench.example
""" % (self.port, qdir, QUEUE_SIZE, self.dir, sink.port))
        self.sm = os.path.join(self.dir, "bin/sendmail")
        os.symlink(os.path.abspath(self.bin), self.sm)
        self.logf = os.path.join(LOGDIR, "edgemta-%s.log" % tag)

    def start(self, prefix=(), wait=15):
        out = open(self.logf, "ab")
        self.p = spawn("edgemta", list(prefix) +
                       [self.bin, "-f", "-c", self.conf],
                       stdout=out, stderr=out)
        out.close()
        if not wait_port(self.port, lambda: self.p.poll() is None, wait):
            self.stop()
            raise RuntimeError("edgemta did not start (see %s)" % self.logf)
        time.sleep(0.5)

    def pids(self):
        return tree(self.p.pid) if self.p and self.p.poll() is None else []

    def sendmail(self):
        return [self.sm, "-C", self.conf, "-t", "-i"]

    def stop(self):
        if self.p is not None:
            stop_proc(self.p)
            self.p = None


class Probe:
    """The physical-limit probe (bench/probe.c): accept, append to a file
    on the queues' filesystem, fdatasync, 250. Only smtp-source talks to
    it: it relays nothing."""
    name = "limit"

    def __init__(self):
        self.port = free_port()
        self.file = os.path.join(WORK, "limit.mbox")
        self.p = None
        self.logf = os.path.join(LOGDIR, "probe.log")

    def start(self):
        out = open(self.logf, "ab")
        self.p = spawn("probe", [PROBE, str(self.port), self.file],
                       stdout=out, stderr=out)
        out.close()
        if not wait_port(self.port, lambda: self.p.poll() is None, 10):
            self.stop()
            raise RuntimeError("the probe did not start (see %s)"
                               % self.logf)

    def pids(self):
        return tree(self.p.pid) if self.p and self.p.poll() is None else []

    def stop(self):
        if self.p is not None:
            stop_proc(self.p)
            self.p = None
        try:
            os.unlink(self.file)
        except OSError:
            pass


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def lat_250(port, n):
    """n messages in one session, one after the other: seconds from
    sending the final dot to reading the 250 (the durable reply)."""
    body = "Subject: lat\r\n\r\n" + ("y" * 78 + "\r\n") * (MSG_SIZE // 80)
    out = []
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if not line or line[3:4] != b"-":
                return line

    try:
        reply()
        s.sendall(b"EHLO lat.example\r\n")
        reply()
        for i in range(n):
            s.sendall(("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
                       (SENDER, RCPT)).encode())
            for _ in range(3):
                r = reply()
            if not r.startswith(b"354"):
                raise RuntimeError("no 354: %r" % r)
            s.sendall(body.encode())
            t0 = time.perf_counter()
            s.sendall(b".\r\n")
            r = reply()
            out.append(time.perf_counter() - t0)
            if not r.startswith(b"250"):
                raise RuntimeError("no 250: %r" % r)
        s.sendall(b"QUIT\r\n")
        reply()
    finally:
        s.close()
    return out


def scen_latency(relays, probe, sinks, res):
    """C=1: the 250's latency after the final dot, p50 and p99, edgemta
    and the probe alternating (NLAT messages each, in 4 slices)."""
    nl = 50 if QUICK else 250
    got = {}
    targets = [r for r in relays if r.name == "edgemta"] + (
        [probe] if probe else [])
    for sl in range(4):
        for r in (targets if sl % 2 == 0 else targets[::-1]):
            try:
                got.setdefault(r.name, []).extend(lat_250(r.port, nl))
            except Exception as e:
                notes["general"].append("latency %s: %s" % (r.name, e))
    for name, v in got.items():
        v.sort()
        record("latency", "dot_250_p50_ms", name, 1,
               round(v[len(v) // 2] * 1000, 3), "ms")
        record("latency", "dot_250_p99_ms", name, 1,
               round(v[min(len(v) - 1, len(v) * 99 // 100)] * 1000, 3),
               "ms")
    if "edgemta" in got and "edgemta" in sinks:
        drain(sinks["edgemta"], sinks["edgemta"].count, 5)


# ---------------------------------------------------------------- scenarios

class MemSampler:
    """Peak PSS/RSS of a relay's processes, sampled every 100 ms."""

    def __init__(self, relay):
        self.relay = relay
        self.peak = (0, 0, 0)
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_ev.wait(0.1):
            m = mem(self.relay.pids())[:3]
            if m[0] > self.peak[0]:
                self.peak = m

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        return self.peak


def source(relay, c, n, timeout=T_SOURCE):
    argv = ["smtp-source", "-s", str(c), "-m", str(n), "-l", str(MSG_SIZE),
            "-f", SENDER, "-t", RCPT, "127.0.0.1:%d" % relay.port]
    try:
        r = run(argv, timeout=timeout, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
        return r.returncode, r.stderr.decode(errors="replace")[-300:]
    except subprocess.TimeoutExpired:
        return -1, "smtp-source timed out after %d s" % timeout


def drain(sink, target, deadline=T_DRAIN):
    """Waits until sink.count >= target; returns True when reached."""
    end = time.time() + deadline
    last, last_t = sink.count, time.time()
    while sink.count < target and time.time() < end:
        time.sleep(0.002)
        if sink.count != last:
            last, last_t = sink.count, time.time()
        elif time.time() - last_t > T_STALL:
            break
    return sink.count >= target


def settle(sink, quiet=2.0, bound=60):
    """After a failed run: waits until the sink count stops moving, so
    late deliveries do not count for the next run."""
    end = time.time() + bound
    last, last_t = sink.count, time.time()
    while time.time() < end and time.time() - last_t < quiet:
        time.sleep(0.1)
        if sink.count != last:
            last, last_t = sink.count, time.time()


def one_run(relay, sink, c, n, sample=False):
    """One smtp-source run; dict with accept/e2e seconds or an error."""
    base = sink.count
    sampler = MemSampler(relay) if sample else None
    t0 = time.perf_counter()
    rc, err = source(relay, c, n)
    t_acc = time.perf_counter() - t0
    ok = drain(sink, base + n) if rc == 0 else False
    if rc != 0:
        settle(sink)
    t_e2e = time.perf_counter() - t0
    res = {"rc": rc, "err": err.strip(), "acc": t_acc,
           "e2e": t_e2e if ok else None, "got": sink.count - base}
    if sampler:
        res["peak"] = sampler.stop()
    return res


def scen_throughput(relays, sinks, res, probe=None):
    res["tput"] = {}
    res["growth"] = {r.name: [] for r in relays}
    sent = {r.name: 0 for r in relays}
    broken = set()
    for c in sorted(CONCURRENCY, reverse=True):
        for rep in range(REPS):
            order = relays + ([probe] if probe else [])
            order = order if rep % 2 == 0 else order[::-1]
            for r in order:
                if r.name in broken:
                    continue
                log("throughput %s C=%d rep %d" % (r.name, c, rep + 1))
                record("load", "loadavg1_c%d" % c, r.name, rep + 1,
                       loadavg(), "")
                if r is probe:
                    t0 = time.perf_counter()
                    rc, err = source(r, c, NMSG)
                    if rc != 0:
                        notes["general"].append("probe C=%d: smtp-source "
                                                "failed: %s" % (c, err))
                        broken.add(r.name)
                        continue
                    record("throughput", "accept_rate_c%d" % c, r.name,
                           rep + 1, round(NMSG / (time.perf_counter() - t0),
                                          1), "msg/s")
                    continue
                x = one_run(r, sinks[r.name], c, NMSG, sample=(c == 32))
                sent[r.name] += NMSG
                key = (r.name, c)
                res["tput"].setdefault(key, []).append(x)
                if x["rc"] != 0:
                    notes[r.name].append(
                        "throughput C=%d rep %d: smtp-source failed (rc %d) "
                        "after %.1f s, %d messages reached the sink: %s"
                        % (c, rep + 1, x["rc"], x["acc"], x["got"],
                           x["err"]))
                    record("throughput", "failed_run_c%d" % c, r.name,
                           rep + 1, x["got"], "messages delivered")
                    if x["rc"] == -1:
                        broken.add(r.name)  # hung: do not wait again
                    continue
                record("throughput", "accept_rate_c%d" % c, r.name, rep + 1,
                       round(NMSG / x["acc"], 1), "msg/s")
                if x["e2e"] is None:
                    notes[r.name].append(
                        "throughput C=%d: the sink got %d of %d messages "
                        "within the bound: end-to-end rate not measured"
                        % (c, x["got"], NMSG))
                    broken.add(r.name)
                else:
                    record("throughput", "e2e_rate_c%d" % c, r.name,
                           rep + 1, round(NMSG / x["e2e"], 1), "msg/s")
                if "peak" in x:
                    record("memory", "peak_pss_c32", r.name, rep + 1,
                           x["peak"][0], "KiB")
                    record("memory", "peak_rss_c32", r.name, rep + 1,
                           x["peak"][1], "KiB")
                    record("memory", "peak_procs_c32", r.name, rep + 1,
                           x["peak"][2], "processes")
                time.sleep(0.5)
                m = mem(r.pids())
                res["growth"][r.name].append((sent[r.name], m[0], m[1],
                                              m[3]))
    # no growth over a long run: top edgemta up to 20,000 messages at C=32
    e = [r for r in relays if r.name == "edgemta" and r.name not in broken]
    while e and not QUICK and sent["edgemta"] < 20000:
        n = min(NMSG, 20000 - sent["edgemta"])
        log("long run: edgemta %d more messages" % n)
        x = one_run(e[0], sinks["edgemta"], 32, n)
        sent["edgemta"] += n
        if x["rc"] != 0 or x["e2e"] is None:
            notes["edgemta"].append("long run failed at %d messages"
                                    % sent["edgemta"])
            break
        time.sleep(0.5)
        m = mem(e[0].pids())
        res["growth"]["edgemta"].append((sent["edgemta"], m[0], m[1], m[3]))


def scen_sendmail(relays, sinks, res):
    """Median wall time of `sendmail -t -i`, spawned from C (bench/spawnlat:
    posix_spawn + waitpid, CLOCK_MONOTONIC) so that the harness's own cost
    is that of running /bin/true the same way, measured alongside."""
    spawnlat = os.environ.get("BENCH_SPAWNLAT",
                              os.path.join(ROOT, BUILD, "spawnlat"))
    if not os.access(spawnlat, os.X_OK):
        notes["general"].append("sendmail: no %s (built by bench/run.sh): "
                                "latency not measured" % spawnlat)
        return
    msgf = os.path.join(WORK, "sendmail-msg.txt")
    with open(msgf, "w") as f:
        f.write("From: %s\nTo: %s\nSubject: bench\n\nhello\n"
                % (SENDER, RCPT))

    def lat(argv, cwd=None):
        """(per-call seconds, failed calls, stderr tail) of NSEND calls."""
        try:
            x = run([spawnlat, str(NSEND), msgf] + argv, cwd=cwd,
                    timeout=10 * NSEND, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
        except subprocess.TimeoutExpired:
            return [], NSEND, "timed out"
        out = [line.split() for line in x.stdout.decode().splitlines()]
        return ([int(ns) / 1e9 for ns, _ in out],
                sum(rc != "0" for _, rc in out) + (x.returncode == 2),
                x.stderr.decode(errors="replace")[-200:])

    # dma, the fastest peer of the issue, as a third reference: Debian's
    # package unpacked under WORK (not installed); its configuration path
    # is compiled in, so a copy of the binary reads ./dma-bench.conf.
    class Dma:
        name = "dma"
        dir = os.path.join(WORK, "dma")

        def sendmail(self):
            return [os.path.join(self.dir, "sendmail"), "-t", "-i"]

    dma, sinks = Dma(), dict(sinks)
    try:
        shutil.rmtree(dma.dir, ignore_errors=True)
        os.makedirs(os.path.join(dma.dir, "spool"))
        run(["apt-get", "download", "-q", "dma"], cwd=dma.dir, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = [f for f in os.listdir(dma.dir) if f.endswith(".deb")][0]
        run(["dpkg-deb", "-x", deb, "root"], cwd=dma.dir, check=True)
        with open(os.path.join(dma.dir, "root/usr/sbin/dma"), "rb") as f:
            img = f.read()
        old = b"/etc/dma/dma.conf\0"
        new = b"dma-bench.conf".ljust(len(old), b"\0")
        if img.count(old) != 1:
            raise RuntimeError("no /etc/dma/dma.conf in the binary")
        with open(os.path.join(dma.dir, "sendmail"), "wb") as f:
            f.write(img.replace(old, new))
        os.chmod(os.path.join(dma.dir, "sendmail"), 0o755)
        shutil.chown(os.path.join(dma.dir, "spool"), "mail", "mail")
        open(os.path.join(dma.dir, "aliases"), "w").close()
        sinks["dma"] = Sink("dma")
        with open(os.path.join(dma.dir, "dma-bench.conf"), "w") as f:
            f.write("SMARTHOST 127.0.0.1\nPORT %d\nSPOOLDIR %s/spool\n"
                    "ALIASES %s/aliases\nMAILNAME bench.example\n"
                    % (sinks["dma"].port, dma.dir, dma.dir))
        relays = relays + [dma]
    except (OSError, IndexError, RuntimeError,
            subprocess.SubprocessError) as e:
        notes["general"].append("sendmail: dma not measured: %s" % e)

    base = []
    for rep in range(REPS):
        t, _, _ = lat(["/bin/true"])
        if t:
            base.append(statistics.median(t) * 1000)
            record("sendmail", "spawn_true_median", "baseline", rep + 1,
                   round(base[-1], 3), "ms")
        order = relays if rep % 2 == 0 else relays[::-1]
        for r in order:
            log("sendmail %s rep %d" % (r.name, rep + 1))
            b = sinks[r.name].count
            t, fails, err = lat(r.sendmail(), cwd=getattr(r, "dir", None))
            note = notes[r.name if r.name in notes else "general"]
            if fails or not t:
                note.append("sendmail: %s: %d of %d calls failed (last: %s)"
                            % (r.name, fails, len(t), err.strip()))
                continue
            med = statistics.median(t) * 1000
            record("sendmail", "latency_median", r.name, rep + 1,
                   round(med, 3), "ms")
            delivered = drain(sinks[r.name], b + NSEND, 30)
            if not delivered:
                note.append("sendmail: %s: only %d of %d injected "
                            "messages reached the sink" %
                            (r.name, sinks[r.name].count - b, NSEND))
    res["spawn_ms"] = statistics.median(base) if base else 0
    if "dma" in sinks:
        sinks["dma"].stop()


LIBC = re.compile(r"/(libc|libm|libpthread|libdl|libresolv|ld-linux[^/]*)"
                  r"\.so[.0-9]*$")


def libc_pss(pids):
    """PSS in KiB of the C library's mappings (libc, ld.so, ...) in pids:
    the part of a PSS figure that depends on how many other processes on
    the machine share the C library at that moment."""
    tot = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps" % p) as f:
                cur = None
                for line in f:
                    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                        parts = line.split()
                        cur = parts[5] if len(parts) > 5 else ""
                    elif line.startswith("Pss:") and cur and \
                            LIBC.search(cur):
                        tot += int(line.split()[1])
        except OSError:
            continue
    return tot


def scen_idle_mem(relays, res, what="idle"):
    for r in relays:
        pss, rss, n, _ = mem(r.pids())
        record("memory", what + "_libc_pss", r.name, 1, libc_pss(r.pids()),
               "KiB")
        record("memory", what + "_pss", r.name, 1, pss, "KiB")
        record("memory", what + "_rss", r.name, 1, rss, "KiB")
        record("memory", what + "_procs", r.name, 1, n, "processes")


def idle_conns(relay, n=NIDLE, wait=6):
    """Opens n idle connections from 50 loopback addresses, reads the
    greetings, measures memory, closes them. Returns a dict."""
    socks, fails = [], 0
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind(("127.0.1.%d" % (1 + i % 50), 0))
            s.connect_ex(("127.0.0.1", relay.port))
            socks.append(s)
        except OSError:
            fails += 1
            s.close()
    state = {s.fileno(): "pending" for s in socks}
    poller = select.poll()
    byfd = {s.fileno(): s for s in socks}
    for fd in byfd:
        poller.register(fd, select.POLLIN)
    end = time.time() + wait
    while time.time() < end and "pending" in state.values():
        for fd, ev in poller.poll(200):
            try:
                data = byfd[fd].recv(512)
            except OSError:
                data = b""
            if data.startswith(b"220"):
                state[fd] = "220"
            elif data[:1] in (b"4", b"5"):
                state[fd] = data[:3].decode(errors="replace")
            else:
                state[fd] = "closed"
            poller.unregister(fd)
    pss, rss, nproc, _ = mem(relay.pids())
    for s in socks:
        s.close()
    out = {"greeted": list(state.values()).count("220"),
           "pending": list(state.values()).count("pending"),
           "closed": list(state.values()).count("closed"),
           "other": len(state) - sum(list(state.values()).count(k)
                                     for k in ("220", "pending", "closed")),
           "connect_fail": fails, "pss": pss, "rss": rss, "procs": nproc,
           "replies": sorted(set(v for v in state.values() if v not in
                                 ("220", "pending", "closed")))}
    return out


def scen_idle_sessions(relays, res, label):
    for r in relays:
        if not r.pids():
            continue
        log("1000 idle connections: %s (%s)" % (r.name, label))
        before = mem(r.pids())
        x = idle_conns(r)
        time.sleep(1)
        alive = bool(r.pids())
        x["idle_pss_before"] = before[0]
        x["alive_after"] = alive
        res.setdefault("idle", {})[(r.name, label)] = x
        name = r.name if label == "default" else "%s(%s)" % (r.name, label)
        for k in ("greeted", "pending", "closed", "other", "pss", "rss",
                  "procs"):
            record("idle1000", k, name, 1, x[k],
                   "KiB" if k in ("pss", "rss") else "count")
        if x["greeted"]:
            per = (x["pss"] - before[0]) / x["greeted"]
            record("idle1000", "pss_per_session", name, 1, round(per, 2),
                   "KiB")


def strace_start(relay, out):
    argv = ["strace", "-f", "-c", "-w", "-o", out, "-e",
            "trace=fsync,fdatasync,sync_file_range,sync,syncfs,msync"]
    for p in relay.pids():
        argv += ["-p", str(p)]
    p = spawn("strace", argv, stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # attach
    return p


def strace_stop(p, out):
    stop_proc(p, signal.SIGINT)
    calls = {}
    try:
        with open(out) as f:
            for line in f:
                w = line.split()
                if len(w) >= 5 and w[0][0].isdigit() and w[-1] != "total":
                    calls[w[-1]] = (int(w[3]), int(w[2]))
    except OSError:
        pass
    return calls


class LoopFs:
    """A fresh ext4 image, loop-mounted, holding only one relay's queue."""

    def __init__(self, tag, mb=256):
        self.img = os.path.join(WORK, "loop-%s.img" % tag)
        self.mnt = os.path.join(WORK, "mnt-" + tag)
        self.dev = None
        with open(self.img, "wb") as f:
            f.truncate(mb << 20)
        run(["mkfs.ext4", "-q", "-F", self.img], check=True)
        os.makedirs(self.mnt, exist_ok=True)
        self.dev = run(["losetup", "-f", "--show", self.img], check=True,
                       stdout=subprocess.PIPE).stdout.decode().strip()
        run(["mount", self.dev, self.mnt], check=True)

    def sectors(self):
        run(["sync", "-f", self.mnt])
        time.sleep(0.3)
        with open("/sys/block/%s/stat" % os.path.basename(self.dev)) as f:
            return int(f.read().split()[6])

    def close(self):
        if self.dev:
            run(["umount", self.mnt], timeout=30)
            run(["losetup", "-d", self.dev], timeout=30)
            self.dev = None
        try:
            os.unlink(self.img)
        except OSError:
            pass


def scen_storage(kinds, res):
    """Per relay: a fresh loop ext4 holding only the queue; for C=1, 4, 32:
    device sectors and /proc io for NSTORE messages, then a separate run
    under strace -c for the sync calls."""
    order = kinds
    for kind in order:
        name = kind.name
        fs = sink = r = None
        try:
            fs = LoopFs(name)
            sink = Sink("storage-" + name)
            if kind is Postfix:
                qd = os.path.join(fs.mnt, "postfix")
                r = Postfix(sink, queue_dir=qd, tag="loop")
            else:
                r = Edgemta(sink, queue_dir=fs.mnt, tag="loop")
            r.start()
            for c in (1, 4, 32):
                log("storage %s C=%d" % (name, c))
                s0 = fs.sectors()
                pids0 = r.pids()
                io0 = io_write_bytes(pids0)
                x = one_run(r, sink, c, NSTORE)
                if x["rc"] != 0 or x["e2e"] is None:
                    notes[name].append("storage C=%d: run failed (rc %d, "
                                       "%d delivered): %s" %
                                       (c, x["rc"], x["got"], x["err"]))
                    break
                time.sleep(0.5)
                io1 = io_write_bytes(r.pids())
                s1 = fs.sectors()
                record("storage", "device_bytes_per_msg_c%d" % c, name, 1,
                       round((s1 - s0) * 512 / NSTORE), "bytes")
                record("storage", "proc_io_write_bytes_per_msg_c%d" % c,
                       name, 1, round((io1 - io0) / NSTORE), "bytes")
                out = os.path.join(LOGDIR, "strace-%s-c%d.txt" % (name, c))
                st = strace_start(r, out)
                x = one_run(r, sink, c, NSTORE)
                calls = strace_stop(st, out)
                if x["rc"] != 0 or x["e2e"] is None:
                    notes[name].append("storage strace C=%d: run failed" % c)
                    break
                tot = sum(v[0] for v in calls.values())
                record("storage", "sync_calls_per_msg_c%d" % c, name, 1,
                       round(tot / NSTORE, 3), "calls")
                res.setdefault("strace", {})[(name, c)] = calls
        except Exception as e:  # noqa: keep the other scenarios going
            notes[name].append("storage: %s" % e)
        finally:
            if r:
                r.stop()
            if sink:
                sink.stop()
            if fs:
                fs.close()


def scen_plumbing(relays, res):
    """Listen backlog (ss), greeting and QUIT->221 latency."""
    for r in relays:
        if not r.pids():
            continue
        ss = run(["ss", "-Hltn", "sport = :%d" % r.port],
                 stdout=subprocess.PIPE).stdout.decode().split()
        if len(ss) >= 3:
            record("plumbing", "listen_backlog", r.name, 1, int(ss[2]),
                   "connections")
        greet, quit_ = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            s = socket.create_connection(("127.0.0.1", r.port), 5)
            s.settimeout(5)
            f = s.makefile("rb")
            line = f.readline()
            greet.append(time.perf_counter() - t0)
            s.sendall(b"EHLO bench.example\r\n")
            while True:
                line = f.readline()
                if not line or line[3:4] != b"-":
                    break
            t0 = time.perf_counter()
            s.sendall(b"QUIT\r\n")
            line = f.readline()
            quit_.append(time.perf_counter() - t0)
            f.close()
            s.close()
        record("plumbing", "greeting_ms_median", r.name, 1,
               round(statistics.median(greet) * 1000, 3), "ms")
        record("plumbing", "quit_221_ms_median", r.name, 1,
               round(statistics.median(quit_) * 1000, 3), "ms")


def scen_nodelay(relays, sinks):
    """Does the relay set TCP_NODELAY on its sockets? (strace one message)"""
    for r in relays:
        if not r.pids():
            continue
        out = os.path.join(LOGDIR, "strace-sockopt-%s.txt" % r.name)
        argv = ["strace", "-f", "-o", out, "-e", "trace=setsockopt"]
        for p in r.pids():
            argv += ["-p", str(p)]
        st = spawn("strace", argv, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        one_run(r, sinks[r.name], 1, 3)
        stop_proc(st, signal.SIGINT)
        try:
            with open(out) as f:
                n = f.read().count("TCP_NODELAY")
        except OSError:
            n = 0
        record("plumbing", "tcp_nodelay_setsockopt_calls", r.name, 1, n,
               "calls")


def scen_callgrind(res):
    """Instructions per message (valgrind callgrind: stable on a noisy
    machine), edgemta only: counters zeroed after start and a warm-up,
    then NCG messages at C=8, then the top functions by self cost."""
    ncg = 100 if QUICK else 300
    out = os.path.join(LOGDIR, "callgrind.out")
    sink = Sink("callgrind")
    r = Edgemta(sink, tag="cg")
    try:
        r.start(["valgrind", "-q", "--tool=callgrind",
                 "--callgrind-out-file=" + out], wait=120)
        x = one_run(r, sink, 8, 20)
        run(["callgrind_control", "-z", str(r.p.pid)], timeout=60,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log("callgrind: %d messages" % ncg)
        x = one_run(r, sink, 8, ncg)
        if x["rc"] != 0 or x["e2e"] is None:
            notes["edgemta"].append("callgrind run failed: %s" % x["err"])
            return
    except Exception as e:
        notes["edgemta"].append("callgrind: %s" % e)
        return
    finally:
        r.stop()
        sink.stop()
    ann = run(["callgrind_annotate", "--threshold=100", "--inclusive=no",
               out], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
              timeout=120).stdout.decode(errors="replace").splitlines()
    total, top = None, []
    for line in ann:
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        what = m.group(3)
        if "PROGRAM TOTALS" in what:
            total = ir
        elif "/work/" in what or ROOT in what or "libc" in what:
            fn = what.split(" [")[0]
            if fn.split(":")[-1] in ("main", "(below main)",
                                     "__libc_start_main@@GLIBC_2.34"):
                continue
            top.append((ir, fn.replace(ROOT + "/", "")))
    if total:
        res["callgrind"] = (total / ncg, [(ir / ncg, fn) for ir, fn in
                                          top[:10]])
        record("cpu", "instructions_per_msg", "edgemta", 1,
               round(total / ncg), "Ir")


def scen_size(res):
    """make size per defconfig (own build dirs) and the stripped size of
    the installed binary."""
    out = []
    cfgs = sorted(f for f in os.listdir(os.path.join(ROOT, "config"))
                  if f.endswith("defconfig"))
    for cfg in cfgs:
        b = BUILD + "-size/" + cfg.replace("_defconfig", "")
        mk = ["make", "-s", "-C", ROOT, "BUILD=" + b,
              "KCONFIG_CONFIG=%s/.config" % b]
        os.makedirs(os.path.join(ROOT, b), exist_ok=True)
        log("size: %s" % cfg)
        try:
            r1 = run(mk + [cfg], timeout=120, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
            r2 = run(mk + ["-j2"], timeout=600, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT) if r1.returncode == 0 else r1
            if r2.returncode != 0:
                out.append((cfg, "build failed", r2.stdout.decode(
                    errors="replace").strip().splitlines()[-3:]))
                continue
            r3 = run(mk + ["size"], timeout=120, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
            txt = r3.stdout.decode(errors="replace").strip()
            if r3.returncode != 0:
                arts = [os.path.join(ROOT, b, a) for a in
                        ("edgemta", "libedgemta-core.a")]
                arts = [a for a in arts if os.path.exists(a)]
                txt = "(`make size` failed; `size` of the artefact)\n" + \
                    run(["size"] + arts, stdout=subprocess.PIPE
                        ).stdout.decode()
            keep = [ln for ln in txt.splitlines()
                    if "/core/" not in ln and ln.split()[:1] not in
                    (["CC"], ["AR"], ["LD"], ["GEN"])]
            out.append((cfg, "ok", keep))
            for line in txt.splitlines():
                w = line.split()
                if len(w) >= 4 and w[0].isdigit():
                    record("size", "text", cfg, 1, int(w[0]), "bytes")
                    record("size", "data", cfg, 1, int(w[1]), "bytes")
                    record("size", "bss", cfg, 1, int(w[2]), "bytes")
                    break
        except subprocess.TimeoutExpired:
            out.append((cfg, "build timed out", []))
    res["size"] = out
    # installed + stripped
    inst = os.path.join(WORK, "install")
    shutil.rmtree(inst, ignore_errors=True)
    b = os.path.dirname(EDGEMTA)
    rel = os.path.relpath(b, ROOT)
    r = run(["make", "-s", "-C", ROOT, "BUILD=" + rel,
             "KCONFIG_CONFIG=%s/.config" % rel, "install",
             "DESTDIR=" + inst, "PREFIX=/usr"], timeout=300,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    found = None
    for d, _, files in os.walk(inst):
        if "edgemta" in files:
            found = os.path.join(d, "edgemta")
            break
    how = "installed by `make install DESTDIR=... PREFIX=/usr`"
    if not found and os.path.exists(EDGEMTA):
        found = EDGEMTA
        how = "`make install` failed (%s); stripped copy of %s" % (
            r.stdout.decode(errors="replace").strip()[-120:], EDGEMTA)
    if found:
        tmp = os.path.join(WORK, "edgemta.stripped")
        shutil.copy(found, tmp)
        run(["strip", tmp], check=True)
        res["stripped"] = (os.path.getsize(tmp), how)
        record("size", "stripped_installed", "edgemta", 1,
               os.path.getsize(tmp), "bytes")
    q = run(["dpkg-query", "-W", "-f", "${Installed-Size}", "postfix"],
            stdout=subprocess.PIPE).stdout.decode().strip()
    if q.isdigit():
        res["postfix_installed_kib"] = int(q)
        record("size", "package_installed_size", "postfix", 1, int(q) * 1024,
               "bytes")


# ---------------------------------------------------------------- report

def med(relay, scen, metric):
    v = [r[4] for r in rows if r[0] == scen and r[1] == metric and
         r[2] == relay]
    return statistics.median(v) if v else None


def fmt(v, nd=1):
    if v is None:
        return "n/a"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()
                              and abs(v) >= 100):
        return "{:,}".format(int(v))
    return "%.*f" % (nd, v)


def ratio(a, b):
    if a is None or b is None or not b:
        return "n/a"
    return "%.2f" % (a / b)


def machine():
    with open("/proc/meminfo") as f:
        mt = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    cpu = ""
    with open("/proc/cpuinfo") as f:
        m = re.search(r"model name\s*:\s*(.*)", f.read())
        cpu = m.group(1) if m else "?"
    fs = run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", WORK],
             stdout=subprocess.PIPE).stdout.decode().strip()
    pv = run(["postconf", "-d", "-h", "mail_version"],
             stdout=subprocess.PIPE).stdout.decode().strip()
    return [("date (UTC)", datetime.datetime.utcnow().strftime(
                "%Y-%m-%d %H:%M")),
            ("nproc", str(os.cpu_count())), ("cpu", cpu),
            ("memory", "%.1f GiB" % (mt / 1048576)),
            ("kernel", os.uname().release),
            ("queues on", "%s (%s)" % (WORK, fs)),
            ("Postfix", pv), ("edgemta binary", EDGEMTA),
            ("repetitions", "%d (medians shown)%s" %
             (REPS, ", BENCH_QUICK" if QUICK else "")),
            ("messages per throughput run", "%d x %d bytes" %
             (NMSG, MSG_SIZE))]


def report(res, have_edge):
    L = ["# edgemta vs Postfix: benchmark results", "",
         "Produced by `bash bench/run.sh` (bench/bench.py); raw numbers in "
         "bench/results.csv. One run on a shared, noisy machine: ratios "
         "matter more than absolute values.", "",
         "| machine | |", "|---|---|"]
    L += ["| %s | %s |" % kv for kv in machine()]
    if not have_edge:
        L += ["", "**edgemta could not be run: %s. Every edgemta column "
              "below is n/a; nothing was made up.**" % have_edge_why[0]]
    L += ["", "## 1. Relay throughput (smtp-source -s C -m %d -l %d, "
          "smtp-sink behind)" % (NMSG, MSG_SIZE), "",
          "| C | metric | edgemta msg/s | Postfix msg/s | edgemta/Postfix |",
          "|---|---|---|---|---|"]
    for c in CONCURRENCY:
        for m, lab in (("accept_rate", "accept"), ("e2e_rate",
                                                   "end to end")):
            e = med("edgemta", "throughput", "%s_c%d" % (m, c))
            p = med("postfix", "throughput", "%s_c%d" % (m, c))
            L.append("| %d | %s | %s | %s | %s |" % (c, lab, fmt(e), fmt(p),
                                                     ratio(e, p)))
    L += ["", "Accept: until smtp-source exits (every message got its 250). "
          "End to end: until smtp-sink has counted every message."]
    L += ["", "### The physical limit (bench/probe.c) and edgemta's share "
          "of it", "",
          "| C | probe accept msg/s | edgemta accept msg/s | edgemta/probe "
          "| edgemta end to end / accept |", "|---|---|---|---|---|"]
    for c in CONCURRENCY:
        lim = med("limit", "throughput", "accept_rate_c%d" % c)
        e = med("edgemta", "throughput", "accept_rate_c%d" % c)
        ee = med("edgemta", "throughput", "e2e_rate_c%d" % c)
        L.append("| %d | %s | %s | %s | %s |" % (
            c, fmt(lim), fmt(e), "n/a" if not (lim and e) else
            "%.0f%%" % (e / lim * 100), "n/a" if not (e and ee) else
            "%.0f%%" % (ee / e * 100)))
    L += ["", "The probe accepts on 127.0.0.1, writes each message with one "
          "pwrite() into a 16 MiB file on the queues' filesystem (written "
          "and synced beforehand, then overwritten as a ring) and answers "
          "250 after one fdatasync() per event-loop turn (so it groups "
          "what completed in the same turn); no queue, no delivery. "
          "Runs alternate edgemta, Postfix and the probe (the order flips "
          "every repetition)."]
    lo = [v for (sc, m, rl, rp, v, u) in rows if sc == "load"]
    if lo:
        L += ["", "Load (1-minute load average of the machine, read before "
              "each throughput run; 2 cores, other work of the machine "
              "included): min %.2f, median %.2f, max %.2f over %d runs." % (
                  min(lo), statistics.median(lo), max(lo), len(lo))]
    if any(sc == "latency" for (sc, m, rl, rp, v, u) in rows):
        L += ["", "### C=1: the 250's latency after the final dot", "",
              "| | p50 ms | p99 ms |", "|---|---|---|"]
        for name in ("edgemta", "limit"):
            L.append("| %s | %s | %s |" % (
                "probe" if name == "limit" else name,
                fmt(med(name, "latency", "dot_250_p50_ms"), 3),
                fmt(med(name, "latency", "dot_250_p99_ms"), 3)))
        L += ["", "One session, messages one after the other (Python "
              "client, 4 slices alternating edgemta and the probe)."]
    L += ["", "## 2. `sendmail -t -i` latency (%d sequential calls, median)"
          % NSEND, "",
          "| | edgemta ms | Postfix ms | edgemta/Postfix |", "|---|---|---|---|"]
    e = med("edgemta", "sendmail", "latency_median")
    p = med("postfix", "sendmail", "latency_median")
    L.append("| median per call | %s | %s | %s |" % (fmt(e, 2), fmt(p, 2),
                                                   ratio(e, p)))
    L += ["", "Each call is spawned from C (bench/spawnlat.c: posix_spawn, "
          "stdin from a file, waitpid) and includes process creation: "
          "`/bin/true` takes %.2f ms the same way. dma (Debian's package, "
          "unpacked, not installed; durable: fsync before exit, delivery "
          "in a forked child): %s ms." % (res.get("spawn_ms", 0),
                                          fmt(med("dma", "sendmail",
                                                  "latency_median"), 2))]
    L += ["", "## 3. Memory (all of the relay's processes, KiB)", "",
          "| | edgemta PSS | edgemta RSS | Postfix PSS | Postfix RSS | "
          "PSS ratio |", "|---|---|---|---|---|---|"]
    for lab, a, b in (("idle after start (no connection yet)", "idle_pss",
                       "idle_rss"),
                      ("peak at C=32", "peak_pss_c32", "peak_rss_c32"),
                      ("idle after the load scenarios",
                       "idle_after_load_pss", "idle_after_load_rss")):
        e1, e2 = med("edgemta", "memory", a), med("edgemta", "memory", b)
        p1, p2 = med("postfix", "memory", a), med("postfix", "memory", b)
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            lab, fmt(e1), fmt(e2), fmt(p1), fmt(p2), ratio(e1, p1)))
    e1 = med("edgemta", "memory", "idle_pss")
    e2 = med("edgemta", "memory", "idle_libc_pss")
    p1 = med("postfix", "memory", "idle_pss")
    p2 = med("postfix", "memory", "idle_libc_pss")
    if None not in (e1, e2, p1, p2):
        L.append("| idle after start, without the C library's share | %s "
                 "| | %s | | %s |" % (fmt(e1 - e2), fmt(p1 - p2),
                                      ratio(e1 - e2, p1 - p2)))
        L += ["", "The C library's share of PSS (libc, ld.so: edgemta %s "
              "KiB, Postfix %s KiB idle) depends on how many other "
              "processes on the machine map it at that moment." % (
                  fmt(e2), fmt(p2))]
    e = med("edgemta", "memory", "idle_procs")
    p = med("postfix", "memory", "idle_procs")
    pe = med("edgemta", "memory", "peak_procs_c32")
    pp = med("postfix", "memory", "peak_procs_c32")
    L += ["", "Processes: edgemta %s idle, %s at C=32; Postfix %s idle, %s "
          "at C=32." % (fmt(e), fmt(pe), fmt(p), fmt(pp))]
    g = res.get("growth", {})
    for name in ("edgemta",):
        pts = g.get(name, [])
        if len(pts) >= 2:
            L.append("- %s after %d messages (the first C=32 run): PSS %d, "
                     "RSS %d, anonymous %d KiB; after %d: PSS %d, RSS %d, "
                     "anonymous %d KiB." % ((name,) + pts[0] + pts[-1]))
    L += ["", "### %d idle connections (opened from 50 loopback addresses, "
          "6 s to greet)" % NIDLE, "",
          "| relay | greeted (220) | no answer | closed | other reply | "
          "PSS KiB | RSS KiB | PSS per greeted session KiB | alive after |",
          "|---|---|---|---|---|---|---|---|---|"]
    for (name, label), x in sorted(res.get("idle", {}).items()):
        per = ((x["pss"] - x["idle_pss_before"]) / x["greeted"]
               if x["greeted"] else None)
        L.append("| %s | %d | %d | %d | %d %s | %s | %s | %s | %s |" % (
            name if label == "default" else "%s (%s)" % (name, label),
            x["greeted"], x["pending"], x["closed"], x["other"],
            " ".join(x.get("replies", [])),
            fmt(x["pss"]), fmt(x["rss"]), fmt(per, 2),
            "yes" if x["alive_after"] else "NO"))
    L += ["", "edgemta's default build has CONFIG_MAX_SESSIONS=64 and "
          "CONFIG_MAX_SESSIONS_PER_CLIENT=32; the `1k` build sets "
          "CONFIG_MAX_SESSIONS=1024 (config fragment in bench/run.sh). "
          "Postfix's default_process_limit is 100 smtpd processes; the "
          "others wait in the listen queue."]
    L += ["", "## 4. Storage cost per message (%d messages per run, fresh "
          "loop-mounted ext4 holding only the queue)" % NSTORE, "",
          "| C | metric | edgemta | Postfix | edgemta/Postfix |",
          "|---|---|---|---|---|"]
    for c in (1, 4, 32):
        for m, lab in (("sync_calls_per_msg", "sync calls (strace -c -f)"),
                       ("device_bytes_per_msg",
                        "bytes to the device (journal incl.)"),
                       ("proc_io_write_bytes_per_msg",
                        "write_bytes (/proc/PID/io)")):
            e = med("edgemta", "storage", "%s_c%d" % (m, c))
            p = med("postfix", "storage", "%s_c%d" % (m, c))
            nd = 3 if m.startswith("sync") else 0
            L.append("| %d | %s | %s | %s | %s |" % (c, lab, fmt(e, nd),
                                                     fmt(p, nd), ratio(e, p)))
    for (name, c), calls in sorted(res.get("strace", {}).items()):
        L.append("- strace %s C=%d: %s" % (name, c, ", ".join(
            "%s %d calls, %d us each (wall)" % (k, v[0], v[1])
            for k, v in sorted(calls.items())) or "no sync calls"))
    L += ["", "Sync calls and bytes cover the whole life of a message: "
          "accepting, delivering and removing it. Device bytes: "
          "/sys/block/loopN/stat sectors written, after syncfs, before and "
          "after the run. /proc/PID/io sums the relay's processes (reaped "
          "children are folded into their parent); it does not see the "
          "ext4 journal."]
    L += ["", "## 5. Binary size", ""]
    for cfg, st, lines in res.get("size", []):
        L.append("`%s` (%s):" % (cfg, st))
        L += ["", "```"] + list(lines) + ["```", ""]
    if "stripped" in res:
        L.append("Stripped edgemta: **%s bytes** (%s)." % (
            fmt(res["stripped"][0]), res["stripped"][1]))
    if "postfix_installed_kib" in res:
        L.append("For scale: Debian's postfix package installs %s KiB." %
                 fmt(res["postfix_installed_kib"]))
    if "tls_n" in res:
        L += tls_bench.report(sys.modules[__name__])
    if "callgrind" in res:
        tot, top = res["callgrind"]
        L += ["", "## CPU: instructions per message (edgemta, callgrind, "
              "C=8, 4 KiB)", "",
              "%s instructions per relayed message (accept, queue, deliver)."
              " Top functions by self cost:" % fmt(round(tot)), "",
              "| Ir per message | share | function |", "|---|---|---|"]
        for ir, fn in top:
            L.append("| %s | %.1f%% | `%s` |" % (fmt(round(ir)),
                                                ir / tot * 100, fn))
    L += ["", "## Plumbing checks", "",
          "| | edgemta | Postfix |", "|---|---|---|"]
    for m, lab in (("listen_backlog", "listen backlog (ss Send-Q)"),
                   ("greeting_ms_median", "connect -> 220, ms (median of 20)"),
                   ("quit_221_ms_median", "QUIT -> 221, ms (median of 20)"),
                   ("tcp_nodelay_setsockopt_calls",
                    "setsockopt(TCP_NODELAY) calls for 3 messages")):
        L.append("| %s | %s | %s |" % (lab, fmt(med("edgemta", "plumbing", m),
                                                  2),
                                       fmt(med("postfix", "plumbing", m), 2)))
    L += ["", "## Goals (issue 16)", "",
          "| goal | measured | holds | note |", "|---|---|---|---|"]
    L += goals16(res)
    L += ["", "## Goals (issue 7)", "",
          "| goal | measured | holds | margin |", "|---|---|---|---|"]
    L += goals(res)
    try:
        with open(os.path.join(ROOT, "bench/history.md")) as f:
            L += ["", f.read().rstrip("\n")]
    except OSError:
        pass
    for name in ("edgemta", "postfix", "general"):
        if notes[name]:
            L += ["", "## Notes: %s" % name, ""]
            L += ["- " + n for n in notes[name]]
    return "\n".join(L) + "\n"


def goals16(res):
    """Issue 16's goals: (goal, value, met or None, margin) rows."""
    out = []

    def row(goal, val, ok, margin=""):
        out.append("| %s | %s | %s | %s |" % (
            goal, val, "n/a" if ok is None else ("yes" if ok else "**no**"),
            margin))

    for c, want_pct in ((1, 85), (8, 85), (32, 70)):
        lim = med("limit", "throughput", "accept_rate_c%d" % c)
        e = med("edgemta", "throughput", "accept_rate_c%d" % c)
        ee = med("edgemta", "throughput", "e2e_rate_c%d" % c)
        if lim and e:
            row("1. accept >= %d%% of the probe at C=%d" % (want_pct, c),
                "%.0f%% (%s vs %s msg/s)" % (e / lim * 100, fmt(e),
                                             fmt(lim)),
                e / lim * 100 >= want_pct and bool(ee) and ee >= 0.9 * e,
                "end to end %s of accept" % (
                    "n/a" if not ee else "%.0f%%" % (ee / e * 100)))
        else:
            row("1. accept >= %d%% of the probe at C=%d" % (want_pct, c),
                "not measured", None)
    for c, x in ((1, 5), (32, 10)):
        e = med("edgemta", "throughput", "e2e_rate_c%d" % c)
        p = med("postfix", "throughput", "e2e_rate_c%d" % c)
        row("2. end to end >= %dx Postfix at C=%d" % (x, c),
            "n/a" if not (e and p) else "%.2fx (%s vs %s msg/s)" % (
                e / p, fmt(e), fmt(p)), None if not (e and p) else
            e / p >= x)
    for c, lim in ((4, 0.35), (32, 0.1)):
        e = med("edgemta", "storage", "sync_calls_per_msg_c%d" % c)
        row("3. syncs per message <= %g at C=%d" % (lim, c), fmt(e, 3),
            None if e is None else e <= lim)
    p50 = med("edgemta", "latency", "dot_250_p50_ms")
    p99 = med("edgemta", "latency", "dot_250_p99_ms")
    row("3. C=1 latency of the 250 (must not grow)", "p50 %s ms, p99 %s ms"
        % (fmt(p50, 3), fmt(p99, 3)), None, "against the probe in "
        "section 1; before/after the group commit: bench/history.md")
    for c in (4, 32):
        e = med("edgemta", "storage", "device_bytes_per_msg_c%d" % c)
        row("4. device bytes per 4 KiB message <= 5 KiB at C=%d" % c,
            fmt(e, 0) + " B", None if e is None else e <= 5120)
    cg = res.get("callgrind")
    row("5. instructions per relayed message <= 150 k",
        "n/a" if not cg else "{:,.0f}".format(cg[0]),
        None if not cg else cg[0] <= 150000)
    e = med("edgemta", "sendmail", "latency_median")
    sp = res.get("spawn_ms")
    row("6. sendmail -t median <= 1.5x spawning /bin/true",
        "n/a" if not (e and sp) else "%.2f ms = %.2fx /bin/true (%.2f ms)"
        % (e, e / sp, sp), None if not (e and sp) else e <= 1.5 * sp)
    return out


def goals(res):
    out = []

    def row(goal, val, ok, margin):
        out.append("| %s | %s | %s | %s |" % (
            goal, val, "n/a" if ok is None else ("yes" if ok else "**no**"),
            margin))

    for c in (1, 32):
        e = med("edgemta", "throughput", "e2e_rate_c%d" % c)
        p = med("postfix", "throughput", "e2e_rate_c%d" % c)
        if e and p:
            row("end-to-end >= 3x Postfix at C=%d" % c,
                "%.2fx (%s vs %s msg/s)" % (e / p, fmt(e), fmt(p)),
                e / p >= 3, "%.2fx of the 3x needed (%+.0f%%)" % (
                    e / p, (e / p / 3 - 1) * 100))
        else:
            row("end-to-end >= 3x Postfix at C=%d" % c, "not measured",
                None, "")
    for c, lim in ((1, 1.0), (32, 0.2)):
        e = med("edgemta", "storage", "sync_calls_per_msg_c%d" % c)
        row("sync calls per message <= %g at C=%d" % (lim, c),
            fmt(e, 3), None if e is None else e <= lim,
            "" if e is None else "%.1fx the limit" % (e / lim))
    for c, lim in ((1, 8192), (32, 5120)):
        e = med("edgemta", "storage", "device_bytes_per_msg_c%d" % c)
        row("device bytes per 4 KiB message <= %d KiB at C=%d" %
            (lim // 1024, c), fmt(e, 0) + " B",
            None if e is None else e <= lim,
            "" if e is None else "%.1f KiB for a limit of %d (%.1fx)" % (
                e / 1024, lim // 1024, e / lim))
    e = med("edgemta", "memory", "idle_pss")
    row("idle PSS <= 512 KiB", fmt(e, 0) + " KiB",
        None if e is None else e <= 512,
        "" if e is None else "%.0f%% of the limit" % (e / 512 * 100))
    lc = med("edgemta", "memory", "idle_libc_pss")
    if e is not None and lc is not None:
        row("idle PSS <= 512 KiB, without the C library's share",
            fmt(e - lc, 0) + " KiB", e - lc <= 512,
            "%.0f%% of the limit" % ((e - lc) / 512 * 100))
    per = None
    for (name, label), x in res.get("idle", {}).items():
        if name == "edgemta" and x["greeted"]:
            v = (x["pss"] - x["idle_pss_before"]) / x["greeted"]
            if label == "1k" or per is None:
                per = v
    row("<= 8 KiB RAM per plain session", fmt(per, 2) + " KiB",
        None if per is None else per <= 8,
        "" if per is None else "%.0f%% of the limit (PSS growth with "
        "idle sessions open / sessions greeted)" % (per / 8 * 100))
    e = med("edgemta", "memory", "peak_pss_c32")
    row("peak PSS <= 2 MiB at C=32", fmt(e, 0) + " KiB",
        None if e is None else e <= 2048,
        "" if e is None else "%.0f%% of the limit" % (e / 2048 * 100))
    pts = res.get("growth", {}).get("edgemta", [])
    if len(pts) >= 2:
        d = pts[-1][3] - pts[0][3]
        row("no memory growth (after %d vs %d messages)" % (
            pts[-1][0], pts[0][0]), "%+d KiB anonymous (PSS %+d, RSS %+d)"
            % (d, pts[-1][1] - pts[0][1], pts[-1][2] - pts[0][2]), d <= 4,
            "judged on anonymous memory (heap, bss, stack), one page "
            "tolerance; RSS also counts shared libc pages faulted in later")
    else:
        row("no PSS growth over a long run", "not measured", None, "")
    best = None
    for (name, label), x in res.get("idle", {}).items():
        if name == "edgemta":
            if best is None or x["greeted"] > best[1]["greeted"]:
                best = (label, x)
    if best:
        row("%d concurrent idle sessions served" % NIDLE,
            "%d greeted (%s build)" % (best[1]["greeted"], best[0]),
            best[1]["greeted"] >= NIDLE, "")
    else:
        row("%d concurrent idle sessions served" % NIDLE, "not measured",
            None, "")
    e = med("edgemta", "sendmail", "latency_median")
    sp = res.get("spawn_ms", 0)
    row("sendmail -t median <= 2 ms", fmt(e, 2) + " ms" + (
        "" if e is None else " (%.2f ms without process creation)" %
        (e - sp)),
        None if e is None else e <= 2,
        "" if e is None else "%.1fx the limit; includes %.2f ms of process "
        "creation (Postfix: %s ms, dma: %s ms)" % (
            e / 2, sp, fmt(med("postfix", "sendmail", "latency_median"), 2),
            fmt(med("dma", "sendmail", "latency_median"), 2)))
    d = med("dma", "sendmail", "latency_median")
    if e is not None and d is not None:
        row("sendmail -t below dma (the fastest peer)", "%.2f vs %.2f ms" %
            (e, d), e < d, "%.2fx dma's time" % (e / d))
    b = med("edgemta", "plumbing", "listen_backlog")
    row("listen backlog >= 128", fmt(b, 0), None if b is None else b >= 128,
        "")
    q = med("edgemta", "plumbing", "quit_221_ms_median")
    row("no pause before 221", fmt(q, 2) + " ms",
        None if q is None else q < 10, "")
    n = med("edgemta", "plumbing", "tcp_nodelay_setsockopt_calls")
    row("TCP_NODELAY set", fmt(n, 0) + " calls",
        None if n is None else n > 0,
        "(or the final dot sent with the last body bytes)")
    return out


have_edge_why = [""]


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want_fd = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want_fd), hard))
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(LOGDIR, exist_ok=True)
    res = {}
    have_edge = os.access(EDGEMTA, os.X_OK)
    if not have_edge:
        have_edge_why[0] = "%s does not exist" % EDGEMTA
    relays, sinks = [], {}
    try:
        for kind in (Edgemta, Postfix):
            if kind is Edgemta and not have_edge:
                continue
            sink = Sink(kind.name)
            r = kind(sink)
            try:
                r.start()
            except Exception as e:
                sink.stop()
                if kind is Edgemta:
                    have_edge = False
                    have_edge_why[0] = str(e)
                    continue
                raise
            relays.append(r)
            sinks[r.name] = sink
        if want("mem"):
            scen_idle_mem(relays, res)
        if have_edge:
            base = sinks["edgemta"].count
            rc, err = source(relays[0], 1, 1, 30)
            if rc != 0:
                notes["edgemta"].append("sanity: smtp-source failed: " + err)
            elif not drain(sinks["edgemta"], base + 1, 15):
                notes["edgemta"].append(
                    "sanity: 1 message accepted but not delivered within "
                    "15 s: end-to-end figures will be missing")
        if want("plumb"):
            scen_plumbing(relays, res)
            scen_nodelay(relays, sinks)
        probe = None
        if (want("tput") or want("lat")) and os.access(PROBE, os.X_OK):
            probe = Probe()
            try:
                probe.start()
            except Exception as e:
                notes["general"].append("probe: %s" % e)
                probe = None
        elif want("tput") or want("lat"):
            notes["general"].append("no %s (built by bench/run.sh): the "
                                    "physical limit was not measured"
                                    % PROBE)
        try:
            if want("tput"):
                scen_throughput(relays, sinks, res, probe)
            if want("lat"):
                scen_latency(relays, probe, sinks, res)
        finally:
            if probe:
                probe.stop()
        if want("sendmail"):
            scen_sendmail(relays, sinks, res)
        if want("mem"):
            scen_idle_mem(relays, res, "idle_after_load")
        if want("idle"):
            scen_idle_sessions(relays, res, "default")
        for r in relays:
            r.stop()
        for s in sinks.values():
            s.stop()
        relays, sinks = [], {}
        if want("idle") and have_edge and os.access(EDGEMTA_1K, os.X_OK):
            sink = Sink("1k")
            r = Edgemta(sink, binary=EDGEMTA_1K, tag="1k")
            try:
                r.start()
                scen_idle_sessions([r], res, "1k")
            except Exception as e:
                notes["edgemta"].append("1k build: %s" % e)
            finally:
                r.stop()
                sink.stop()
        elif want("idle") and have_edge:
            notes["edgemta"].append("no %s: the 1,000-session build was "
                                    "not measured" % EDGEMTA_1K)
        if want("cpu") and have_edge:
            scen_callgrind(res)
        if want("storage"):
            scen_storage([Edgemta, Postfix] if have_edge else [Postfix], res)
        if want("size"):
            scen_size(res)
        if want("tls"):
            tls_bench.scen_tls(sys.modules[__name__],
                               [Edgemta, Postfix] if have_edge
                               else [Postfix], res)
    finally:
        for r in relays:
            try:
                r.stop()
            except Exception as e:
                log("stopping %s: %s" % (r.name, e))
        for pid, (name, p) in list(procs.items()):
            log("stopping leftover %s (pid %d)" % (name, pid))
            stop_proc(p, wait=5)
    md = report(res, have_edge)
    with open(os.path.join(ROOT, "bench/results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(ROOT, "bench/results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "metric", "relay", "rep", "value", "unit"])
        w.writerows(rows)
    print(md)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    main()
