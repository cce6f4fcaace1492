"""A damaged queue file (issue 11.3): with the daemon stopped, bits of
the queue file are flipped; after that a damaged record costs at most the
message it belongs to, every message lost is logged by its id, and
`queue list` ends with a damage trailer. Nothing corrupted is listed."""
import json
import os
import random
import struct

import helpers
from helpers import Smtp, queue_id

BS = 4096   # CONFIG_QUEUE_BLOCK_SIZE of the default build
PG = 512    # CONFIG_QUEUE_PAGE_SIZE


def body(i, rnd):
    lines = [b"Subject: damage %d\r\n\r\n" % i]
    for _ in range(rnd.randrange(3, 60)):
        lines.append(bytes(rnd.choice(b"abcdef XYZ0123")
                           for _ in range(rnd.randrange(0, 70))) + b"\r\n")
    return b"".join(lines)


def records(data):
    """(start, end, id) of every record in the queue file (format at the
    top of core/queue.c), and the header ranges of the used blocks."""
    recs, hdrs = [], []
    for b in range(0, len(data), BS):
        if data[b:b + 3] != b"EMQ":
            continue
        hdrs.append((b, b + 16))
        off = 16
        while off + 12 <= BS:
            if data[b + off] == 0xff:
                off = (off // PG + 1) * PG
                continue
            ln, rid = struct.unpack_from("<HI", data, b + off + 2)
            recs.append((b + off, b + off + 12 + ln, rid))
            off += 12 + ln
    return recs, hdrs


class QueueDamage(helpers.RelayTest):

    def fill(self):
        """A stopped relay whose queue holds 20 acknowledged messages
        (the smarthost refuses connections, so they stay)."""
        dead = helpers.free_port()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n" % dead)
        rnd = random.Random(11)
        sent = {}
        with Smtp(r.port) as s:
            s.ehlo()
            for i in range(20):
                b = body(i, rnd)
                code, text = s.send_message(
                    "s%d@example.com" % i,
                    ["r%d@example.org" % i, "x%d@example.org" % i], b)
                self.assertEqual(code, 250, text)
                sent[queue_id(text)] = b
        self.assertEqual(r.stop(), 0)
        self.assertEqual(sorted(r.queue_ids()), sorted(sent))
        return r, sent

    def flip(self, r, positions, rnd):
        with open(r.queue_path, "r+b") as f:
            data = bytearray(f.read())
            for p in positions:
                data[p] ^= 1 << rnd.randrange(8)
            f.seek(0)
            f.write(data)

    def check_after(self, r, sent, touched, whole):
        """queue list (daemon stopped), then the daemon's start: intact
        messages all there and exact, losses logged and counted."""
        res = r.cli("queue", "list")
        self.assertEqual(res.returncode, 0, res.stderr)
        listed = r.queue_ids()
        self.assertLessEqual(set(listed), set(sent))
        for qid in sent:
            if qid not in touched:
                self.assertIn(qid, listed, "intact message lost")
        lost = sorted(set(sent) - set(listed))
        self.assertTrue(lost, "nothing lost: the damage missed")
        trailer = [ln for ln in res.stdout.splitlines()
                   if ln.startswith("-- queue damage: ")]
        self.assertEqual(len(trailer), 1, res.stdout)
        self.assertIn("%d message%s lost" % (len(lost), "" if len(lost) == 1
                                                else "s"), trailer[0])
        # mailq says it too
        mailq = os.path.join(self.tmp, "mailq")
        if not os.path.exists(mailq):
            os.symlink(helpers.BIN, mailq)
        p = helpers.run_bin([mailq, "-C", r.conf])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(trailer[0] + "\n", p.stdout)
        r.start()
        self.assertEqual(r.stop(), 0)
        log = r.log_text()
        self.assertIn("unreadable (damaged); skipped", log)
        for qid in lost:
            if qid not in whole:
                self.assertIn("%s: lost to queue damage" % qid, log)
        for qid in listed:
            self.assert_stored(r, qid, sent[qid])
        # the daemon kept them: the list is the same after its start
        self.assertEqual(sorted(r.queue_ids()), sorted(listed))
        return lost, log

    def test_one_message_damaged_costs_only_it(self):
        r, sent = self.fill()
        with open(r.queue_path, "rb") as f:
            recs, _ = records(f.read())
        victim = sorted(sent)[7]
        mine = [(a, e) for a, e, rid in recs if "%08X" % rid == victim]
        self.assertGreaterEqual(len(mine), 4)   # ENV, 2 RCPT, DATA, COMMIT
        # a bit of its second RCPT's header and one of its DATA
        rnd = random.Random(3)
        self.flip(r, [mine[2][0] + 2, mine[3][1] - 5], rnd)
        lost, log = self.check_after(r, sent, {victim}, set())
        self.assertEqual(lost, [victim])
        line = [ln for ln in log.splitlines()
                if "%s: lost to queue damage" % victim in ln][0]
        i = sorted(sent).index(victim)
        self.assertIn("from=<s%d@example.com>" % i, line)
        self.assertIn("to=<r%d@example.org>" % i, line)
        # edgemta status shows it where an admin looks
        st = json.loads(r.cli("status", "--json").stdout)
        self.assertEqual(st["flash"]["damaged_messages"], 1)
        self.assertTrue(any("queue damage found" in p["text"]
                            for p in st["problems"]), st["problems"])

    def test_twelve_random_bit_flips(self):
        """The issue's experiment: 12 random single-bit flips in the used
        part of the queue file."""
        r, sent = self.fill()
        with open(r.queue_path, "rb") as f:
            recs, hdrs = records(f.read())
        used = [p for a, e, _ in recs for p in range(a, e)] + \
               [p for a, e in hdrs for p in range(a, e)]
        rnd = random.Random(1211)
        pos = rnd.sample(used, 12)
        self.flip(r, pos, rnd)
        hit = set(pos)
        touched, whole = set(), set()
        for qid in sent:
            mine = [(a, e) for a, e, rid in recs if "%08X" % rid == qid]
            hits = [any(p in hit for p in range(a, e)) for a, e in mine]
            blocks = {a // BS * BS for a, _ in mine}
            if any(hits) or any(b + k in hit for b in blocks
                                for k in range(16)):
                touched.add(qid)
            if all(hits):
                whole.add(qid)
        lost, _ = self.check_after(r, sent, touched, whole)
        # at most the messages the flips hit
        self.assertLessEqual(len(lost), 12)
