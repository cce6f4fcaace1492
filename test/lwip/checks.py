"""checks.py - the pass/fail counting shared by the lwIP tests
(tap_test.py, qemu_fw_test.py): check(name, cond, detail) prints one
"ok"/"FAIL" line; report(name) prints "name: N passed, N failed" (the
line scripts/test-all.sh counts) and returns the exit status."""
counts = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        counts["passed"] += 1
        print("ok   %s" % name)
    else:
        counts["failed"] += 1
        print("FAIL %s %s" % (name, detail))


def failed():
    return counts["failed"]


def report(name):
    print("%s: %d passed, %d failed" % (name, counts["passed"],
                                        counts["failed"]))
    return 1 if counts["failed"] else 0
