#!/usr/bin/python3
# Kconfig helper around Debian's python3-kconfiglib.
#   kconfig.py defconfig FILE          .config from FILE; unknown symbols fail
#   kconfig.py olddefconfig            refresh .config; unknown symbols fail
#   kconfig.py genconfig HEADER        every symbol as a 0/1/value #define
#   kconfig.py savedefconfig FILE      minimal defconfig
# Bools and choices are always defined, 0 or 1 (Dropbear style), so that
# -Wundef catches a misspelt CONFIG_ name.
import os
import sys

import kconfiglib

CONFIG = os.environ.get("KCONFIG_CONFIG", ".config")


def load(strict_file=None):
    kconf = kconfiglib.Kconfig("Kconfig", warn_to_stderr=False)
    kconf.warn_assign_undef = True
    kconf.warn_assign_override = False
    kconf.warn_assign_redun = False
    if strict_file is not None:
        kconf.load_config(strict_file)
        bad = [w for w in kconf.warnings
               if "undefined symbol" in w or "malformed" in w
               or "could not be set" in w or "invalid" in w]
        if bad:
            for w in bad:
                sys.stderr.write("%s: error: %s\n" % (strict_file, w.strip()))
            sys.exit(1)
    return kconf


def genconfig(kconf, header):
    lines = ["/* Generated from .config by scripts/kconfig.py: do not edit. */",
             "#ifndef EDGEMTA_CONFIG_H", "#define EDGEMTA_CONFIG_H"]
    for sym in kconf.unique_defined_syms:
        if sym.type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
            lines.append("#define CONFIG_%s %d" % (sym.name,
                         1 if sym.str_value in ("y", "m") else 0))
        elif sym.type in (kconfiglib.INT, kconfiglib.HEX):
            val = sym.str_value or "0"
            lines.append("#define CONFIG_%s %s" % (sym.name, val))
        elif sym.type == kconfiglib.STRING:
            val = sym.str_value.replace("\\", "\\\\").replace('"', '\\"')
            lines.append('#define CONFIG_%s "%s"' % (sym.name, val))
    lines.append("#endif")
    text = "\n".join(lines) + "\n"
    old = None
    if os.path.exists(header):
        with open(header) as f:
            old = f.read()
    if old != text:  # keep the timestamp when nothing changed
        os.makedirs(os.path.dirname(header) or ".", exist_ok=True)
        with open(header, "w") as f:
            f.write(text)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__ or "usage: kconfig.py CMD [ARG]\n")
        sys.exit(2)
    cmd = sys.argv[1]
    if cmd == "defconfig":
        kconf = load(sys.argv[2])
        kconf.write_config(CONFIG, save_old=False)
    elif cmd == "olddefconfig":
        kconf = load(CONFIG)
        kconf.write_config(CONFIG, save_old=False)
    elif cmd == "genconfig":
        kconf = load(CONFIG)
        genconfig(kconf, sys.argv[2])
    elif cmd == "savedefconfig":
        kconf = load(CONFIG)
        kconf.write_min_config(sys.argv[2])
        print("wrote", sys.argv[2])
    else:
        sys.stderr.write("kconfig.py: unknown command %s\n" % cmd)
        sys.exit(2)


if __name__ == "__main__":
    main()
