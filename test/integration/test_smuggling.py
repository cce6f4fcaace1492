"""SMTP smuggling: only <CRLF>.<CRLF> ends DATA, bare CR/LF never pass."""
import helpers
from helpers import Smtp, queue_id, strip_received

SECOND = (b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\n"
          b"DATA\r\nsmuggled\r\n.\r\n")

VARIANTS = [
    b"\n.\r\n",
    b"\r.\r\n",
    b"\n.\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\n\x00.\r\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n..\r\n",
    b"\r\n.\r\r\n",
]


class Smuggling(helpers.RelayTest):

    def setUp(self):
        super().setUp()
        self.r = self.relay()

    def attempt(self, variant):
        """DATA, a body line, variant, a second transaction, the real
        CRLF.CRLF, QUIT. Returns every reply of the session."""
        with Smtp(self.r.port) as s:
            s.ehlo()
            replies = s.mail_rcpt_data("good@example.com",
                                       ["friend@example.org"])
            self.assertEqual([c for c, _ in replies], [250, 250, 354])
            s.send(b"Subject: smuggling\r\n\r\nbody line" + variant +
                   SECOND + b"\r\n.\r\nQUIT\r\n")
            out = []
            for _ in range(20):
                try:
                    code, text = s.reply()
                except helpers.SmtpError as e:
                    out.append((-1, str(e)))
                    break
                if code == 0:
                    break
                out.append((code, text))
                if code == 221:
                    break
            return out

    def test_endings_followed_by_second_transaction(self):
        """For each fake end-of-data (\\n.\\r\\n, \\r.\\r\\n, \\n.\\n, NUL
        variants...) followed by a second MAIL/RCPT/DATA: never two
        messages, never the smuggled envelope, never a stored bare CR or
        LF; a body with bare CR/LF is refused with 550 5.6.x and nothing
        is queued (one with NUL may be too); otherwise it is one message
        holding all the text."""
        for v in VARIANTS:
            with self.subTest(variant=v):
                before = set(self.r.queue_ids())
                replies = self.attempt(v)
                entries = [e for e in self.r.queue_list()
                           if e["id"] not in before]
                self.assertLessEqual(len(entries), 1, (entries, replies))
                for e in entries:
                    self.assertEqual(e["sender"], "good@example.com")
                    self.assertEqual(e["rcpts"], ["friend@example.org"])
                    stored = self.r.queue_show(e["id"])
                    self.assertFalse(helpers.bare_cr_lf(stored), stored)
                queued = [c for c, t in replies if c == 250 and queue_id(t)]
                self.assertLessEqual(len(queued), 1, replies)
                if helpers.bare_cr_lf(v + b"x") or (b"\0" in v and
                                                    not entries):
                    # refused (NUL may be refused too, RFC 5321 2.3.8)
                    self.assertEqual(entries, [], replies)
                    self.assertEqual(replies[0][0], 550, replies)
                    self.assertRegex(replies[0][1], r"^5\.6\.\d+ ")
                else:
                    self.assertEqual(len(entries), 1, replies)
                    body = strip_received(self.r.queue_show(
                        entries[0]["id"]))
                    exp = helpers.dot_unstuff(
                        b"Subject: smuggling\r\n\r\nbody line" + v + SECOND)
                    exp = exp[:-len(b".\r\n")]
                    self.assertEqual(body, exp)
                self.assertIn(221, [c for c, _ in replies], replies)

    def test_bare_lf_in_commands(self):
        """A command ended by a bare LF is not taken as a command line
        end: MAIL/RCPT glued with bare LFs never start a transaction
        that queues a message."""
        with Smtp(self.r.port) as s:
            s.ehlo()
            s.send(b"MAIL FROM:<evil@x.example>\nRCPT TO:<victim@y.example>"
                   b"\nDATA\nsmuggled\n.\n")
            s.send(b"\r\nQUIT\r\n")
            for _ in range(10):
                code, text = s.reply()
                self.assertNotEqual(code, 354, text)
                if code in (0, 221):
                    break
        self.assertEqual(self.r.queue_list(), [])

    def test_pipelined_after_end_of_data(self):
        """Text pipelined right after <CRLF>.<CRLF> is read as commands
        only after the message is acknowledged: replies come in order
        (250 queued, 250, 250, 354, 250 queued, 221) and each message
        holds exactly its own body."""
        b1 = b"Subject: one\r\n\r\nfirst\r\n"
        b2 = b"Subject: two\r\n\r\nsecond\r\n"
        with Smtp(self.r.port) as s:
            s.ehlo()
            replies = s.mail_rcpt_data("a@example.com", ["b@example.org"])
            self.assertEqual(replies[-1][0], 354)
            s.send(b1 + b".\r\nMAIL FROM:<c@example.com>\r\n"
                   b"RCPT TO:<d@example.org>\r\nDATA\r\n" + b2 +
                   b".\r\nQUIT\r\n")
            replies = [s.reply() for _ in range(6)]
        codes = [c for c, _ in replies]
        self.assertEqual(codes, [250, 250, 250, 354, 250, 221], replies)
        id1, id2 = queue_id(replies[0][1]), queue_id(replies[4][1])
        self.assertTrue(id1 and id2 and id1 != id2, replies)
        self.assert_stored(self.r, id1, b1)
        self.assert_stored(self.r, id2, b2)
        env = {e["id"]: (e["sender"], e["rcpts"])
               for e in self.r.queue_list()}
        self.assertEqual(env, {id1: ("a@example.com", ["b@example.org"]),
                               id2: ("c@example.com", ["d@example.org"])})
