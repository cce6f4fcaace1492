"""Postfix's smtp-source as a real high-load client."""
import os
import re
import socket
import threading

import helpers
from helpers import strip_received

N = 1000
SESSIONS = 20
LEN = 4096
FROM = "from@example.com"
TO = "to@example.org"
HEAD_RE = re.compile(rb"^From: <from@example\.com>\r\nTo: <to@example\.org>\r\n"
                     rb"Date: [^\r\n]+\r\nMessage-Id: <[^\r\n>]+>\r\n\r\n")


def capture_source_body(length):
    """What smtp-source sends as DATA (after its headers) for -l length,
    captured with a one-shot raw SMTP server on 127.0.0.1."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    port = srv.getsockname()[1]
    got = {}

    def serve():
        c, _ = srv.accept()
        c.settimeout(30)
        f = c.makefile("rb")
        c.sendall(b"220 capture\r\n")
        data, indata = b"", False
        for _ in range(100000):
            line = f.readline()
            if not line:
                break
            if indata:
                if line == b".\r\n":
                    indata = False
                    c.sendall(b"250 2.0.0 Ok: queued as 00000001\r\n")
                else:
                    data += line
            elif line.upper().startswith(b"DATA"):
                indata = True
                c.sendall(b"354 go\r\n")
            elif line.upper().startswith(b"QUIT"):
                c.sendall(b"221 bye\r\n")
                break
            else:
                c.sendall(b"250 ok\r\n")
        got["data"] = data
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    r = helpers.smtp_source(port, ["-m", "1", "-l", str(length), "-f", FROM,
                                   "-t", TO], timeout=60)
    t.join(30)
    srv.close()
    assert r.returncode == 0, r.stderr
    data = helpers.dot_unstuff(got["data"])
    m = HEAD_RE.match(data)
    assert m, data[:300]
    return data[m.end():]


class Load(helpers.RelayTest):

    def test_smtp_source_1000_restart(self):
        """smtp-source: 1,000 4 KiB messages over 20 concurrent sessions
        are all queued; after SIGTERM (exit 0) and a restart `queue list`
        shows all 1,000 (same ids, sizes, envelopes as before) and `queue
        show` returns them (every 4th; all with EDGEMTA_FULL=1) exactly
        as smtp-source sent them (its fixed body, CRLF lines)."""
        body = capture_source_body(LEN)
        self.assertGreater(len(body), LEN - 200)
        r = self.relay(queue_size="8M")
        res = helpers.smtp_source(r.port, ["-s", str(SESSIONS), "-m", str(N),
                                           "-l", str(LEN), "-f", FROM,
                                           "-t", TO], timeout=240)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotRegex(res.stderr, r"fatal|error|warning")
        running = r.queue_list()
        self.assertEqual(len(running), N, "queue list while running")
        r.restart()
        entries = r.queue_list()
        self.assertEqual(len(entries), N)
        self.assertEqual(len({e["id"] for e in entries}), N)
        self.assertEqual(sorted(running, key=lambda e: e["id"]),
                         sorted(entries, key=lambda e: e["id"]))
        self.assertEqual(r.stop(), 0)  # queue show works when stopped too
        # only Received:, Date: and Message-Id: differ in length
        sizes = [e["size"] for e in entries]
        self.assertLess(max(sizes) - min(sizes), 64, (min(sizes), max(sizes)))
        self.assertGreater(min(sizes), len(body))
        # `queue show` rescans the whole queue per call (~0.1 s here, 1,000
        # calls take 85 s): a spread sample of every 4th message (every
        # 40th with --quick) and the last one; EDGEMTA_FULL=1 shows all.
        step = 1 if os.environ.get("EDGEMTA_FULL") == "1" else \
            40 if helpers.QUICK else 4
        check = entries[::step] + entries[-1:]
        shown = r.queue_show_many(e["id"] for e in check)
        for e in check:
            self.assertEqual(e["sender"], FROM)
            self.assertEqual(e["rcpts"], [TO])
            stored = shown[e["id"]]
            self.assertEqual(len(stored), e["size"], e["line"])
            self.assertFalse(helpers.bare_cr_lf(stored), e["id"])
            rest = strip_received(stored)
            m = HEAD_RE.match(rest)
            self.assertTrue(m, "%s: headers %r" % (e["id"], rest[:200]))
            self.assertEqual(rest[m.end():], body, "%s: body differs"
                             % e["id"])
