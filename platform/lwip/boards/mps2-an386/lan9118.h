/*
 * lan9118.h - lwIP netif driver for the SMSC LAN9118 Ethernet controller
 * of the mps2-an386 board (0x40200000; what qemu-system-arm emulates).
 * Polled: lan9118_poll() hands every received frame to lwIP, from the
 * board's net_poll hook; transmit is synchronous through the TX FIFO.
 */
#ifndef LAN9118_H
#define LAN9118_H

#include "lwip/netif.h"

/* netif_add() init function: resets the chip, reads its MAC address. */
err_t lan9118_init(struct netif *nif);

/* Frames received since the last call, given to nif->input. */
int lan9118_poll(struct netif *nif);

#endif
