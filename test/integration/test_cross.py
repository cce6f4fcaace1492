"""Cross builds (issue 12).

BuildFlags (native runs only): a packager's CFLAGS/CPPFLAGS/LDFLAGS add to
the project's flags, and `make STATIC=1` links a static binary that runs.

Under run.py --emu (what `make cross-test TARGET=NAME` runs against
build-NAME/edgemta):
  CrossBinary  the binary is for the emulated machine, static and without
               an interpreter for musl, and nothing of the host's headers
               or libraries went into it although libbearssl-dev is
               installed on the host (the .d files and the link map say
               what was read);
  QueueAcrossMachines  a queue written by the x86-64 build (build/edgemta)
               is listed, shown byte-exactly and delivered by the target
               build, and a queue written by the target build likewise by
               the x86-64 build.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import helpers
from helpers import (RelayTest, Smtp, free_port, slow, spawn, reap,
                     wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = helpers.ROOT
PY = "/usr/bin/python3"
NATIVE = os.path.join(ROOT, "build", "edgemta")

# emulator -> (readelf "Machine:" text, readelf "Data:" text)
MACHINES = {
    "qemu-mips": ("MIPS R3000", "big endian"),
    "qemu-mipsel": ("MIPS R3000", "little endian"),
    "qemu-arm": ("ARM", "little endian"),
    "qemu-aarch64": ("AArch64", "little endian"),
}


def make(*args, timeout=600):
    return subprocess.run(["make", "--no-print-directory"] + list(args),
                          cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout,
                          stdin=subprocess.DEVNULL, text=True)


def readelf(*args):
    return subprocess.run(["readelf"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=60).stdout


@unittest.skipIf(helpers.EMU, "native build checks")
class BuildFlags(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="edgemta-build-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_packager_flags_add_to_the_project_flags(self):
        """CFLAGS/CPPFLAGS/LDFLAGS on the command line (as Buildroot,
        OpenWrt and Yocto pass them) keep the project's -I, warnings and
        --gc-sections; the packager's come last, so -O2 wins."""
        p = make("-n", "BUILD=" + self.tmp,
                 "KCONFIG_CONFIG=%s/.config" % self.tmp, "CFLAGS=-O2",
                 "CPPFLAGS=-DPKG_CPPFLAG", "LDFLAGS=-Wl,-z,now",
                 "%s/edgemta" % self.tmp)
        self.assertEqual(p.returncode, 0, p.stdout)
        cc = [l for l in p.stdout.splitlines()
              if " -c core/ev.c " in l]
        ld = [l for l in p.stdout.splitlines()
              if "-o %s/edgemta " % self.tmp in l]
        self.assertEqual(len(cc), 1, p.stdout)
        self.assertEqual(len(ld), 1, p.stdout)
        for flag in ("-Icore", "-Iplatform", "-I%s/include" % self.tmp,
                     "-Werror", "-ffunction-sections", "-DPKG_CPPFLAG"):
            self.assertIn(" %s " % flag, cc[0])
        self.assertGreater(cc[0].index(" -O2 "), cc[0].index(" -Os "))
        self.assertIn("-Wl,--gc-sections", ld[0])
        self.assertIn("-Wl,-z,now", ld[0])

    @slow
    def test_static_switch(self):
        """`make STATIC=1` is one switch that gives a static binary (no
        interpreter) that runs."""
        p = make("-j2", "BUILD=" + self.tmp,
                 "KCONFIG_CONFIG=%s/.config" % self.tmp, "STATIC=1")
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        exe = os.path.join(self.tmp, "edgemta")
        self.assertNotIn("INTERP", readelf("-l", exe))
        self.assertNotIn("NEEDED", readelf("-d", exe))
        r = helpers.run_bin([exe, "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("edgemta", r.stdout + r.stderr)


def host_paths(build, musl):
    """Host files a cross build in `build` read: headers (from the .d
    files) and link inputs (from the link map)."""
    bad = []
    forbidden = ["/usr/include/", "/usr/local/", "/usr/lib/x86_64-linux-gnu/",
                 "/lib/x86_64-linux-gnu/"]
    if musl:
        # the glibc of Debian's cross toolchain (/usr/TRIPLE/...)
        forbidden += [d + "/" for d in glob.glob("/usr/*-linux-gnu*")]
    for dep in glob.glob(os.path.join(build, "**", "*.d"), recursive=True):
        with open(dep) as f:
            for word in f.read().replace("\\\n", " ").split():
                if any(word.startswith(b) for b in forbidden):
                    bad.append((dep, word))
    with open(os.path.join(build, "edgemta.map")) as f:
        for word in re.findall(r"(/[^\s()]+)", f.read()):
            if any(word.startswith(b) for b in forbidden):
                bad.append(("edgemta.map", word))
    return sorted(set(bad))


@unittest.skipUnless(helpers.EMU, "checks of a cross-built binary "
                     "(run.py --emu)")
class CrossBinary(unittest.TestCase):

    def test_target_binary_alone(self):
        """Right machine and byte order; a *-musl build is static with no
        interpreter; no host header or library was read, although the
        host has libbearssl-dev (/usr/include/bearssl.h)."""
        exe = helpers.REAL_BIN
        build = os.path.dirname(exe)
        musl = build.endswith("-musl")
        emu = os.path.basename(helpers.EMU[0])
        hdr = readelf("-h", exe)
        machine, data = MACHINES[emu]
        self.assertRegex(hdr, r"Machine:\s+%s" % re.escape(machine))
        self.assertRegex(hdr, r"Data:.*%s" % data)
        if musl:
            self.assertNotIn("INTERP", readelf("-l", exe))
            self.assertNotIn("NEEDED", readelf("-d", exe))
            out = subprocess.run(["file", exe], stdout=subprocess.PIPE,
                                 text=True, timeout=60).stdout
            self.assertIn("statically linked", out)
        self.assertTrue(os.path.exists("/usr/include/bearssl.h"),
                        "libbearssl-dev must be installed for this check")
        self.assertEqual(host_paths(build, musl), [])


@unittest.skipUnless(helpers.EMU, "a cross-built binary (run.py --emu)")
class QueueAcrossMachines(RelayTest):
    """The queue format is the same on every machine: a router's flash
    can be read by a PC and back."""

    def setUp(self):
        super().setUp()
        if not os.access(NATIVE, os.X_OK):
            self.fail("%s missing: `make` first" % NATIVE)
        os.chmod(self.tmp, 0o755)

    def fill(self, binary, n):
        """Queue n messages with binary (no relayhost: they stay)."""
        r = self.relay(start=False)
        r.bin = binary
        r.start()
        bodies = [("Subject: %s %d\r\n\r\nline %d\r\n.dot\r\n"
                   % (os.path.basename(binary), i, i)).encode()
                  for i in range(n)]
        with Smtp(r.port) as c:
            c.ehlo()
            for b in bodies:
                code, text = c.send_message("a@example.org",
                                            ["b@example.net"], b)
                self.assertEqual(code, 250, text)
        self.assertEqual(r.stop(), 0)
        return r

    def check_and_deliver(self, writer, reader):
        r = self.fill(writer, 3)
        listed = r.queue_list()
        shown = {e["id"]: r.queue_show(e["id"]) for e in listed}
        r.bin = reader
        self.assertEqual(r.queue_list(), listed)
        for qid, data in shown.items():
            self.assertEqual(r.queue_show(qid), data)
        # deliver them with the reader to a smarthost
        d = os.path.join(self.tmp, "sh")
        os.makedirs(d)
        port = free_port()
        sh = spawn([PY, os.path.join(HERE, "smarthost.py"), "--port",
                    str(port), "--dir", d], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
        self.addCleanup(reap, sh)
        self.assertTrue(wait_until(lambda: os.path.exists(
            os.path.join(d, "ready")), 20))
        with open(r.conf, "a") as f:
            f.write("relayhost = [127.0.0.1]:%d\n" % port)
        r.start()
        ok = wait_until(lambda: len(glob.glob(os.path.join(
            d, "msg.*.env"))) == 3 and r.queue_list() == [], 120, 0.2)
        self.assertTrue(ok, r.log_tail())
        got = []
        for name in sorted(glob.glob(os.path.join(d, "msg.*.env"))):
            with open(name[:-4], "rb") as f:
                got.append(f.read())
        self.assertEqual(sorted(got), sorted(shown.values()))

    def test_queue_from_x86_64_read_by_target(self):
        self.check_and_deliver(NATIVE, helpers.BIN)

    def test_queue_from_target_read_by_x86_64(self):
        self.check_and_deliver(helpers.BIN, NATIVE)
