#!/usr/bin/python3
"""Where the bytes of a linked binary go, from GNU ld's link map
(`make size`: the link writes BUILD/edgemta.map).

  scripts/sizemap.py BUILD/edgemta.map [TOP]
  scripts/sizemap.py --budget FLASH RAM STACK IMAGE.map [TOP]

Prints per library (an archive: libbearssl.a, libc.a, libedgemta-core.a,
or "objects" for plain .o files) and per object (the TOP biggest) the
bytes each contributes to code+read-only data (flash), initialised data
(flash and RAM) and bss (RAM): the input sections the linker kept, so
--gc-sections is already accounted for. With --budget (a firmware
image, `make size IMAGE=...`): flash (code + read-only + initialised
data) and RAM (initialised data + bss + STACK bytes for the stack and
heap) against the budgets FLASH and RAM (bytes); exit 1 when over.
"""
import collections
import os
import re
import sys

# output section -> column; anything else (debug, notes, comments) is not
# loaded and does not count
KIND = {
    "text": 0, "rodata": 0, "init": 0, "fini": 0, "eh_frame": 0,
    "eh_frame_hdr": 0, "gcc_except_table": 0, "ARM.exidx": 0,
    "ARM.extab": 0, "MIPS.abiflags": 0, "rel.dyn": 0, "rela.dyn": 0,
    "plt": 0, "iplt": 0, "rela.plt": 0, "rel.plt": 0,
    "data": 1, "sdata": 1, "got": 1, "got.plt": 1, "init_array": 1,
    "fini_array": 1, "tdata": 1, "data.rel.ro": 1, "lit4": 1, "lit8": 1,
    "bss": 2, "sbss": 2, "tbss": 2,
}
INPUT = re.compile(r"^ (\.?[^\s]*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
NAME_ONLY = re.compile(r"^ (\.[^\s]+)$")
CONT = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
OUTPUT = re.compile(r"^(\.[^\s]+)")


def where(path):
    """(library, object) of a map file name: 'x/libfoo.a(bar.o)'."""
    m = re.match(r"^(.*)\((.*)\)$", path)
    if m:
        return os.path.basename(m.group(1)), m.group(2)
    return "objects", os.path.relpath(path) if path.startswith("/") and \
        path.startswith(os.getcwd()) else path


def parse(text):
    per_obj = collections.defaultdict(lambda: [0, 0, 0])
    out = None
    pending = None
    started = False
    for line in text.splitlines():
        if not started:
            started = line.startswith("Linker script and memory map")
            continue
        m = OUTPUT.match(line)
        if m:
            name = m.group(1).lstrip(".")
            out = KIND.get(name)
            if out is None and name.startswith(("text", "rodata")):
                out = 0
            pending = None
            continue
        if out is None:
            continue
        m = INPUT.match(line)
        if m and m.group(1) not in ("*fill*",):
            per_obj[where(m.group(4).strip())][out] += int(m.group(3), 16)
            pending = None
            continue
        m = NAME_ONLY.match(line)
        if m:
            pending = m.group(1)
            continue
        m = CONT.match(line)
        if m and pending:
            per_obj[where(m.group(3).strip())][out] += int(m.group(2), 16)
            pending = None
    return per_obj


def table(title, rows, total=None):
    print("== %s" % title)
    print("%10s %8s %8s  %s" % ("code+ro", "data", "bss", "what"))
    for name, v in rows:
        print("%10d %8d %8d  %s" % (v[0], v[1], v[2], name))
    if total:
        print("%10d %8d %8d  %s" % (total[0], total[1], total[2], "total"))


def main():
    args = sys.argv[1:]
    budget = None
    if args[0] == "--budget":
        budget = [int(a) for a in args[1:4]]
        args = args[4:]
    path = args[0]
    top = int(args[1]) if len(args) > 1 else 40
    with open(path) as f:
        per_obj = parse(f.read())
    per_lib = collections.defaultdict(lambda: [0, 0, 0])
    for (lib, _), v in per_obj.items():
        for i in range(3):
            per_lib[lib][i] += v[i]
    total = [sum(v[i] for v in per_lib.values()) for i in range(3)]
    table("per library (%s)" % path,
          sorted(per_lib.items(), key=lambda kv: -sum(kv[1])), total)
    rows = sorted(((("%s(%s)" % k) if k[0] != "objects" else k[1], v)
                   for k, v in per_obj.items()), key=lambda kv: -sum(kv[1]))
    print()
    table("per object, the %d biggest of %d" % (min(top, len(rows)),
                                                 len(rows)), rows[:top])
    if budget:
        flash, ram = total[0] + total[1], total[1] + total[2] + budget[2]
        print()
        print("== budget: flash %d bytes (%.1f KiB) of %.0f KiB: %s" % (
            flash, flash / 1024, budget[0] / 1024,
            "ok" if flash <= budget[0] else "OVER"))
        print("== budget: RAM %d bytes (%.1f KiB: data + bss + %d of stack"
              " and heap) of %.0f KiB: %s" % (
                  ram, ram / 1024, budget[2], budget[1] / 1024,
                  "ok" if ram <= budget[1] else "OVER"))
        return flash > budget[0] or ram > budget[1]
    return 0


if __name__ == "__main__":
    sys.exit(main())
