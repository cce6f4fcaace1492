/*
 * lan9118.c - LAN9118 netif driver (lan9118.h): the register subset
 * qemu's model and the datasheet agree on, polled, no DMA.
 */
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#include "lan9118.h"

#define LAN_BASE 0x40200000u
#define REG(off) (*(volatile uint32_t *)(LAN_BASE + (off)))

#define RX_DATA_FIFO 0x00
#define TX_DATA_FIFO 0x20
#define RX_STATUS_FIFO 0x40
#define BYTE_TEST 0x64
#define TX_CFG 0x70
#define HW_CFG 0x74
#define RX_FIFO_INF 0x7c
#define PMT_CTRL 0x84
#define MAC_CSR_CMD 0xa4
#define MAC_CSR_DATA 0xa8

#define MAC_CR 1
#define ADDRH 2
#define ADDRL 3
#define MAC_CR_RXEN (1u << 2)
#define MAC_CR_TXEN (1u << 3)
#define CSR_BUSY (1u << 31)
#define CSR_READ (1u << 30)

static uint32_t
mac_read(uint32_t reg)
{
	REG(MAC_CSR_CMD) = CSR_BUSY | CSR_READ | reg;
	while (REG(MAC_CSR_CMD) & CSR_BUSY) {
	}
	return REG(MAC_CSR_DATA);
}

static void
mac_write(uint32_t reg, uint32_t v)
{
	REG(MAC_CSR_DATA) = v;
	REG(MAC_CSR_CMD) = CSR_BUSY | reg;
	while (REG(MAC_CSR_CMD) & CSR_BUSY) {
	}
}

/* One frame, for sending and receiving: a received one is copied into
 * its pbuf before lwIP sees it (and may send from here). */
static uint32_t frame[1536 / 4];

static err_t
lan9118_output(struct netif *nif, struct pbuf *p)
{
	uint16_t n, i;

	(void)nif;
	n = pbuf_copy_partial(p, frame, sizeof(frame), 0);
	/* command A: first and last segment, buffer size; B: length */
	REG(TX_DATA_FIFO) = (1u << 13) | (1u << 12) | n;
	REG(TX_DATA_FIFO) = n;
	for (i = 0; i < (n + 3) / 4; i++) {
		REG(TX_DATA_FIFO) = frame[i];
	}
	return ERR_OK;
}

int
lan9118_poll(struct netif *nif)
{
	uint32_t st, len, i;
	struct pbuf *p;
	int got = 0;

	while (((REG(RX_FIFO_INF) >> 16) & 0xff) != 0) {
		st = REG(RX_STATUS_FIFO);
		len = (st >> 16) & 0x3fff;	/* with the 4-byte CRC */
		for (i = 0; i < (len + 3) / 4; i++) {
			uint32_t w = REG(RX_DATA_FIFO);

			if (i < sizeof(frame) / 4) {
				frame[i] = w;
			}
		}
		if ((st & (1u << 15)) || len < 18 || len > sizeof(frame)) {
			continue;	/* error summary, runt, giant */
		}
		p = pbuf_alloc(PBUF_RAW, (u16_t)(len - 4), PBUF_POOL);
		if (p == NULL) {
			continue;	/* dropped: no buffer */
		}
		pbuf_take(p, frame, (u16_t)(len - 4));
		if (nif->input(p, nif) != ERR_OK) {
			pbuf_free(p);
		}
		got++;
	}
	return got;
}

err_t
lan9118_init(struct netif *nif)
{
	uint32_t lo, hi;

	if (REG(BYTE_TEST) != 0x87654321u) {
		return ERR_IF;
	}
	REG(HW_CFG) = 1;		/* soft reset */
	while (REG(HW_CFG) & 1) {
	}
	while (!(REG(PMT_CTRL) & 1)) {	/* device ready */
	}
	lo = mac_read(ADDRL);
	hi = mac_read(ADDRH);
	nif->hwaddr[0] = (uint8_t)lo;
	nif->hwaddr[1] = (uint8_t)(lo >> 8);
	nif->hwaddr[2] = (uint8_t)(lo >> 16);
	nif->hwaddr[3] = (uint8_t)(lo >> 24);
	nif->hwaddr[4] = (uint8_t)hi;
	nif->hwaddr[5] = (uint8_t)(hi >> 8);
	nif->hwaddr_len = 6;
	mac_write(MAC_CR, mac_read(MAC_CR) | MAC_CR_RXEN | MAC_CR_TXEN);
	REG(TX_CFG) = 1u << 1;		/* TX_ON */
	nif->name[0] = 'e';
	nif->name[1] = 'n';
	nif->output = etharp_output;
	nif->linkoutput = lan9118_output;
	nif->mtu = 1500;
	nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
	    NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}
