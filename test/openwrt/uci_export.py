#!/usr/bin/python3
"""uci_export.py FILE - a stand-in for OpenWrt's `uci export PACKAGE` used
by the init script tests: parse a UCI file (config/option/list lines,
unquoted, '...' or "..." tokens, # comments, a quoted value may span
lines) and print it as shell commands `config TYPE NAME`, `option NAME
VALUE`, `list NAME VALUE` with every word single-quoted, which
functions.sh evaluates as OpenWrt's config_load does. Anonymous sections
are named cfgNNNNNN like uci's."""
import sys


def tokens(text):
    """Lists of words per logical line; quoted words may hold newlines."""
    line, word, i, n, quoted = [], None, 0, len(text), False
    while i < n:
        c = text[i]
        if c in "'\"":
            end, buf, i = c, [], i + 1
            while i < n and text[i] != end:
                if end == '"' and text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                sys.exit("uci: unterminated quote")
            word = (word or "") + "".join(buf)
            quoted = True
            i += 1
            continue
        if c == "#" and word is None:
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in " \t\n":
            if word is not None:
                line.append(word)
                word, quoted = None, False
            if c == "\n" and line:
                yield line
                line = []
            i += 1
            continue
        word = (word or "") + c
        i += 1
    if word is not None:
        line.append(word)
    if line:
        yield line


def name(s):
    """uci accepts only [A-Za-z0-9_] in section and option names."""
    if not s or not all(c.isascii() and (c.isalnum() or c == "_")
                        for c in s):
        sys.exit("uci: invalid name %r" % s)
    return s


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    anon = 0
    for words in tokens(text):
        kind = words[0]
        if kind == "package":
            continue
        if kind == "config":
            if len(words) == 2:
                words.append("cfg%02x%04x" % (anon, len(words[1])))
                anon += 1
            print("config %s %s" % (q(name(words[1])), q(name(words[2]))))
        elif kind in ("option", "list") and len(words) == 3:
            print("%s %s %s" % (kind, q(name(words[1])), q(words[2])))
        else:
            sys.exit("uci: parse error at %r" % " ".join(words))


main()
