/*
 * lwip_tap.c - the lwIP relay as a host program on a TAP device, for
 * test/lwip/tap_test.py (which runs it in its own network namespace):
 *
 *   edgemta-lwip TAP IP/PREFIX CONFIG [ALERT_RCPT]
 *
 * An Ethernet netif on the TAP device (what a board's driver does with
 * its MAC: frames in, frames out), the queue on the NOR backend over a
 * RAM part (platform/nor), the configuration from a `key = value` file
 * read whole into memory (a config blob, as a firmware would keep in
 * flash) over the Kconfig defaults. With ALERT_RCPT, an alert is
 * submitted through the in-process API at start (core/submit.h). Logs go
 * to stderr; runs until killed. With EDGEMTA_LWIP_FLASH=FILE the NOR
 * part is that file mapped shared: it survives kill -9, as a board's
 * RAM-backed flash region survives a reset (tap_test.py's power cuts).
 */
#define _DEFAULT_SOURCE		/* nanosleep, struct ifreq */
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include "conf.h"
#include "edgemta_lwip.h"
#include "ev.h"
#include "nor/flash_nor.h"
#include "nor/nor_ram.h"
#include "submit.h"
#include "tls_files.h"

static int tap_fd = -1;
static struct netif tap_netif;

u32_t
sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static err_t
tap_output(struct netif *nif, struct pbuf *p)
{
	static uint8_t frame[1518];
	uint16_t n;

	(void)nif;
	n = pbuf_copy_partial(p, frame, sizeof(frame), 0);
	return write(tap_fd, frame, n) == (ssize_t)n ? ERR_OK : ERR_IF;
}

static void
tap_input(void)
{
	static uint8_t frame[1518];
	struct pbuf *p;
	ssize_t n;

	while ((n = read(tap_fd, frame, sizeof(frame))) > 0) {
		p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_POOL);
		if (p == NULL) {
			continue;	/* dropped, as a full RX ring would */
		}
		pbuf_take(p, frame, (u16_t)n);
		if (tap_netif.input(p, &tap_netif) != ERR_OK) {
			pbuf_free(p);
		}
	}
}

static err_t
tap_netif_init(struct netif *nif)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0xed, 0x6e, 0x01 };

	nif->name[0] = 't';
	nif->name[1] = 'p';
	nif->output = etharp_output;
	nif->linkoutput = tap_output;
	nif->mtu = 1500;
	nif->hwaddr_len = 6;
	memcpy(nif->hwaddr, mac, 6);
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
	    NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

static void
net_poll(uint32_t max_ms)
{
	struct pollfd pfd = { tap_fd, POLLIN, 0 };
	uint32_t t = sys_timeouts_sleeptime();

	netif_poll_all();
	sys_check_timeouts();
	if (poll(&pfd, 1, (int)(t < max_ms ? t : max_ms)) > 0) {
		tap_input();
	}
}

static int64_t
wall_time(void)
{
	return (int64_t)time(NULL);
}

static void
host_random(void *buf, size_t len)
{
	FILE *f = fopen("/dev/urandom", "rb");

	if (f == NULL || fread(buf, 1, len, f) != len) {
		abort();
	}
	fclose(f);
}

static void
host_log(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "edgemta-lwip: %s\n", line);
}

static const struct edgemta_lwip_hooks hooks = {
	net_poll, wall_time, host_random, host_log
};

static struct edgemta_submit alert;

static void
alert_done(void *arg, int err, uint32_t id)
{
	(void)arg;
	fprintf(stderr, "edgemta-lwip: alert %s (id %08lX)\n",
	    err == 0 ? "queued" : edgemta_strerror(err), (unsigned long)id);
}

/* A blank (0xFF) part in RAM, or the EDGEMTA_LWIP_FLASH file mapped. */
static uint8_t *
flash_region(uint32_t size)
{
	const char *path = getenv("EDGEMTA_LWIP_FLASH");
	struct stat st;
	uint8_t *mem;
	int fd;

	if (path == NULL) {
		mem = malloc(size);
		if (mem != NULL) {
			memset(mem, 0xff, size);
		}
		return mem;
	}
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return NULL;
	}
	if (st.st_size != (off_t)size) {
		static uint8_t ff[4096];
		uint32_t o;

		memset(ff, 0xff, sizeof(ff));
		for (o = 0; o < size; o += sizeof(ff)) {
			if (pwrite(fd, ff, sizeof(ff), (off_t)o) < 0) {
				return NULL;
			}
		}
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return mem == MAP_FAILED ? NULL : mem;
}

int
main(int argc, char **argv)
{
	static struct conf c;
	static char text[8192];
	static struct nor_ram ram;
	static struct flash_nor nor;
	struct ifreq ifr;
	ip4_addr_t ip, mask, gw;
	char err[CONF_ERR_MAX], *slash;
	uint8_t *mem;
	size_t n;
	FILE *f;

	if (argc < 4) {
		fprintf(stderr, "usage: edgemta-lwip TAP IP/PREFIX CONFIG "
		    "[ALERT_RCPT]\n");
		return 2;
	}
	f = fopen(argv[3], "r");
	n = f != NULL ? fread(text, 1, sizeof(text), f) : 0;
	conf_defaults(&c);
	if (f == NULL || conf_parse(&c, argv[3], text, n, err,
	    sizeof(err)) != 0 || conf_validate(&c, err, sizeof(err)) != 0) {
		fprintf(stderr, "edgemta-lwip: %s\n", f ? err : "no config");
		return 1;
	}
	fclose(f);
	if (tls_files_setup(&c, err, sizeof(err)) != 0) {
		fprintf(stderr, "edgemta-lwip: %s\n", err);
		return 1;
	}
	/* the NOR part: queue_size bytes of 4 KiB sectors, 256-byte pages */
	mem = flash_region(c.queue_size);
	if (mem == NULL) {
		return 1;
	}
	nor_ram_init(&ram, mem, c.queue_size, CONFIG_QUEUE_BLOCK_SIZE, 256, 4);
	if (flash_nor_init(&nor, &ram.hal, 0, c.queue_size,
	    CONFIG_QUEUE_BLOCK_SIZE, CONFIG_QUEUE_PAGE_SIZE) != 0) {
		fprintf(stderr, "edgemta-lwip: bad queue geometry\n");
		return 1;
	}

	tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (tap_fd < 0 || ioctl(tap_fd, TUNSETIFF, &ifr) < 0) {
		perror("edgemta-lwip: /dev/net/tun");
		return 1;
	}
	slash = strchr(argv[2], '/');
	if (slash == NULL) {
		return 2;
	}
	*slash = '\0';
	lwip_init();
	ip4addr_aton(argv[2], &ip);
	ip4_addr_set_u32(&mask, lwip_htonl(0xffffffffu <<
	    (32 - atoi(slash + 1))));
	ip4_addr_set_zero(&gw);
	netif_add(&tap_netif, &ip, &mask, &gw, NULL, tap_netif_init,
	    ethernet_input);
	netif_set_default(&tap_netif);
	netif_set_up(&tap_netif);
	edgemta_lwip_init(&hooks);
	if (edgemta_lwip_start(&c, &nor.fl, c.myhostname[0] ? c.myhostname :
	    "edgemta-lwip.test") != 0) {
		return 1;
	}
	if (argc > 4) {
		static const char msg[] = "Subject: alert from the lwIP "
		    "relay\n\nthe in-process API works\n";
		const char *rcpts[1] = { argv[4] };
		struct edgemta_envelope env = { "alert@edgemta-lwip.test",
			rcpts, 1, "edgemta-lwip.test", 0 };

		if (edgemta_submit_begin(&alert, &env) != 0 ||
		    edgemta_submit_write(&alert, msg, sizeof(msg) - 1) != 0 ||
		    edgemta_submit_end(&alert, alert_done, NULL) != 0) {
			fprintf(stderr, "edgemta-lwip: alert refused\n");
			return 1;
		}
	}
	return ev_run() == 0 ? 0 : 1;
}
