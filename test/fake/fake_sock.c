/*
 * fake_sock.c - socket calls for unit tests that link sched.o or io.o
 * (the SMTP client) without opening a socket: every call fails with
 * EDGEMTA_E_IO. Weak, so a test that fakes sockets itself (ev_test)
 * wins.
 */
#include "platform.h"

#define WEAK __attribute__((weak))

WEAK int
plat_connect_tcp(const struct net_addr *a)
{
	(void)a;
	return EDGEMTA_E_IO;
}

WEAK int
plat_connect_result(int fd)
{
	(void)fd;
	return EDGEMTA_E_IO;
}

WEAK long
plat_read(int fd, void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return EDGEMTA_E_IO;
}

WEAK long
plat_write(int fd, const void *buf, size_t len)
{
	(void)fd;
	(void)buf;
	(void)len;
	return EDGEMTA_E_IO;
}

WEAK void
plat_close(int fd)
{
	(void)fd;
}
