"""Delivery under faults (issue 3): kill -9 while delivering, a tiny
queue carrying a long stream past an undeliverable message, relayhost
fail-over, and retry/expiry across clock changes with faketime."""
import glob
import os
import random
import stat
import threading
import time

import helpers
from helpers import Smtp, SmtpError, free_port, slow, wait_until
from test_delivery import (FAST, DeliveryBase, make_body, strip_received,
                           token_of)


class DeliveryFaults(DeliveryBase):

    def send_retrying(self, relay, items, rcpts=("bob@example.net",),
                      deadline=300, acked=None, stop=None):
        """Send (token, body) items, retrying on 452 / lost connections /
        a relay that is down (bounded). Returns the acked tokens."""
        acked = set() if acked is None else acked
        end = time.monotonic() + deadline
        c = None
        for tok, body in items:
            while True:
                if time.monotonic() > end:
                    raise AssertionError("could not send %s in time" % tok)
                try:
                    if c is None:
                        c = Smtp(relay.port, timeout=10)
                        c.ehlo()
                    code, text = c.send_message("alice@example.org",
                                                list(rcpts), body)
                    if code == 250:
                        acked.add(tok)
                        break
                    time.sleep(0.02)
                except (SmtpError, OSError):
                    if c is not None:
                        c.close()
                    c = None
                    time.sleep(0.05)
                    continue
                except AssertionError:
                    raise
            if stop is not None and stop.is_set():
                break
        if c is not None:
            try:
                c.cmd("QUIT")
            except (SmtpError, OSError):
                pass
            c.close()
        return acked

    # ---- crash safety ----

    def test_kill9_while_delivering_500(self):
        """kill -9 at random moments while 500 messages go in and out:
        every acknowledged message arrives at least once, byte-exact;
        duplicates stay within what the kills can explain."""
        sh = self.smarthost()
        r = self.relay_to(sh.port, queue_size="4M")
        items = [make_body(i, size=random.randint(200, 6000))
                 for i in range(500)]
        bodies = dict(items)
        acked = set()
        errors = []

        def sender():
            try:
                self.send_retrying(r, items, acked=acked)
            except Exception as e:
                errors.append(e)

        t = threading.Thread(target=sender)
        t.start()
        kills = 0
        rnd = random.Random(os.getpid())
        while t.is_alive() and kills < 6:
            time.sleep(rnd.uniform(0.1, 0.6))
            r.kill9()
            kills += 1
            r.start()
        t.join(300)
        self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        self.assertEqual(len(acked), 500)
        ok = wait_until(lambda: acked <= {token_of(strip_received(d))
                                          for _, d in sh.messages()},
                        120, 0.2)
        got = [strip_received(d) for _, d in sh.messages()]
        missing = acked - {token_of(d) for d in got}
        self.assertTrue(ok, "%d acknowledged messages never arrived"
                        % len(missing))
        self.wait_queue_empty(r, 60)
        counts = {}
        for d in got:
            tok = token_of(d)
            self.assertIn(tok, bodies)
            self.assertEqual(d, bodies[tok], "corrupted: " + tok)
            counts[tok] = counts.get(tok, 0) + 1
        dups = sum(n - 1 for n in counts.values())
        # a kill can repeat what was in flight or sent in its last loop
        # turn; nothing else is sent twice
        self.assertLessEqual(dups, kills * 16, counts)
        self.assertGreaterEqual(kills, 1)

    # ---- a tiny queue ----

    def small_queue(self, n):
        sh = self.smarthost("--defer", "stuck@example.net")
        r = self.relay_to(sh.port, queue_size="64K")
        stuck_tok, stuck = make_body(0, size=1500, tag="stuck")
        self.send_retrying(r, [(stuck_tok, stuck)],
                           rcpts=("stuck@example.net",))
        stuck_ids = r.queue_ids()
        self.assertEqual(len(stuck_ids), 1)
        items = [make_body(i, size=4096) for i in range(1, n + 1)]
        bodies = dict(items)
        acked = self.send_retrying(r, items, deadline=60 + n // 10)
        self.assertEqual(len(acked), n)
        ok = wait_until(lambda: len(sh.messages()) >= n, 120, 0.2)
        msgs = sh.messages()
        self.assertTrue(ok, "smarthost got %d of %d" % (len(msgs), n))
        seen = set()
        for env, data in msgs:
            d = strip_received(data)
            tok = token_of(d)
            self.assertEqual(d, bodies[tok])
            seen.add(tok)
        self.assertEqual(seen, set(bodies))
        # the undeliverable message is still queued, deferred
        ok = wait_until(lambda: r.queue_ids() == stuck_ids, 20, 0.1)
        self.assertTrue(ok, r.queue_list())
        self.assertIn("status=deferred (450 4.2.0 <stuck@example.net>",
                      r.log_text())

    def test_64k_queue_carries_1000_4k_messages(self):
        self.small_queue(1000)

    @slow
    def test_64k_queue_carries_10000_4k_messages(self):
        self.small_queue(10000)

    # ---- relayhost list ----

    def test_next_relayhost_when_first_refuses(self):
        dead = free_port()
        sh = self.smarthost()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d, "
                       "[127.0.0.1]:%d\n%s" % (dead, sh.port, FAST))
        tok, body = make_body(1)
        self.send(r, [body])
        msgs = self.wait_msgs(sh, 1, 20)
        self.assertEqual(strip_received(msgs[0][1]), body)
        log = r.log_text()
        self.assertIn("127.0.0.1[127.0.0.1]:%d: Connection refused" % dead,
                      log)
        self.assertNotIn("relayhost unreachable", log)
        self.assertNotIn("status=deferred", log)

    # ---- clock: expiry and steps, with faketime ----

    def faketime_bin(self, spec):
        """A wrapper that execs the binary with libfaketime preloaded
        (FAKETIME=spec), so that signals reach edgemta itself."""
        libs = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
        if not libs:
            self.skipTest("libfaketime not installed")
        path = os.path.join(self.tmp, "edgemta-faketime-%d"
                            % random.getrandbits(24))
        with open(path, "w") as f:
            # (an ASan build must not insist on coming first)
            f.write("#!/bin/sh\nASAN_OPTIONS=\"verify_asan_link_order=0"
                    "${ASAN_OPTIONS:+:$ASAN_OPTIONS}\" LD_PRELOAD='%s' "
                    "FAKETIME='%s' exec '%s' \"$@\"\n"
                    % (libs[0], spec, helpers.BIN))
        os.chmod(path, stat.S_IRWXU)
        return path

    def start_with(self, relay, binary):
        old = helpers.BIN
        helpers.BIN = binary
        try:
            relay.start()
        finally:
            helpers.BIN = old

    def test_expiry_after_maximal_queue_lifetime(self):
        dead = free_port()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n%s"
                       "maximal_queue_lifetime = 60s\n"
                       "bounce_notice_recipient =\n" % (dead, FAST))
        tok, body = make_body(1)
        ids = self.send(r, [body])
        ok = wait_until(lambda: "status=deferred" in r.log_text(), 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(r.stop(), 0)
        # the same queue, one hour later
        self.start_with(r, self.faketime_bin("+1h"))
        ok = wait_until(lambda: "status=bounced (message expired "
                        "(maximal_queue_lifetime)" in r.log_text(), 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertIn("dsn=5.4.7", r.log_text())
        q = r.queue_list()
        self.assertEqual(len(q), 1, q)
        self.assertNotEqual(q[0]["id"], ids[0])
        self.assertEqual(q[0]["sender"], "")
        self.assertEqual(q[0]["rcpts"], ["alice@example.org"])
        self.assertEqual(r.stop(), 0)

    def test_no_expiry_when_queued_with_1970_clock(self):
        """A device that booted at 1970 queued mail, then restarted with
        a correct clock: the mail is delivered, not expired."""
        port = free_port()
        r = self.relay(conf_extra="relayhost = [127.0.0.1]:%d\n%s"
                       "maximal_queue_lifetime = 60s\n" % (port, FAST),
                       start=False)
        self.start_with(r, self.faketime_bin("@1970-01-02 00:00:00"))
        tok, body = make_body(1)
        self.send(r, [body])
        ok = wait_until(lambda: "status=deferred" in r.log_text(), 20, 0.1)
        self.assertTrue(ok, r.log_tail())
        self.assertEqual(r.stop(), 0)
        sh = self.smarthost(port=port)
        r.start()
        msgs = self.wait_msgs(sh, 1, 30)
        self.assertEqual(strip_received(msgs[0][1]), body)
        self.assertEqual(msgs[0][0]["sender"], "alice@example.org")
        self.wait_queue_empty(r)
        self.assertNotIn("expired", r.log_text())

