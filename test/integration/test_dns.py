"""DNS (issue 6): MX delivery, relayhost names and the client's PTR,
against real DNS servers inside a network namespace each test creates.

Each test moves the test thread into a fresh network namespace
(unshare(CLONE_NEWNET), needs root), brings lo up, and runs there:
  - dnsmasq on 127.0.0.53:53 with the zone "test" (MX, A, PTR records,
    a > 512-byte MX answer) that forwards the zone "odd" to
  - a python3-dnslib server on 127.0.0.54:53 that answers badly on
    purpose: SERVFAIL, Null MX, truncated (TC), malformed, slow (held
    until the test releases it), never (PTR held while sessions die);
  - Postfix's smtp-sink as the MX "hosts" on 198.51.100.2/3/5 port 25
    (TEST-NET-2 addresses added to lo: every loopback address counts as
    "ourselves" for an MX; 198.51.100.4 refuses connections) and as the
    smarthost on 127.0.0.6 (a relayhost may be on loopback);
  - edgemta on 127.0.0.1.
Faults that dnsmasq would repair (TC, garbage) are sent to edgemta
directly by pointing dns_servers at the dnslib server. Every process is
stopped by PID; every wait is bounded; nothing asserts on durations.
"""
import ctypes
import email
import os
import smtplib
import socket
import subprocess
import threading
import time
import unittest

from helpers import (RelayTest, Sink, assert_setup_delay, reap, spawn,
                     stalling_peer, wait_until)

try:
    import dnslib
    from dnslib import DNSRecord, RR, QTYPE, RCODE, A, CNAME, MX, PTR
except ImportError:  # python3-dnslib missing: every test skips
    dnslib = None

# Every edgemta of the suite (run.py imports all test modules) looks up
# PTR and MX names; without its own dns_servers it would ask the host's
# resolver (/etc/resolv.conf), an outside address. udns reads these two
# variables first: point them at a closed local port, so that a lookup
# of a test that did not set up DNS fails locally (deferral), and nothing
# leaves the machine. Tests here set dns_servers, which overrides them.
os.environ.setdefault("NAMESERVERS", "127.0.0.1")
os.environ.setdefault("RES_OPTIONS", "port:9")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

DNSMASQ = "127.0.0.53"
ODD = "127.0.0.54"
NETS = "127.0.0.0/8 192.0.2.0/24"
FAST = ("minimal_backoff_time = 1s\n"
        "maximal_backoff_time = 2s\n")

# Long names for an MX answer larger than 512 bytes (EDNS0 needed).
BIG_NAMES = ["backup-exchanger-number-%02d.a-rather-long-subdomain.test" % i
             for i in range(14)]


def dnsmasq_argv(log):
    a = ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv",
         "--no-hosts", "--listen-address=" + DNSMASQ, "--bind-interfaces",
         "--port=53", "--pid-file=", "--user=root", "--log-queries",
         "--log-facility=" + log, "--local=/test/",
         "--server=/odd/" + ODD, "--no-negcache", "--cache-size=0",
         # preference order
         "--mx-host=mx.test,mx1.test,10", "--mx-host=mx.test,mx2.test,20",
         "--host-record=mx1.test,198.51.100.2",
         "--host-record=mx2.test,198.51.100.3",
         # first MX refuses connections
         "--mx-host=fallback.test,dead.test,10",
         "--mx-host=fallback.test,mx2.test,20",
         "--host-record=dead.test,198.51.100.4",
         # no MX: the domain's own address
         "--host-record=amx.test,198.51.100.5",
         # MX is ourselves
         "--mx-host=loop.test,self.test,10",
         "--host-record=self.test,127.0.0.1",
         # smarthost by name; one whose first address refuses
         "--host-record=smart.test,127.0.0.6",
         "--host-record=smart2.test,198.51.100.4,fd00::6",
         # A and AAAA, no MX (smtp_address_preference)
         "--host-record=dual.test,198.51.100.2,fd00::2",
         # PTR (loopback peers are never looked up: clients use
         # TEST-NET-1 addresses added to lo): confirmed, and one whose
         # name points elsewhere
         "--host-record=client.test,192.0.2.7",
         "--ptr-record=8.2.0.192.in-addr.arpa,liar.test",
         "--host-record=liar.test,192.0.2.9",
         # the first MX stalls, then refuses (delays=a/b/c/d)
         "--mx-host=stall.test,staller.test,10",
         "--mx-host=stall.test,mx2.test,20",
         "--host-record=staller.test,198.51.100.7",
         # a big MX answer
         "--mx-host=big.test,mx1.test,5"]
    a += ["--mx-host=big.test,%s,50" % n for n in BIG_NAMES]
    return a


class OddServer:
    """python3-dnslib UDP server with deliberate faults (see module doc).
    Runs in a thread of the test (inside the namespace)."""

    def __init__(self, addr=ODD):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 53))
        self.sock.settimeout(0.1)
        self.release = threading.Event()   # lets held answers go
        self.slow_answered = False
        self.stop_ev = threading.Event()
        self.seen = []
        self.threads = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _answer(self, data, peer):
        try:
            q = DNSRecord.parse(data)
        except Exception:
            return
        name = str(q.q.qname).rstrip(".").lower()
        qt = QTYPE[q.q.qtype]
        self.seen.append((name, qt))
        r = q.reply()
        if name.endswith("in-addr.arpa"):
            # held until released (or forever): sessions die meanwhile
            self.release.wait(5)
            r.header.rcode = RCODE.NXDOMAIN
        elif name == "servfail.odd":
            r.header.rcode = RCODE.SERVFAIL
        elif name == "nullmx.odd" and qt == "MX":
            r.add_answer(RR(name, QTYPE.MX, rdata=MX(".", 0), ttl=5))
        elif name == "trunc.odd":
            r.header.tc = 1
        elif name == "malformed.odd":
            raw = bytearray(r.pack())
            raw[7] = 3             # claims 3 answers, carries 1 bad one
            raw += b"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x05\x00\x30\x00"
            self.sock.sendto(bytes(raw), peer)
            return
        elif name in ("slow.odd", "ok.odd") and qt == "MX":
            r.add_answer(RR(name, QTYPE.MX, rdata=MX("mx2.odd", 10),
                            ttl=5))
            if name == "slow.odd":
                self.release.wait(5)
                self.slow_answered = True
        elif name == "mx2.odd" and qt == "A":
            r.add_answer(RR(name, QTYPE.A, rdata=A("198.51.100.3"), ttl=5))
        elif name in ("zero.odd", "lo2.odd", "cname.odd", "cloop.odd") \
                and qt == "MX":
            r.add_answer(RR(name, QTYPE.MX, rdata=MX(
                {"zero.odd": "mx0.odd", "lo2.odd": "mxlo.odd",
                 "cname.odd": "mxc.odd", "cloop.odd": "ca.odd"}[name], 10),
                ttl=5))
        elif name == "mx0.odd" and qt == "A":
            r.add_answer(RR(name, QTYPE.A, rdata=A("0.0.0.0"), ttl=5))
        elif name == "mxlo.odd" and qt == "A":
            r.add_answer(RR(name, QTYPE.A, rdata=A("127.0.0.2"), ttl=5))
        elif (name in ("mxc.odd", "ca.odd", "cb.odd") and
              qt in ("A", "AAAA")) or name == "calias.odd":
            # only the CNAME, not the target's records (allowed)
            r.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(
                {"mxc.odd": "mx2.odd", "ca.odd": "cb.odd",
                 "cb.odd": "ca.odd", "calias.odd": "ok.odd"}[name]),
                ttl=5))
        elif name in ("mx2.odd", "nullmx.odd", "slow.odd", "ok.odd",
                      "zero.odd", "lo2.odd", "cname.odd", "cloop.odd",
                      "mx0.odd", "mxlo.odd", "mxc.odd", "ca.odd", "cb.odd"):
            pass                   # NODATA
        else:
            r.header.rcode = RCODE.NXDOMAIN
        try:
            self.sock.sendto(r.pack(), peer)
        except OSError:
            pass

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._answer, args=(data, peer),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.release.set()
        self.stop_ev.set()
        self.t.join(5)
        for t in self.threads:
            t.join(5)
        self.sock.close()


class CountingMx:
    """A minimal SMTP server on ip:25 (threads) that counts concurrent
    connections. The reply to the final dot waits (at most 1.5 s) for a
    second connection, so that sessions that may overlap do overlap."""

    def __init__(self, ip):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((ip, 25))
        self.lsock.listen(16)
        self.lsock.settimeout(0.1)
        self.lock = threading.Lock()
        self.more = threading.Condition(self.lock)
        self.active = 0
        self.max_active = 0
        self.delivered = 0
        self.stop_ev = threading.Event()
        self.threads = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._session, args=(c,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _session(self, c):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.more.notify_all()
        try:
            c.settimeout(10)
            f = c.makefile("rb")
            c.sendall(b"220 counting ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    break
                cmd = line[:4].upper()
                if cmd == b"DATA":
                    c.sendall(b"354 go\r\n")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    with self.lock:
                        self.more.wait_for(lambda: self.active >= 2, 1.5)
                        self.delivered += 1
                    c.sendall(b"250 2.0.0 ok\r\n")
                elif cmd == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    break
                else:
                    c.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            c.close()
            with self.lock:
                self.active -= 1

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        self.lsock.close()
        for t in self.threads:
            t.join(12)


@unittest.skipIf(dnslib is None, "python3-dnslib is not installed")
@unittest.skipIf(os.geteuid() != 0, "network namespaces need root")
class DnsTest(RelayTest):

    def setUp(self):
        super().setUp()
        self._ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        if _libc.unshare(CLONE_NEWNET) != 0:
            os.close(self._ns)
            self.skipTest("unshare(CLONE_NEWNET) failed: errno %d"
                          % ctypes.get_errno())
        self.addCleanup(self._leave_netns)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True,
                       timeout=10)
        for ip in ("192.0.2.7/32", "192.0.2.8/32", "192.0.2.20/32",
                   "198.51.100.2/32", "198.51.100.3/32", "198.51.100.4/32",
                   "198.51.100.5/32", "198.51.100.7/32",
                   "fd00::2/128", "fd00::6/128"):
            subprocess.run(["ip", "addr", "add", ip, "dev", "lo"] +
                           (["nodad"] if ":" in ip else []), check=True,
                           timeout=10)
        self.odd = OddServer()
        self.addCleanup(self.odd.stop)
        self.dnslog = os.path.join(self.tmp, "dnsmasq.log")
        self.dnsmasq = spawn(dnsmasq_argv(self.dnslog),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(reap, self.dnsmasq)
        ok = wait_until(lambda: self._dns_up(), 10, 0.1)
        self.assertTrue(ok, "dnsmasq did not answer on %s" % DNSMASQ)
        self.sinks = {}

    def _leave_netns(self):
        _libc.setns(self._ns, CLONE_NEWNET)
        os.close(self._ns)

    def _dns_up(self):
        if self.dnsmasq.poll() is not None:
            raise AssertionError("dnsmasq exited %d" %
                                 self.dnsmasq.returncode)
        try:
            a = DNSRecord.parse(DNSRecord.question("mx1.test", "A").send(
                DNSMASQ, 53, timeout=0.5))
            return len(a.rr) == 1
        except (socket.timeout, OSError):
            return False

    # ---- peers ----

    def sink(self, ip, args=()):
        """smtp-sink on ip:25 dumping into its own directory."""
        d = os.path.join(self.tmp, "sink-" + ip)
        os.chmod(self.tmp, 0o711)   # smtp-sink dumps as nobody
        s = Sink(25, list(args), dump_dir=d,
                 host="[%s]" % ip if ":" in ip else ip)
        self.addCleanup(s.stop)

        def up():
            try:
                socket.create_connection((ip, 25), 0.5).close()
                return True
            except OSError:
                return False
        self.assertTrue(wait_until(up, 10, 0.05), "sink %s not up" % ip)
        self.sinks[ip] = s
        return s

    def mx_relay(self, dns=DNSMASQ, extra="", sub="r"):
        return self.relay(sub=sub, conf_extra=FAST + "dns_servers = %s\n"
                          % dns + extra, mynetworks=NETS)

    def submit(self, relay, rcpts, sender="alice@mx.test", body=None,
               source=None):
        body = body or ("Subject: dns test\r\n\r\nhello %s\r\n"
                        % " ".join(rcpts))
        kw = {"source_address": (source, 0)} if source else {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=15, **kw) as c:
            c.ehlo("client.example")
            r = c.sendmail(sender, rcpts, body)
            self.assertEqual(r, {})

    @staticmethod
    def rcpts_of(dump):
        """Envelope recipients recorded by smtp-sink -d in one dump."""
        out = []
        for line in dump.split(b"\n"):
            if line.startswith(b"X-Rcpt-Args: "):
                a = line[len(b"X-Rcpt-Args: "):].strip()
                out.append(a.decode().strip("<>").split(">")[0])
        return out

    def delivered(self, ip):
        return [r for d in self.sinks[ip].dumps() for r in self.rcpts_of(d)]

    def wait_log(self, relay, needle, timeout=20):
        ok = wait_until(lambda: needle in relay.log_text(), timeout, 0.05)
        self.assertTrue(ok, "%r not logged:\n%s" % (needle,
                                                    relay.log_tail(60)))

    def wait_delivered(self, ip, rcpt, relay, timeout=20):
        ok = wait_until(lambda: rcpt in self.delivered(ip), timeout, 0.05)
        self.assertTrue(ok, "%s not delivered to %s:\n%s"
                        % (rcpt, ip, relay.log_tail(60)))

    def assert_alive(self, relay):
        self.assertTrue(relay.running(), relay.log_tail(60))
        self.assertNotIn("AddressSanitizer", relay.log_text())
        self.assertNotIn("runtime error", relay.log_text())

    # ---- MX order and fallbacks ----

    def test_mx_preference_order(self):
        self.sink("198.51.100.2")
        self.sink("198.51.100.3")
        r = self.mx_relay()
        for i in range(3):
            self.submit(r, ["u%d@mx.test" % i])
        for i in range(3):
            self.wait_delivered("198.51.100.2", "u%d@mx.test" % i, r)
        self.assertEqual(self.delivered("198.51.100.3"), [])
        self.wait_log(r, "relay=mx1.test[198.51.100.2]:25")
        self.assert_alive(r)

    def test_next_mx_when_first_refuses(self):
        self.sink("198.51.100.3")          # 198.51.100.4 (MX 10) refuses
        r = self.mx_relay()
        self.submit(r, ["bob@fallback.test"])
        self.wait_delivered("198.51.100.3", "bob@fallback.test", r)
        self.wait_log(r, "status=sent")
        self.assertIn("dead.test", r.log_text())   # it was tried first

    def test_a_record_without_mx(self):
        self.sink("198.51.100.5")
        r = self.mx_relay()
        self.submit(r, ["carol@amx.test"])
        self.wait_delivered("198.51.100.5", "carol@amx.test", r)

    def test_no_credentials_to_mx(self):
        """Relay credentials are for the relayhost: MX delivery never
        sends AUTH, and does not need TLS because of them."""
        self.sink("198.51.100.5")
        r = self.mx_relay(extra="smtp_sasl_username = relayuser\n"
                          "smtp_sasl_password = secret\n")
        self.submit(r, ["dave@amx.test"])
        self.wait_delivered("198.51.100.5", "dave@amx.test", r)
        for d in self.sinks["198.51.100.5"].dumps():
            self.assertNotIn(b"secret", d)
            self.assertNotIn(b"relayuser", d)

    def test_domains_grouped_per_destination(self):
        self.sink("198.51.100.2")
        self.sink("198.51.100.5")
        r = self.mx_relay()
        self.submit(r, ["a1@mx.test", "c1@amx.test", "a2@MX.test"])
        self.wait_delivered("198.51.100.2", "a2@MX.test", r)
        self.wait_delivered("198.51.100.5", "c1@amx.test", r)
        self.assertEqual(sorted(self.delivered("198.51.100.2")),
                         ["a1@mx.test", "a2@MX.test"])
        self.assertEqual(self.delivered("198.51.100.5"), ["c1@amx.test"])
        self.assertEqual(len(self.sinks["198.51.100.2"].dumps()), 1)

    def test_large_mx_answer(self):
        # the answer needs EDNS0: check that it really is > 512 bytes
        q = DNSRecord.question("big.test", "MX")
        q.add_ar(dnslib.EDNS0(udp_len=4096))
        raw = q.send(DNSMASQ, 53, timeout=2)
        self.assertGreater(len(raw), 512)
        self.assertEqual(len(DNSRecord.parse(raw).rr), 15)
        self.sink("198.51.100.2")
        r = self.mx_relay()
        self.submit(r, ["dave@big.test"])
        self.wait_delivered("198.51.100.2", "dave@big.test", r)

    def test_address_preference(self):
        self.sink("198.51.100.2")
        self.sink("fd00::2")
        r6 = self.mx_relay(extra="smtp_address_preference = ipv6\n",
                           sub="r6")
        self.submit(r6, ["v6@dual.test"])
        self.wait_delivered("fd00::2", "v6@dual.test", r6)
        r4 = self.mx_relay(extra="smtp_address_preference = ipv4\n",
                           sub="r4")
        self.submit(r4, ["v4@dual.test"])
        self.wait_delivered("198.51.100.2", "v4@dual.test", r4)
        self.assertEqual(self.delivered("fd00::2"), ["v6@dual.test"])
        self.assertEqual(self.delivered("198.51.100.2"), ["v4@dual.test"])

    # ---- per-destination concurrency ----

    def _max_concurrency(self, limit):
        srv = CountingMx("198.51.100.2")
        self.addCleanup(srv.stop)
        r = self.mx_relay(extra="default_destination_concurrency_limit = "
                          "%d\n" % limit)
        for i in range(3):
            self.submit(r, ["c%d@mx.test" % i])
        ok = wait_until(lambda: srv.delivered >= 3, 40, 0.05)
        self.assertTrue(ok, r.log_tail(40))
        self.assertNotIn("status=deferred", r.log_text())
        return srv.max_active

    def test_destination_concurrency_limit(self):
        self.assertEqual(self._max_concurrency(1), 1)

    def test_destination_concurrency_without_limit_overlaps(self):
        # the control: the counting server does see overlap when allowed
        self.assertGreater(self._max_concurrency(3), 1)

    # ---- permanent failures: bounces ----

    def _bounce_text(self, relay, rcpt):
        """The DSN for rcpt, delivered to the sender alice@mx.test."""
        def find():
            for d in self.sinks["198.51.100.2"].dumps():
                if b"alice@mx.test" in d and rcpt.encode() in d and \
                        b"delivery-status" in d.lower():
                    return d
            return None
        ok = wait_until(find, 20, 0.05)
        self.assertTrue(ok, "no DSN for %s:\n%s" % (rcpt,
                                                   relay.log_tail(60)))
        return find().decode("utf-8", "replace")

    def test_nxdomain_bounces(self):
        self.sink("198.51.100.2")
        r = self.mx_relay()
        self.submit(r, ["eve@nosuchdomain.test"])
        self.wait_log(r, "to=<eve@nosuchdomain.test>")
        self.wait_log(r, "status=bounced")
        dsn = self._bounce_text(r, "eve@nosuchdomain.test")
        self.assertIn("5.4.4", dsn)
        self.assertIn("Host or domain name not found", dsn)
        self.assertTrue(wait_until(lambda: r.queue_ids() == [], 20, 0.05),
                        r.log_tail(40))

    def test_null_mx_bounces(self):
        self.sink("198.51.100.2")
        r = self.mx_relay()
        self.submit(r, ["frank@nullmx.odd"])
        dsn = self._bounce_text(r, "frank@nullmx.odd")
        self.assertIn("5.1.10", dsn)
        self.assertIn("does not accept mail", dsn)

    def test_mx_is_ourselves_bounces(self):
        self.sink("198.51.100.2")
        r = self.mx_relay()
        self.submit(r, ["gina@loop.test"])
        dsn = self._bounce_text(r, "gina@loop.test")
        self.assertIn("loops back to myself", dsn)

    # ---- mail loops to ourselves (issue 17.1) ----

    def _assert_no_loop(self, relay, rcpt):
        """rcpt's MX reaches this host through the wildcard listener on
        port 25: bounced 5.4.6 at once, never delivered to ourselves."""
        self.submit(relay, [rcpt])
        self.wait_log(relay, "to=<%s>" % rcpt)
        self.wait_log(relay, "dsn=5.4.6")
        log = relay.log_text()
        self.assertIn("loops back to myself", log)
        self.assertIn("status=bounced", log)
        # one message came in: ours (a loop would show many more)
        self.assertEqual(log.count("client="), 1, relay.log_tail(40))
        self.assert_alive(relay)

    def test_mx_unspecified_address_is_ourselves(self):
        r = self.mx_relay(extra="listen = 0.0.0.0:25 smtp\n")
        self._assert_no_loop(r, "zed@zero.odd")

    def test_mx_any_loopback_address_is_ourselves(self):
        """127.0.0.2 is not an interface address, but the wildcard
        listener answers there."""
        r = self.mx_relay(extra="listen = 0.0.0.0:25 smtp\n")
        self._assert_no_loop(r, "lou@lo2.odd")

    def test_address_literal_of_ourselves_bounces(self):
        r = self.mx_relay(extra="listen = 0.0.0.0:25 smtp\n")
        self._assert_no_loop(r, "lit@[127.0.0.1]")

    # ---- CNAME-only answers (issue 17.2) ----

    def test_mx_host_answered_with_only_a_cname(self):
        """The A answer for the MX host holds only a CNAME to mx2.odd:
        followed with a new query, delivered (not "Host not found")."""
        self.sink("198.51.100.3")
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["cy@cname.odd"], sender="alice@ok.odd")
        self.wait_delivered("198.51.100.3", "cy@cname.odd", r)
        self.assertIn(("mx2.odd", "A"), self.odd.seen)
        self.assertNotIn("status=bounced", r.log_text())

    def test_domain_answered_with_only_a_cname_for_mx(self):
        """The MX answer for calias.odd is only a CNAME to ok.odd: ok.odd's
        MX is asked and used (not an implicit MX, not a bounce)."""
        self.sink("198.51.100.3")
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["cal@calias.odd"], sender="alice@ok.odd")
        self.wait_delivered("198.51.100.3", "cal@calias.odd", r)
        self.assertIn(("ok.odd", "MX"), self.odd.seen)

    def test_cname_loop_defers(self):
        """ca.odd -> cb.odd -> ca.odd ...: bounded, and an incomplete
        answer is never a permanent failure."""
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["cleo@cloop.odd"], sender="alice@ok.odd")
        self._assert_deferred(r, "cleo@cloop.odd", "dsn=4.4.3")
        self.assertIn("CNAMEs from ca.odd", r.log_text())
        self.assert_alive(r)

    # ---- the delays=a/b/c/d log field (issue 17.5) ----

    def test_delays_count_failed_mx_connections(self):
        """The first MX holds the connection ~2 s, then refuses: the
        time goes into c (connection setup) of the line of the delivery
        through the second MX, and into delay."""
        self.sink("198.51.100.3")
        stalling_peer(self, "198.51.100.7", 25, hold=2.0)
        r = self.mx_relay()
        self.submit(r, ["dee@stall.test"])
        self.wait_delivered("198.51.100.3", "dee@stall.test", r, timeout=30)
        self.wait_log(r, "status=sent")
        assert_setup_delay(self, r"to=<dee@stall.test>, relay=mx2.test\S*, ",
                           r.log_text(), 2.0)

    # ---- temporary failures: deferrals ----

    def _assert_deferred(self, relay, rcpt, needle=None):
        self.wait_log(relay, "to=<%s>" % rcpt)
        self.wait_log(relay, "status=deferred")
        if needle:
            self.wait_log(relay, needle)
        self.assertNotIn("status=bounced", relay.log_text())
        rows = relay.queue_list()
        self.assertEqual([x["rcpts"] for x in rows], [[rcpt]])

    def test_servfail_defers(self):
        r = self.mx_relay()
        self.submit(r, ["hal@servfail.odd"])
        self._assert_deferred(r, "hal@servfail.odd", "dsn=4.4.3")
        self.assert_alive(r)

    def test_truncated_answer_defers(self):
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["ivy@trunc.odd"])
        self._assert_deferred(r, "ivy@trunc.odd", "dsn=4.4.3")
        self.assert_alive(r)

    def test_malformed_answer_defers_and_daemon_lives_on(self):
        self.sink("198.51.100.3")
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["jo@malformed.odd"])
        self._assert_deferred(r, "jo@malformed.odd", "dsn=4.4.3")
        self.assert_alive(r)
        self.submit(r, ["kim@ok.odd"])
        self.wait_delivered("198.51.100.3", "kim@ok.odd", r)
        self.assert_alive(r)

    def test_slow_dns_does_not_block_the_loop(self):
        """The MX answer for slow.odd is held until a second SMTP client
        has completed a whole transaction: a loop blocked on DNS could
        not answer it, and the held lookup still delivers afterwards."""
        self.sink("198.51.100.3")
        r = self.mx_relay(dns=ODD, extra="relayhost =\n")
        self.submit(r, ["lea@slow.odd"])
        self.assertTrue(wait_until(lambda: ("slow.odd", "MX") in
                                   self.odd.seen, 10, 0.01),
                        r.log_tail(40))
        self.submit(r, ["max@ok.odd"])       # while slow.odd is held
        self.assertFalse(self.odd.slow_answered)
        self.odd.release.set()
        self.wait_delivered("198.51.100.3", "max@ok.odd", r)
        self.wait_delivered("198.51.100.3", "lea@slow.odd", r)

    # ---- smarthost by name ----

    def test_smarthost_by_name_delivers(self):
        self.sink("127.0.0.6")
        r = self.relay(conf_extra=FAST + "dns_servers = %s\n"
                       "relayhost = smart.test:25\n" % DNSMASQ)
        self.submit(r, ["nina@example.org"])
        self.wait_delivered("127.0.0.6", "nina@example.org", r)
        self.wait_log(r, "relay=smart.test[127.0.0.6]:25")

    def test_smarthost_every_address_tried(self):
        self.sink("fd00::6")            # its IPv4 address refuses
        r = self.relay(conf_extra=FAST + "dns_servers = %s\n"
                       "relayhost = smart2.test:25\n"
                       "smtp_tls_security_level = may\n"
                       "smtp_address_preference = ipv4\n" % DNSMASQ)
        self.submit(r, ["pam@example.org"])
        self.wait_delivered("fd00::6", "pam@example.org", r)
        self.assertIn("smart2.test[198.51.100.4]:25: Connection refused",
                      r.log_text())

    def test_unresolvable_smarthost_defers(self):
        r = self.relay(conf_extra=FAST + "dns_servers = %s\n"
                       "relayhost = nosuch.test:25\n" % DNSMASQ)
        self.submit(r, ["otto@example.org"])
        self.wait_log(r, "Host not found")
        self.wait_log(r, "status=deferred")
        self.assertEqual(len(r.queue_ids()), 1)
        self.assert_alive(r)

    # ---- PTR in Received ----

    def _received_from(self, relay, source):
        """Send from source until the stored Received line shows a
        looked-up name (the PTR races DATA: at most 5 tries)."""
        line = None
        for i in range(5):
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=15,
                              source_address=(source, 0)) as c:
                c.ehlo("helo.example")
                time.sleep(0.2)     # give the PTR a chance, not asserted
                c.sendmail("p@example.org", ["q%d@example.org" % i],
                           "Subject: ptr\r\n\r\nx\r\n")
            ids = relay.queue_ids()
            stored = relay.queue_show(ids[-1]).decode("utf-8", "replace")
            line = stored.split("\r\n")[0]
            if "(unknown " not in line:
                break
        return line

    def test_ptr_confirmed_in_received(self):
        r = self.relay(conf_extra="dns_servers = %s\n"
                       "relayhost = [127.0.0.10]:25\n" % DNSMASQ,
                       mynetworks=NETS)
        line = self._received_from(r, "192.0.2.7")
        self.assertIn("from helo.example (client.test [192.0.2.7])", line)

    def test_ptr_not_confirmed_is_unknown(self):
        r = self.relay(conf_extra="dns_servers = %s\n"
                       "relayhost = [127.0.0.10]:25\n" % DNSMASQ,
                       mynetworks=NETS)
        line = self._received_from(r, "192.0.2.8")
        self.assertIn("from helo.example (unknown [192.0.2.8])", line)
        self.assertNotIn("liar", line)

    def test_loopback_client_is_not_looked_up(self):
        self.sink("198.51.100.3")
        r = self.mx_relay(dns=ODD)
        self.submit(r, ["rob@ok.odd"])      # from 127.0.0.1
        self.wait_delivered("198.51.100.3", "rob@ok.odd", r)
        self.assertEqual([n for n, t in self.odd.seen
                          if n.endswith(".arpa")], [])

    def test_sessions_killed_with_lookups_in_flight(self):
        """PTR answers are held while clients disconnect; the MX lookup
        of a message is held while the daemon is stopped. Nothing may
        touch a freed session (run once with an ASan build)."""
        r = self.mx_relay(dns=ODD)
        for i in range(8):
            s = socket.socket()
            s.bind(("192.0.2.20", 0))
            s.connect(("127.0.0.1", r.port))
            s.recv(100)                   # the greeting is not delayed
            s.close()
        self.assertTrue(wait_until(lambda: sum(
            1 for n, t in self.odd.seen if n.endswith("in-addr.arpa"))
            >= 8, 10, 0.01), r.log_tail(40))
        self.odd.release.set()        # late answers to dead sessions
        self.submit(r, ["pia@ok.odd"], source="192.0.2.20")
        self.assert_alive(r)
        self.odd.release.clear()
        self.submit(r, ["quinn@slow.odd"])
        self.assertTrue(wait_until(lambda: ("slow.odd", "MX") in
                                   self.odd.seen, 10, 0.01))
        self.assertEqual(r.stop(), 0, r.log_tail(40))
        self.assertNotIn("AddressSanitizer", r.log_text())
        self.assertNotIn("LeakSanitizer", r.log_text())


if __name__ == "__main__":
    unittest.main()
