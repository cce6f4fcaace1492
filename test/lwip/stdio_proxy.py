#!/usr/bin/python3
"""stdio_proxy.py PORT - relay stdin/stdout to 127.0.0.1:PORT, for qemu's
guestfwd=...-cmd: (one process per guest connection; a tcp: target would
be a single connection opened once, at qemu's start)."""
import os
import selectors
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.settimeout(None)
sel = selectors.DefaultSelector()
sel.register(0, selectors.EVENT_READ)
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj == 0:
            data = os.read(0, 65536)
            if not data:
                s.shutdown(socket.SHUT_WR)
                sel.unregister(0)
                continue
            s.sendall(data)
        else:
            data = s.recv(65536)
            if not data:
                sys.exit(0)
            os.write(1, data)
