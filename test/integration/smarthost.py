#!/usr/bin/python3
"""A scripted smarthost for the delivery tests, on python3-aiosmtpd.

  smarthost.py --port N --dir DIR [--greylist] [--fail STAGE:N]...
               [--drop-after-dot N] [--reject ADDR]... [--defer ADDR]...

Every accepted message is written to DIR/msg.NNNNNN (the raw DATA bytes
as received, dot-stuffing undone) with DIR/msg.NNNNNN.env (JSON: sender,
recipients). DIR/connections counts accepted connections, DIR/ready
appears once it listens. Faults:
  --greylist          451 4.7.1 to the first RCPT of each (sender, rcpt)
  --fail STAGE:N      421 at MAIL, RCPT, DATA or DOT (the final dot) for
                      the first N times, then the connection is closed
  --drop-after-dot N  close the connection without a reply after the
                      final dot of the first N messages (they are kept in
                      DIR as msg.NNNNNN.dropped)
  --reject ADDR       550 5.1.1 for this recipient (repeatable)
  --defer ADDR        450 4.2.0 for this recipient, always (repeatable)
Stopped by SIGTERM.
"""
import argparse
import asyncio
import json
import os
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.seq = 0
        self.connections = 0
        self.greylisted = set()
        self.fail = {}
        for f in args.fail:
            stage, _, n = f.partition(":")
            self.fail[stage.upper()] = int(n or "1")
        self.drops = args.drop_after_dot

    def write(self, name, data):
        tmp = os.path.join(self.args.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.args.dir, name))

    def take_fail(self, stage):
        with self.lock:
            if self.fail.get(stage, 0) > 0:
                self.fail[stage] -= 1
                return True
        return False


def close_soon(server):
    loop = asyncio.get_event_loop()
    loop.call_soon(lambda: server.transport and server.transport.close())


class Handler:
    def __init__(self, st):
        self.st = st

    async def handle_MAIL(self, server, session, envelope, address,
                          options):
        if self.st.take_fail("MAIL"):
            close_soon(server)
            return "421 4.3.2 scripted: closing at MAIL"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address,
                          options):
        if self.st.take_fail("RCPT"):
            close_soon(server)
            return "421 4.3.2 scripted: closing at RCPT"
        if address in self.st.args.defer:
            return "450 4.2.0 <%s>: mailbox busy, scripted" % address
        if address in self.st.args.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: " \
                "scripted" % address
        if self.st.args.greylist:
            key = (envelope.mail_from, address)
            with self.st.lock:
                first = key not in self.st.greylisted
                self.st.greylisted.add(key)
            if first:
                return "451 4.7.1 <%s>: greylisted, try again later" \
                    % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.st.take_fail("DOT"):
            close_soon(server)
            return "421 4.3.2 scripted: closing at end of data"
        with self.st.lock:
            self.st.seq += 1
            name = "msg.%06d" % self.st.seq
            drop = self.st.drops > 0
            if drop:
                self.st.drops -= 1
        env = {"sender": envelope.mail_from,
               "rcpts": list(envelope.rcpt_tos)}
        if drop:
            self.st.write(name + ".dropped", envelope.original_content)
            server.transport.abort()
            return "250 2.0.0 never seen by the client"
        # the message first: its .env (what readers look for) marks it
        # complete
        self.st.write(name, envelope.original_content)
        self.st.write(name + ".env", json.dumps(env).encode())
        return "250 2.0.0 Ok: stored as %s" % name


class Server(SMTP):
    def connection_made(self, transport):
        st = self.event_handler.st
        with st.lock:
            st.connections += 1
            n = st.connections
        st.write("connections", b"%d\n" % n)
        super().connection_made(transport)

    async def smtp_DATA(self, arg):
        if self.event_handler.st.take_fail("DATA"):
            await self.push("421 4.3.2 scripted: closing at DATA")
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class Ctl(Controller):
    def __init__(self, st, **kw):
        self.st = st
        super().__init__(Handler(st), **kw)

    def factory(self):
        return Server(self.handler, decode_data=False,
                      data_size_limit=None, enable_SMTPUTF8=True,
                      hostname="smarthost.test")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--greylist", action="store_true")
    ap.add_argument("--fail", action="append", default=[])
    ap.add_argument("--drop-after-dot", type=int, default=0)
    ap.add_argument("--reject", action="append", default=[])
    ap.add_argument("--defer", action="append", default=[])
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    st = State(args)
    ctl = Ctl(st, hostname=args.host, port=args.port,
              ready_timeout=10)
    ctl.start()
    st.write("ready", b"1\n")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(1):
        pass
    ctl.stop()


if __name__ == "__main__":
    main()
