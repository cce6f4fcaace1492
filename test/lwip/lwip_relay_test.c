/*
 * lwip_relay_test.c - the relay on the lwIP platform (platform/lwip), on
 * the host, all in one process over lwIP's loopback interface (127.0.0.1
 * inside lwIP: no host network, no TAP): an SMTP client speaking to the
 * relay's listener, the relay's queue on the flash simulator, and an SMTP
 * sink on lwIP as the relayhost. Checks that a message sent over SMTP
 * and one from the in-process submit API both arrive at the sink, and the
 * queue is empty afterwards. Built and run on the host by
 * scripts/test-lwip.sh (board_host.c) and on the emulated Cortex-M4 by
 * scripts/test-cortex-m4.sh (platform/lwip/boards/mps2-an386).
 */
#include <stdlib.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/timeouts.h"

#include "test.h"
#include "board.h"
#include "conf.h"
#include "edgemta_lwip.h"
#include "ev.h"
#include "flash_sim.h"
#include "platform.h"
#include "queue.h"
#include "submit.h"

/* ---- the board (board_host.c or mps2-an386), loopback polling ---- */

u32_t
sys_now(void)
{
	return board_ms();
}

static void
net_poll(uint32_t max_ms)
{
	netif_poll_all();
	sys_check_timeouts();
	if (max_ms > 0) {
		board_idle();
	}
}

static int64_t
wall_time(void)
{
	return 1790000000 + sys_now() / 1000;
}

static void
host_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len-- > 0) {
		*p++ = (uint8_t)rand();
	}
}

static bool verbose;

static void
host_log(int level, const char *line)
{
	(void)level;
	if (verbose) {
		fprintf(stderr, "log: %s\n", line);
	}
}

static const struct edgemta_lwip_hooks hooks = {
	net_poll, wall_time, host_random, host_log
};

/* ---- a line-based peer on a plat_* socket ---- */

struct peer {
	int fd;
	char in[4096];
	size_t inlen;
	char out[4096];
	size_t outlen;
};

static void
peer_send(struct peer *p, const char *s)
{
	size_t n = strlen(s);

	if (p->outlen + n <= sizeof(p->out)) {
		memcpy(p->out + p->outlen, s, n);
		p->outlen += n;
	}
}

/* Read what there is; false at end of stream or error. */
static bool
peer_io(struct peer *p, unsigned events)
{
	long n;

	if ((events & EV_WRITE) && p->outlen > 0) {
		n = plat_write(p->fd, p->out, p->outlen);
		if (n > 0) {
			memmove(p->out, p->out + n, p->outlen - (size_t)n);
			p->outlen -= (size_t)n;
		} else if (n != EDGEMTA_E_AGAIN) {
			return false;
		}
	}
	if (events & (EV_READ | EV_ERROR)) {
		n = plat_read(p->fd, p->in + p->inlen,
		    sizeof(p->in) - 1 - p->inlen);
		if (n == 0 || (n < 0 && n != EDGEMTA_E_AGAIN)) {
			return false;
		}
		if (n > 0) {
			p->inlen += (size_t)n;
			p->in[p->inlen] = '\0';
		}
	}
	return true;
}

/* Take one full line (without CRLF) from p->in into line. */
static bool
peer_line(struct peer *p, char *line, size_t cap)
{
	char *e = strstr(p->in, "\r\n");
	size_t n;

	if (e == NULL) {
		return false;
	}
	n = (size_t)(e - p->in);
	snprintf(line, cap, "%.*s", (int)n, p->in);
	memmove(p->in, e + 2, p->inlen - n - 2 + 1);
	p->inlen -= n + 2;
	return true;
}

/* ---- the sink (the relayhost): counts messages, keeps the last ---- */

static struct peer sink;
static int sink_lfd, sink_msgs;
static bool sink_data;
static char sink_last[4096];

static void sink_on_io(void *arg, unsigned events);

static void
sink_reset_watch(void)
{
	ev_watch(sink.fd, EV_READ | (sink.outlen ? EV_WRITE : 0), sink_on_io,
	    NULL);
}

static void
sink_on_io(void *arg, unsigned events)
{
	char line[1100];

	(void)arg;
	if (!peer_io(&sink, events)) {
		ev_unwatch(sink.fd);
		plat_close(sink.fd);
		sink.fd = -1;
		return;
	}
	while (peer_line(&sink, line, sizeof(line))) {
		if (sink_data) {
			if (strcmp(line, ".") == 0) {
				sink_data = false;
				sink_msgs++;
				peer_send(&sink, "250 2.0.0 Ok: sunk\r\n");
			} else if (strlen(sink_last) + strlen(line) + 3 <
			    sizeof(sink_last)) {
				strcat(sink_last, line);
				strcat(sink_last, "\n");
			}
		} else if (strncmp(line, "EHLO", 4) == 0) {
			peer_send(&sink, "250 sink.test\r\n");
		} else if (strncmp(line, "DATA", 4) == 0) {
			sink_data = true;
			sink_last[0] = '\0';
			peer_send(&sink, "354 go\r\n");
		} else if (strncmp(line, "QUIT", 4) == 0) {
			peer_send(&sink, "221 bye\r\n");
		} else {
			peer_send(&sink, "250 Ok\r\n");
		}
	}
	if (sink.fd >= 0) {
		sink_reset_watch();
	}
}

static void
sink_on_accept(void *arg, unsigned events)
{
	struct net_addr peer;
	int fd;

	(void)arg;
	(void)events;
	fd = plat_accept(sink_lfd, &peer);
	if (fd < 0) {
		return;
	}
	if (sink.fd >= 0) {	/* one session at a time is enough here */
		plat_close(fd);
		return;
	}
	memset(&sink, 0, sizeof(sink));
	sink.fd = fd;
	peer_send(&sink, "220 sink.test ESMTP\r\n");
	sink_reset_watch();
}

/* ---- the client: one SMTP transaction, a reply per command ---- */

static struct peer cli;
static int cli_step;
static char cli_queued[80];
static const char *const cli_cmds[] = {
	"EHLO client.test\r\n", "MAIL FROM:<meter@lwip.test>\r\n",
	"RCPT TO:<ops@example.net>\r\n", "DATA\r\n",
	"Subject: over lwIP\r\n\r\nsent through the lwIP loopback\r\n.\r\n",
	"QUIT\r\n", NULL
};

static void
cli_on_io(void *arg, unsigned events)
{
	char line[600];

	(void)arg;
	if (!peer_io(&cli, events)) {
		ev_unwatch(cli.fd);
		plat_close(cli.fd);
		cli.fd = -1;
		return;
	}
	while (peer_line(&cli, line, sizeof(line))) {
		if (verbose) {
			fprintf(stderr, "client <- %s\n", line);
		}
		if (line[3] == '-') {
			continue;	/* multi-line reply goes on */
		}
		if (strncmp(line, "250 2.0.0 Ok: queued as ", 24) == 0) {
			snprintf(cli_queued, sizeof(cli_queued), "%.60s",
			    line + 24);
		}
		if (line[0] != '2' && line[0] != '3') {
			fprintf(stderr, "client: unexpected reply %s\n", line);
			cli_step = -100;
		}
		if (cli_step >= 0 && cli_cmds[cli_step] != NULL) {
			peer_send(&cli, cli_cmds[cli_step++]);
		}
	}
	ev_watch(cli.fd, EV_READ | (cli.outlen ? EV_WRITE : 0), cli_on_io,
	    NULL);
}

/* ---- the alert: the in-process API ---- */

static struct edgemta_submit alert;
static int alert_done, alert_err = 1;

static void
alert_on_done(void *arg, int err, uint32_t id)
{
	(void)arg;
	(void)id;
	alert_done++;
	alert_err = err;
}

/* ---- the test ---- */

static struct flash_sim sim;
static struct ev_timer check_timer, stop_timer;
static bool timed_out;

static void
on_stop(void *arg)
{
	(void)arg;
	timed_out = true;
	ev_stop();
}

static void
on_check(void *arg)
{
	(void)arg;
	if (sink_msgs >= 2 && alert_done == 1 && queue_count() == 0) {
		ev_stop();
		return;
	}
	ev_timer_start(&check_timer, 20, on_check, NULL);
}

static void
test_relay_over_lwip(void)
{
	static const char cfg[] = "listen = 127.0.0.1:2525 smtp\n"
	    "mynetworks = 127.0.0.0/8\n"
	    "relayhost = [127.0.0.1]:2526\n"
	    "smtp_tls_security_level = none\n"
	    "queue_size = 64k\n";
	static const char *const rcpt[] = { "ops@example.net" };
	struct edgemta_envelope env = { "ups@lwip.test", rcpt, 1,
		"relay.lwip.test", 0 };
	static const char text[] = "Subject: on battery\n\nUPS on battery\n";
	static struct conf c;
	struct net_addr a;
	char err[200];

	conf_defaults(&c);
	CHECK_EQ(conf_parse(&c, "test", cfg, sizeof(cfg) - 1, err,
	    sizeof(err)), 0);
	CHECK_EQ(flash_sim_init(&sim, CONFIG_QUEUE_PAGE_SIZE,
	    CONFIG_QUEUE_BLOCK_SIZE, 65536 / CONFIG_QUEUE_BLOCK_SIZE), 0);
	CHECK_EQ(edgemta_lwip_start(&c, &sim.fl, "relay.lwip.test"), 0);

	CHECK_EQ(net_addr_parse_hostport("127.0.0.1:2526", &a), 0);
	sink.fd = -1;
	sink_lfd = plat_listen_tcp(&a);
	CHECK(sink_lfd >= 0);
	CHECK_EQ(ev_watch(sink_lfd, EV_READ, sink_on_accept, NULL), 0);

	CHECK_EQ(net_addr_parse_hostport("127.0.0.1:2525", &a), 0);
	cli.fd = plat_connect_tcp(&a);
	CHECK(cli.fd >= 0);
	CHECK_EQ(ev_watch(cli.fd, EV_READ, cli_on_io, NULL), 0);

	CHECK_EQ(edgemta_submit_begin(&alert, &env), 0);
	CHECK_EQ(edgemta_submit_write(&alert, text, sizeof(text) - 1), 0);
	CHECK_EQ(edgemta_submit_end(&alert, alert_on_done, NULL), 0);

	ev_timer_start(&check_timer, 20, on_check, NULL);
	ev_timer_start(&stop_timer, 20000, on_stop, NULL);
	CHECK_EQ(ev_run(), 0);
	CHECK(!timed_out);
	CHECK_EQ(alert_done, 1);
	CHECK_EQ(alert_err, 0);
	CHECK(cli_queued[0] != '\0');
	CHECK_EQ(cli_step, 6);	/* every command answered 2xx/3xx */
	CHECK_EQ(sink_msgs, 2);
	CHECK_EQ(queue_count(), 0);
	CHECK(strstr(sink_last, "Received: ") != NULL);
	printf("lwip_relay_test: queued %s over SMTP, alert done, %d "
	    "messages at the sink, stack peak %lu bytes\n", cli_queued,
	    sink_msgs, (unsigned long)board_stack_peak());
}

int
main(int argc, char **argv)
{
	verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
	lwip_init();
	edgemta_lwip_init(&hooks);
	RUN(test_relay_over_lwip);
	return test_report("lwip_relay_test");
}
