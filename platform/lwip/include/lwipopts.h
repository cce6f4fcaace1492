/*
 * lwipopts.h - lwIP as edgemta uses it: the raw TCP API without an OS
 * (NO_SYS=1), driven from the relay's one event loop (sock_lwip.c); IPv4,
 * ARP and Ethernet; no sockets, no netconn, no DHCP (a firmware that wants
 * DHCP or DNS turns them on here). Sized for a small device's traffic (4
 * inbound SMTP sessions and 1 delivery, cortex-m4_defconfig), not a
 * server's: a 2-segment window and send buffer, 4 pool buffers for
 * received frames; RAM is MEM_SIZE + the pools below (about 15 KiB; the
 * firmware's RAM budget, README "Porting to an RTOS").
 */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_CALLBACK_API 1
#define LWIP_TIMERS 1

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_UDP 0
#define LWIP_DHCP 0
#define LWIP_DNS 0
#define LWIP_IGMP 0
#define LWIP_TCP 1
#define LWIP_NETIF_LOOPBACK 1	/* 127.0.0.1 for tests and local senders */
#define LWIP_HAVE_LOOPIF 1
#define LWIP_LOOPBACK_MAX_PBUFS 32
#define SO_REUSE 1

#define MEM_ALIGNMENT 4
#define MEM_SIZE (6 * 1024)
#define MEMP_NUM_TCP_PCB 6
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG 16
#define PBUF_POOL_SIZE 4
#define TCP_MSS 1460
#define TCP_SND_BUF (2 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_WND (2 * TCP_MSS)
#define TCP_LISTEN_BACKLOG 1
#define LWIP_TCP_KEEPALIVE 1

#define LWIP_STATS 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_SINGLE_NETIF 0

#endif
