/*
 * config_check.h - impossible Kconfig combinations fail the build here,
 * naming the symbol to change.
 */
#ifndef CONFIG_CHECK_H
#define CONFIG_CHECK_H

#if CONFIG_QUEUE_BLOCK_SIZE % CONFIG_QUEUE_PAGE_SIZE != 0
#error "CONFIG_QUEUE_BLOCK_SIZE must be a multiple of CONFIG_QUEUE_PAGE_SIZE"
#endif
#if CONFIG_QUEUE_BLOCK_SIZE < 2 * CONFIG_QUEUE_PAGE_SIZE
#error "CONFIG_QUEUE_BLOCK_SIZE must hold at least two CONFIG_QUEUE_PAGE_SIZE pages"
#endif
#if CONFIG_QUEUE_REC_MAX + 64 > CONFIG_QUEUE_BLOCK_SIZE
#error "CONFIG_QUEUE_REC_MAX must be smaller than CONFIG_QUEUE_BLOCK_SIZE - 64"
#endif
#if CONFIG_IO_RBUF_SIZE < 1024
#error "CONFIG_IO_RBUF_SIZE must hold a 1000-octet SMTP line"
#endif
#if CONFIG_SESSIONS_RESERVED > 0 && \
    CONFIG_SESSIONS_RESERVED >= CONFIG_MAX_SESSIONS
#error "CONFIG_SESSIONS_RESERVED must be smaller than CONFIG_MAX_SESSIONS"
#endif

#endif
