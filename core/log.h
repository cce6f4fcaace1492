/*
 * log.h - one line per event, in the shape mail admins grep for.
 *
 * Lines go to plat_log(): syslog (mail facility) or stderr in the
 * foreground. Queue events start with the queue id:
 *   "0000001A: from=<a@b>, size=1234, nrcpt=2 (queued as ...)"
 */
#ifndef LOG_H
#define LOG_H

#include "edgemta.h"

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7
};

#define LOG_LINE_MAX 512

/* printf-style; the line is truncated to LOG_LINE_MAX. */
void log_msg(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Lines above this level are dropped. Default LOG_LVL_INFO. */
void log_set_level(int level);

#endif
