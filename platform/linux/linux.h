/*
 * linux.h - pieces of the Linux platform shared between its files
 * (daemon, admin commands, sendmail injector). Not used by core/.
 */
#ifndef LINUX_H
#define LINUX_H

#include "edgemta.h"
#include "conf.h"
#include "flash.h"

/*
 * Logging: foreground = lines to stderr with a timestamp; otherwise
 * syslog(3) with facility LOG_MAIL and the given ident.
 */
void plat_log_open(bool foreground, const char *ident);

/*
 * Service-manager notification (systemd's NOTIFY_SOCKET protocol): state
 * is "READY=1", "STOPPING=1", ... A no-op when NOTIFY_SOCKET is unset.
 */
void plat_notify(const char *state);

/*
 * Load the runtime configuration: defaults, then the file at path.
 * A missing file is an error unless missing_ok (the built-in default
 * path may be absent). 0 or EDGEMTA_E_INVAL / _NOENT with
 * "file:line: message" in err.
 */
int conf_load_file(struct conf *c, const char *path, bool missing_ok,
    char *err, size_t errlen);

/* The config path to use: -C/-c argument, else $EDGEMTA_CONFIG, else
 * CONFIG_DEFAULT_CONFIG_FILE. */
const char *conf_default_path(void);

/*
 * Open the queue of c read-only (admin listing while the daemon may be
 * running): flash_file_open(rdonly) + queue_open(QUEUE_O_RDONLY).
 * Returns 0 or an error after printing a message to stderr.
 */
int admin_queue_open_ro(const struct conf *c, struct flash *fl);

/*
 * With the queue open: when recovery found damage, one trailer line on
 * stdout ("-- queue damage: ..."), for `queue list` and mailq.
 */
void admin_queue_damage_note(void);

/*
 * "edgemta queue list|show ID|flush|delete ID|ALL|DEFERRED" with argv[0]
 * the subcommand (admin.c). Returns the process exit code. A queue file
 * that does not exist yet is an empty queue: admin_queue_open_ro() then
 * returns EDGEMTA_E_NOENT without printing anything.
 */
int admin_queue_main(const struct conf *c, int argc, char **argv);

/* `edgemta status [--json | --check]` (status_cli.c): the exit code. */
int status_main(const struct conf *c, int argc, char **argv);

/*
 * Send "XQUEUE cmd" to the daemon on the local socket; its whole reply
 * (CRLF lines with codes) lands in buf. The reply code, -1 when no daemon
 * listens, -2 on another failure (said on stderr).
 */
int admin_ask(const struct conf *c, const char *cmd, char *buf,
    size_t len);

/* What a queue_open() error means for the admin ("queue was written by
 * a newer edgemta; refusing to start (nothing was changed)"). */
const char *admin_queue_strerror(int err);

/* Time styles of plat_time_fmt (clock.c) */
enum plat_tstyle {
	PLAT_T_UTC,		/* "2026-11-28T13:04:05Z" */
	PLAT_T_LOCAL,		/* "2026-11-28T13:04:05", local time */
	PLAT_T_LOCAL_SP,	/* "2026-11-28 13:04:05", local time */
	PLAT_T_CTIME		/* "Sat Nov 28 13:04:05", local time */
};

/* t (seconds since the epoch) in that style into buf; false when the
 * C library cannot convert it. English names whatever the locale. */
bool plat_time_fmt(int64_t t, enum plat_tstyle style, char *buf,
    size_t len);

/* The multi-call entry points (argv[0] "sendmail" / "mailq"). */
int sendmail_main(int argc, char **argv);
int mailq_main(int argc, char **argv);

#endif
