#!/usr/bin/python3
"""Run the integration suite against one edgemta binary.

  test/integration/run.py [--bin build/edgemta] [--quick] [--emu CMD]
                          [-k PATTERN]...

Discovers test/integration/test_*.py (unittest), prints one line per test
and a final line "integration: N passed, N failed, N skipped"; exits
non-zero when anything failed. Every test runs under a watchdog that kills
the processes it started if it runs longer than --test-timeout seconds.
"""
import argparse
import faulthandler
import fnmatch
import os
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/edgemta"),
                    help="edgemta binary under test")
    ap.add_argument("--quick", action="store_true",
                    help="skip tests marked slow")
    ap.add_argument("--emu", default="", metavar="CMD",
                    help="run the binary under this emulator (qemu-user: "
                    "\"qemu-mips\", \"qemu-arm -L /usr/arm-linux-gnueabihf\")")
    ap.add_argument("-k", action="append", default=[], metavar="PATTERN",
                    help="only tests whose id contains PATTERN (or matches "
                    "it as a glob); repeatable")
    ap.add_argument("--test-timeout", type=int, default=180,
                    help="watchdog per test (seconds)")
    ap.add_argument("-v", action="store_true", help="print relay logs of "
                    "failed tests in full")
    return ap.parse_args()


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def matches(test, patterns):
    if not patterns:
        return True
    tid = test.id()
    for p in patterns:
        if "*" in p or "?" in p:
            if fnmatch.fnmatchcase(tid, p if p.startswith("*")
                                   else "*" + p + "*"):
                return True
        elif p.lower() in tid.lower():
            return True
    return False


class Result(unittest.TestResult):
    def __init__(self, helpers, timeout):
        super().__init__()
        self.helpers = helpers
        self.timeout = timeout
        self.passed = 0
        self.bad = []  # (test, text)
        self.t0 = 0
        self.timer = None
        self.fired = False
        self.first_relay = 0

    def _watchdog(self, test):
        sys.stdout.write("\n%s: WATCHDOG after %ds: killing its processes\n"
                         % (test.id(), self.timeout))
        faulthandler.dump_traceback(sys.stdout)
        sys.stdout.flush()
        self.fired = True
        self.helpers.kill_all()

    def startTest(self, test):
        super().startTest(test)
        self.t0 = time.monotonic()
        self.first_relay = len(self.helpers.ALL_RELAYS)
        self.fired = False
        sys.stdout.write("%s ... " % test.id())
        sys.stdout.flush()
        self.timer = threading.Timer(self.timeout, self._watchdog, (test,))
        self.timer.daemon = True
        self.timer.start()

    def stopTest(self, test):
        if self.timer:
            self.timer.cancel()
        super().stopTest(test)

    def _took(self):
        return "%.1fs" % (time.monotonic() - self.t0)

    def addSuccess(self, test):
        if self.fired:
            self._bad(test, (AssertionError, AssertionError(
                "the watchdog fired (test ran over %ds)" % self.timeout),
                None), "FAIL")
            return
        self.passed += 1
        print("ok (%s)" % self._took())

    def _bad(self, test, err, what, sub=False):
        text = "".join(traceback.format_exception(*err))
        self.bad.append((test, what, text,
                         self.helpers.ALL_RELAYS[self.first_relay:]))
        if sub:
            print("\n  %s: %s" % (test._subDescription(), what), end=" ")
        else:
            print("%s (%s)" % (what, self._took()))

    def addFailure(self, test, err):
        self._bad(test, err, "FAIL")

    def addError(self, test, err):
        self._bad(test, err, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print("skipped (%s)" % reason)

    def addUnexpectedSuccess(self, test):
        self._bad(test, (AssertionError, AssertionError(
            "unexpected success"), None), "FAIL")

    def addExpectedFailure(self, test, err):
        self.passed += 1
        print("expected failure")

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._bad(subtest, err, "FAIL" if issubclass(
                err[0], test.failureException) else "ERROR", sub=True)


def main():
    args = parse_args()
    binpath = os.path.abspath(args.bin)
    os.environ["EDGEMTA_BIN"] = binpath
    if args.quick:
        os.environ["EDGEMTA_QUICK"] = "1"
    if args.emu:
        os.environ["EDGEMTA_EMU"] = args.emu
    sys.path.insert(0, HERE)
    import helpers  # after the environment is set

    if not os.access(binpath, os.X_OK):
        print("run.py: %s is not an executable" % binpath)
        print("integration: 0 passed, 1 failed, 0 skipped")
        return 1
    os.chdir(ROOT)
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = [t for t in flatten(suite) if matches(t, args.k)]
    print("integration: %d tests against %s%s%s" % (
        len(tests), binpath, " (quick)" if args.quick else "",
        " under " + args.emu if args.emu else ""))
    result = Result(helpers, args.test_timeout)
    t0 = time.monotonic()
    for t in tests:
        t(result)
        if result.shouldStop:
            break
    helpers.kill_all()
    for test, what, text, relays in result.bad:
        print("=" * 70)
        print("%s: %s" % (what, test.id()))
        print(text.rstrip())
        for r in relays:
            log = r.log_text().splitlines()
            if not args.v:
                log = log[-30:]
            print("---- edgemta stderr (%s), last %d lines ----"
                  % (r.log_path, len(log)))
            print("\n".join(log))
    # import errors of test files arrive as failing _FailedTest tests
    nfail = len(result.bad)
    print("integration: took %.0fs" % (time.monotonic() - t0))
    print("integration: %d passed, %d failed, %d skipped" % (
        result.passed, nfail, len(result.skipped)))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
