/*
 * firmware.c - the worked example: edgemta as mps2-an386 firmware under
 * qemu-system-arm (test/lwip/qemu_fw_test.py). lwIP on the LAN9118 with
 * qemu's user-mode network (10.0.2.15, gateway 10.0.2.2 = the host's
 * loopback), the queue on the NOR backend over a RAM region (the board's
 * PSRAM at 0x21000000: it keeps its content over a machine reset, like
 * flash over a power cut; erased only when the test asks, by the
 * semihosting file "erase-queue", a factory format), the configuration
 * parsed from a `key = value` blob in a flash region (CONF_BLOB: text
 * ended by a NUL or erased bytes; the test has qemu load it there), log
 * lines on UART0, and a boot alert through the in-process submit API.
 * TLS: the server certificate chain and key and the CA the client
 * trusts are compiled in (fw_creds.h: BearSSL's `brssl ta`, `brssl
 * chain` and `brssl skey -C` output, which scripts/test-cortex-m4.sh
 * makes from a throwaway test PKI). Stand-ins a real board replaces: the
 * random hook (the mps2 board has no TRNG: seeded from the clocks, NOT
 * unpredictable, so the TLS keys it makes could be guessed; a real part
 * reads its TRNG) and the wall clock (semihosting: the host's clock).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include <bearssl.h>

#include "board.h"
#include "conf.h"
#include "edgemta_lwip.h"
#include "ev.h"
#include "lan9118.h"
#include "nor/flash_nor.h"
#include "nor/nor_ram.h"
#include "smtp_out.h"
#include "submit.h"
#include "tls.h"

#include "fw_creds.h"	/* TAs, CHAIN, EC (generated) */

#define NOR_BASE 0x21000000u	/* PSRAM, 16 MiB */
#define NOR_MAX (15u << 20)
#define CONF_BLOB 0x21f00000u	/* the last MiB of PSRAM: the config blob */
#define CONF_BLOB_MAX 4096
#define UART0 0x40004000u
#define UREG(off) (*(volatile uint32_t *)(UART0 + (off)))

static struct netif en;

u32_t
sys_now(void)
{
	return board_ms();
}

static void uart_log(int level, const char *line);

/* Once a second, a new stack high-water mark or heap size is logged
 * (board_stack_peak() scans the painted stack: not on every poll). */
static void
report_memory(void)
{
	static uint32_t last;
	static size_t stack, heap;
	char line[64];

	if (board_ms() - last < 1000) {
		return;
	}
	last = board_ms();
	if (board_stack_peak() == stack && board_heap_used() == heap) {
		return;
	}
	stack = board_stack_peak();
	heap = board_heap_used();
	snprintf(line, sizeof(line), "memory: stack peak %lu bytes, heap %lu",
	    (unsigned long)stack, (unsigned long)heap);
	uart_log(0, line);
}

static void
net_poll(uint32_t max_ms)
{
	int got = lan9118_poll(&en);

	report_memory();

	netif_poll_all();
	sys_check_timeouts();
	if (got == 0 && max_ms > 0) {
		board_idle();
	}
}

static int64_t
wall_time(void)
{
	return (int64_t)time(NULL);	/* semihosting: the host's clock */
}

static void
fw_random(void *buf, size_t len)
{
	static uint32_t x;
	uint8_t *p = buf;

	if (x == 0) {
		x = (uint32_t)time(NULL) ^ (board_ms() << 16) ^ 0x9e3779b9u;
	}
	while (len-- > 0) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		*p++ = (uint8_t)x;
	}
}

static void
uart_log(int level, const char *line)
{
	const char *s;

	(void)level;
	for (s = line; ; s++) {
		char ch = *s != '\0' ? *s : '\n';

		while (UREG(0x4) & 1) {	/* TX buffer full */
		}
		UREG(0x0) = (uint32_t)(uint8_t)ch;
		if (*s == '\0') {
			break;
		}
	}
}

static const struct edgemta_lwip_hooks hooks = {
	net_poll, wall_time, fw_random, uart_log
};

static struct edgemta_submit alert;

static void
alert_done(void *arg, int err, uint32_t id)
{
	char line[80];

	(void)arg;
	snprintf(line, sizeof(line), "boot alert %s (id %08lX)",
	    err == 0 ? "queued" : edgemta_strerror(err), (unsigned long)id);
	uart_log(0, line);
}

int
main(void)
{
	static struct conf c;
	static struct nor_ram ram;
	static struct flash_nor nor;
	static struct smtp_out_tls out_tls;
	static const char *const rcpt[] = { "alert@example.net" };
	static const char msg[] = "Subject: boot alert from mps2-an386\n\n"
	    "edgemta firmware started\n";
	struct edgemta_envelope env = { "device@edgemta-m4.test", rcpt, 1,
		"edgemta-m4.test", 0 };
	char err[CONF_ERR_MAX];
	ip4_addr_t ip, mask, gw;
	const char *blob = (const char *)CONF_BLOB;
	size_t n = 0;

	UREG(0x10) = 16;	/* BAUDDIV */
	UREG(0x8) = 1;		/* CTRL: TX enable */
	uart_log(0, "edgemta firmware: boot");
	while (n < CONF_BLOB_MAX && blob[n] != '\0' && blob[n] != '\xff') {
		n++;
	}
	conf_defaults(&c);
	if (conf_parse(&c, "config blob", blob, n, err, sizeof(err)) != 0 ||
	    conf_validate(&c, err, sizeof(err)) != 0 ||
	    c.queue_size > NOR_MAX) {
		uart_log(0, err);
		return 1;
	}
	if (remove("erase-queue") == 0) {	/* the file was there */
		memset((void *)NOR_BASE, 0xff, c.queue_size);
		uart_log(0, "queue region erased");
	}
	nor_ram_init(&ram, (uint8_t *)NOR_BASE, c.queue_size,
	    CONFIG_QUEUE_BLOCK_SIZE, 256, 4);
	if (flash_nor_init(&nor, &ram.hal, 0, c.queue_size,
	    CONFIG_QUEUE_BLOCK_SIZE, CONFIG_QUEUE_PAGE_SIZE) != 0) {
		uart_log(0, "bad queue geometry");
		return 1;
	}
	lwip_init();
	IP4_ADDR(&ip, 10, 0, 2, 15);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 10, 0, 2, 2);
	if (netif_add(&en, &ip, &mask, &gw, NULL, lan9118_init,
	    ethernet_input) == NULL) {
		uart_log(0, "no LAN9118");
		return 1;
	}
	netif_set_default(&en);
	netif_set_up(&en);
	edgemta_lwip_init(&hooks);
	tls_set_trust_anchors(TAs, TAs_NUM);
	tls_server_set_creds(CHAIN, CHAIN_LEN, NULL, &EC);
	smtp_out_tls_conf(&out_tls, &c);
	smtp_out_set_tls(&out_tls);
	if (edgemta_lwip_start(&c, &nor.fl, "edgemta-m4.test") != 0) {
		return 1;
	}
	if (edgemta_submit_begin(&alert, &env) != 0 ||
	    edgemta_submit_write(&alert, msg, sizeof(msg) - 1) != 0 ||
	    edgemta_submit_end(&alert, alert_done, NULL) != 0) {
		uart_log(0, "boot alert refused");
	}
	return ev_run();
}
