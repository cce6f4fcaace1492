/*
 * main.c - the multi-call entry point (edgemta, sendmail, mailq) and the
 * daemon: start-up, signals, graceful stop.
 *
 * Start-up without -f forks; the parent waits on a pipe until the child
 * has opened the queue and its listeners, then exits with the child's
 * start-up status, so "edgemta && echo ok" means the relay is serving
 * and a start-up error is printed on the terminal, not only in syslog.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sysexits.h>
#include <unistd.h>

#include "dnsq.h"
#include "ev.h"
#include "flash_mtd.h"
#include "linux.h"
#include "log.h"
#include "platform.h"
#include "queue.h"
#include "sched.h"
#include "smtp_in.h"
#include "tls_files.h"

static struct conf main_conf;
static struct flash main_flash;
static int main_status_fd = -1;	/* daemon child -> waiting parent */
static int main_sig_pipe[2] = { -1, -1 };
static bool main_stopping;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: edgemta [-c FILE] [-f [-s]] [-v] [-d]   run the relay\n"
	    "       edgemta [-c FILE] check            validate the config\n"
	    "       edgemta [-c FILE] config           print every setting\n"
	    "       edgemta [-c FILE] status [--json | --check]  health\n"
	    "       edgemta [-c FILE] passwd USER   (password on stdin)\n"
	    "       edgemta [-c FILE] oauth2 device-login  (RFC 8628)\n"
	    "       edgemta [-c FILE] queue list | show ID | flush |\n"
	    "               delete ID|all|deferred\n"
	    "       edgemta sendmail ... | mailq       (also as argv[0])\n"
	    "  -c FILE  config file (else $EDGEMTA_CONFIG, else %s)\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -v       log debug lines too\n"
	    "  -d       debug: the same as -f -v\n"
	    "  --version, -h\n", CONFIG_DEFAULT_CONFIG_FILE);
}

/*
 * A start-up failure: log it, hand it to the waiting parent (daemon) and
 * exit with code.
 */
static void
fail(int code, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (main_status_fd >= 0) {
		char buf[LOG_LINE_MAX + 1];
		size_t n = strlen(msg);

		buf[0] = (char)code;
		memcpy(buf + 1, msg, n);
		if (write(main_status_fd, buf, n + 1) < 0) {
			/* the parent is gone: nobody to tell */
		}
	}
	exit(code);
}

/* fork; the parent returns only through exit() with the child's status */
static void
daemonize(void)
{
	char buf[LOG_LINE_MAX + 1];
	ssize_t n, got = 0;
	int p[2], fd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "edgemta: cannot fork: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (pid > 0) {
		close(p[1]);
		while ((n = read(p[0], buf + got, sizeof(buf) - 1 -
		    (size_t)got)) > 0 || (n < 0 && errno == EINTR)) {
			got += n > 0 ? n : 0;
		}
		if (got == 0) {
			fprintf(stderr, "edgemta: the daemon died during "
			    "start-up (see syslog)\n");
			exit(EX_SOFTWARE);
		}
		buf[got] = '\0';
		if (buf[0] != 0) {
			fprintf(stderr, "edgemta: %s\n", buf + 1);
		}
		exit((unsigned char)buf[0]);
	}
	close(p[0]);
	main_status_fd = p[1];
	setsid();
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2) {
			close(fd);
		}
	}
}

/* mkdir -p of the directory that holds path, mode 0700. */
static void
make_parent_dirs(const char *path, mode_t mode)
{
	char dir[CONF_PATH_MAX];
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (p == NULL || p == dir) {
		return;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, mode) == 0) {
				/* exactly mode, whatever the umask */
				(void)chmod(dir, mode);
			} else if (errno != EEXIST) {
				fail(EX_CANTCREAT, "cannot create %s: %s", dir,
				    strerror(errno));
			}
			*p = c;
			if (c == '\0') {
				break;
			}
		}
	}
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if (write(main_sig_pipe[1], &b, 1) < 0) {
		/* pipe full: a signal of this kind is pending anyway */
	}
	errno = saved;
}

/*
 * SIGHUP: read the configuration file again. A file with an error changes
 * nothing. Of the keys that changed, those the modules read afresh each
 * time they need them take effect at once; the others (listeners, queue,
 * TLS files, relayhost, ...) keep their running values until a restart,
 * and the log says which. Deferred mail is retried with what is new.
 */
static const char *const reload_live[] = {
	"mynetworks", "smtpd_timeout", "message_size_limit",
	"minimal_backoff_time", "maximal_backoff_time",
	"maximal_queue_lifetime", "bounce_notice_recipient",
	"bounce_rate_limit", "default_destination_concurrency_limit",
	"smtp_address_preference", "aliases", "sender_rewrite",
	"smtpd_command_deadline", "smtpd_min_data_rate", "smtpd_greet_wait",
	"hopcount_limit", "smtp_rate_limit", "smtp_destination_rate_delay",
	"alert_collapse_window",
};

static char main_conf_path[4096];
static bool main_conf_missing_ok;
static struct conf reload_conf;		/* static: several KiB */
static char reload_now[512], reload_later[512];

static void
reload_add(char *list, size_t len, const char *key)
{
	size_t o = strlen(list);

	snprintf(list + o, len - o, "%s%s", o ? ", " : "", key);
}

static void
on_reload_changed(void *arg, const char *key)
{
	size_t i;

	(void)arg;
	for (i = 0; i < ARRAY_SIZE(reload_live); i++) {
		if (strcmp(key, reload_live[i]) == 0) {
			conf_copy_key(&main_conf, &reload_conf, key);
			reload_add(reload_now, sizeof(reload_now), key);
			return;
		}
	}
	reload_add(reload_later, sizeof(reload_later), key);
}

static void
main_reload(void)
{
	char err[CONF_ERR_MAX];

	if (conf_load_file(&reload_conf, main_conf_path, main_conf_missing_ok,
	    err, sizeof(err)) != 0 ||
	    conf_validate(&reload_conf, err, sizeof(err)) != 0) {
		log_err("reload: %s; the running configuration is kept", err);
		return;
	}
	reload_now[0] = reload_later[0] = '\0';
	conf_diff(&main_conf, &reload_conf, on_reload_changed, NULL);
	if (reload_now[0] == '\0' && reload_later[0] == '\0') {
		log_info("reload: %s re-read: nothing changed", main_conf_path);
	} else if (reload_now[0] != '\0') {
		log_info("reload: %s re-read: in effect now: %s",
		    main_conf_path, reload_now);
	}
	if (reload_later[0] != '\0') {
		log_warn("reload: changed, but in effect only after a restart "
		    "(the running values are kept): %s", reload_later);
	}
	sched_flush();
}

/* The self-pipe became readable: act on signals in loop context. */
static void
on_signal_pipe(void *arg, unsigned events)
{
	unsigned char buf[32];
	ssize_t n, i;

	(void)arg;
	(void)events;
	while ((n = read(main_sig_pipe[0], buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == SIGTERM || buf[i] == SIGINT) {
				if (!main_stopping) {
					log_info("signal %d: stopping",
					    buf[i]);
				}
				main_stopping = true;
				ev_stop();
			} else if (buf[i] == SIGHUP) {
				main_reload();
			} else {
				log_info("signal %d: flushing the queue",
				    buf[i]);
				sched_flush();
			}
		}
	}
}

static void
setup_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction sa;
	size_t i;

	if (pipe2(main_sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fail(EX_OSERR, "pipe: %s", strerror(errno));
	}
	if (ev_watch(main_sig_pipe[0], EV_READ, on_signal_pipe, NULL) < 0) {
		fail(EX_OSERR, "cannot watch the signal pipe");
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		sigaction(sigs[i], &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
}

static void
print_warning(void *arg, const char *line)
{
	fprintf(arg, "warning: %s\n", line);
}

static void
log_warning(void *arg, const char *line)
{
	(void)arg;
	log_warn("%s", line);
}

/* "127.0.0.1:25 (smtp), [::1]:587 (submission), /run/edgemta/edgemta.sock"
 */
static void
describe_listeners(const struct conf *c, char *buf, size_t len)
{
	static const char *const modes[] = { "smtp", "submission", "smtps",
		"local" };
	char ip[NET_ADDR_STRLEN];
	size_t o = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < c->nlisten && o < len; i++) {
		const struct conf_listen *l = &c->listen[i];
		bool v6 = l->addr.family == NET_INET6;

		net_addr_str(&l->addr, ip, sizeof(ip));
		o += (size_t)snprintf(buf + o, len - o, "%s%s%s%s:%u (%s)",
		    i ? ", " : "", v6 ? "[" : "", ip, v6 ? "]" : "",
		    (unsigned)l->addr.port, modes[l->mode & 3]);
	}
	if (c->local_socket[0] != '\0' && o < len) {
		snprintf(buf + o, len - o, ", %s", c->local_socket);
	}
}

/*
 * user = NAME: the account edgemta runs as once its listeners are open
 * (ports 25, 465 and 587 need root to bind). NULL and a message in err
 * when the account does not exist; a pointer to the entry (libc's static
 * buffer: copy what is needed) otherwise, or NULL with err empty when no
 * user is set.
 */
static const struct passwd *
lookup_user(const struct conf *c, char *err, size_t errlen)
{
	const struct passwd *pw;

	err[0] = '\0';
	if (c->user[0] == '\0') {
		return NULL;
	}
	pw = getpwnam(c->user);
	if (pw == NULL) {
		snprintf(err, errlen, "user = %s: no such user", c->user);
	}
	return pw;
}

/*
 * setgroups/setgid/setuid as plain system calls: the C library's change
 * every thread of the process (musl's through __synccall and semaphores,
 * 2 KB of a router binary), and edgemta has one thread. Where the plain
 * calls take 16-bit ids (32-bit ARM and x86), the 32-bit ones.
 */
#ifdef SYS_setuid32
#define MAIN_SYS_SETUID SYS_setuid32
#define MAIN_SYS_SETGID SYS_setgid32
#define MAIN_SYS_SETGROUPS SYS_setgroups32
#else
#define MAIN_SYS_SETUID SYS_setuid
#define MAIN_SYS_SETGID SYS_setgid
#define MAIN_SYS_SETGROUPS SYS_setgroups
#endif
#define MAIN_MAX_GROUPS 256

/* initgroups(3): the user's groups from the group file, and gid */
static int
main_initgroups(const char *user, gid_t gid)
{
	gid_t groups[MAIN_MAX_GROUPS];
	int n = MAIN_MAX_GROUPS;

	if (getgrouplist(user, gid, groups, &n) < 0) {
		errno = E2BIG;
		return -1;
	}
	return (int)syscall(MAIN_SYS_SETGROUPS, (unsigned long)n, groups);
}

/*
 * Give up root for good. The queue file, the listeners and the TLS files
 * are open already; the users file is read at each AUTH, so it must be
 * readable by the new user (warned here, not fatal).
 */
static void
drop_privileges(const struct conf *c)
{
	const struct passwd *pw;
	char err[CONF_ERR_MAX];
	uid_t uid;
	gid_t gid;

	pw = lookup_user(c, err, sizeof(err));
	if (pw == NULL) {
		if (err[0] != '\0') {
			fail(EX_CONFIG, "%s", err);
		}
		return;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (getuid() == uid && geteuid() == uid) {
		return;
	}
	if (geteuid() != 0) {
		fail(EX_CONFIG, "user = %s: edgemta must be started as root "
		    "or as that user", c->user);
	}
	if (main_initgroups(c->user, gid) < 0 ||
	    syscall(MAIN_SYS_SETGID, (unsigned long)gid) < 0 ||
	    syscall(MAIN_SYS_SETUID, (unsigned long)uid) < 0) {
		fail(EX_OSERR, "cannot become user %s: %s", c->user,
		    strerror(errno));
	}
	if (uid != 0 && syscall(MAIN_SYS_SETUID, 0ul) == 0) {
		fail(EX_SOFTWARE, "root privileges could not be given up");
	}
	if (c->smtpd_users_file[0] != '\0' &&
	    access(c->smtpd_users_file, R_OK) != 0) {
		log_warn("%s: not readable by user %s: AUTH will fail",
		    c->smtpd_users_file, c->user);
	}
	log_info("running as user %s (uid %lu)", c->user, (unsigned long)uid);
}

static int
run_daemon(struct conf *c, bool foreground, bool use_syslog)
{
	char host[CONF_STR_MAX], where[400];
	int r;

	if (!foreground) {
		daemonize();
	}
	plat_log_open(foreground && !use_syslog, "edgemta");
	if (c->myhostname[0] != '\0') {
		snprintf(host, sizeof(host), "%s", c->myhostname);
	} else if (plat_hostname(host, sizeof(host)) != 0) {
		snprintf(host, sizeof(host), "localhost");
	}
	if (!flash_mtd_path(c->queue_path)) {
		make_parent_dirs(c->queue_path, 0700);
	}
	/* the socket's directory must be searchable by every sendmail user */
	if (c->local_socket[0] != '\0') {
		make_parent_dirs(c->local_socket, 0755);
	}
	r = flash_open_queue(&main_flash, c->queue_path, c->queue_size, false,
	    where, sizeof(where));
	if (r == EDGEMTA_E_LOCKED) {
		fail(EX_TEMPFAIL, "%s: queue_path is in use by another edgemta "
		    "process", c->queue_path);
	} else if (r != 0) {
		fail(r == EDGEMTA_E_INVAL ? EX_CONFIG : EX_IOERR,
		    "cannot open the queue: %s", where);
	}
	if (flash_mtd_owns(&main_flash)) {
		log_info("queue on MTD %s: %lu erase blocks of %lu bytes, "
		    "%lu bad blocks left out", c->queue_path,
		    (unsigned long)main_flash.block_count,
		    (unsigned long)main_flash.block_size,
		    (unsigned long)flash_mtd_bad_blocks(&main_flash));
	}
	r = queue_open(&main_flash, 0);
	if (r != 0) {
		fail(r == EDGEMTA_E_IO ? EX_IOERR : EX_CONFIG, "%s: %s",
		    c->queue_path, admin_queue_strerror(r));
	}
	if (ev_init() != 0) {
		fail(EX_OSERR, "cannot set up the event loop");
	}
	if (queue_loop_start() != 0) {
		fail(EX_SOFTWARE, "cannot add the commit hook");
	}
	setup_signals();
	if (tls_files_setup(c, where, sizeof(where)) != 0) {
		fail(EX_CONFIG, "%s", where);
	}
	if (CONFIG_DNS && dnsq_init(c) == EDGEMTA_E_INVAL) {
		conf_where(c, "dns_servers", where, sizeof(where));
		fail(EX_CONFIG, "%s: dns_servers: cannot use %s", where,
		    c->dns_servers);
	}
	if (smtp_in_start(c, host) != 0) {
		conf_where(c, "listen", where, sizeof(where));
		fail(EX_UNAVAILABLE, "%s: listen: cannot open the listeners "
		    "(see the log)", where);
	}
	if (sched_start(c, host) != 0) {
		fail(EX_UNAVAILABLE, "cannot start the delivery scheduler");
	}
	(void)conf_warnings(c, log_warning, NULL);
	drop_privileges(c);
	describe_listeners(c, where, sizeof(where));
	log_info("edgemta %s started: %lu messages in queue, listening on %s",
	    EDGEMTA_VERSION, (unsigned long)queue_count(), where);
	/* listeners are open and the queue recovered: ready (Type=notify) */
	plat_notify("READY=1\nSTATUS=accepting mail");
	if (main_status_fd >= 0) {
		/* relative paths stay usable: only leave the cwd if none */
		if (c->queue_path[0] == '/' && (c->local_socket[0] == '/' ||
		    c->local_socket[0] == '\0')) {
			if (chdir("/") < 0) {
				/* harmless: we keep the old cwd */
			}
		}
		if (write(main_status_fd, "", 1) < 0) {
			/* the parent is gone */
		}
		close(main_status_fd);
		main_status_fd = -1;
	}
	r = ev_run();
	if (r != 0) {
		log_err("event loop failed: %s", edgemta_strerror(r));
	}
	plat_notify("STOPPING=1");
	/* every sealed message gets its 250 before the sessions end */
	queue_commit();
	smtp_in_stop();
	sched_stop();
	queue_commit();
	queue_close();
	flash_close_queue(&main_flash);
	if (CONFIG_DNS) {
		dnsq_shutdown();
	}
	ev_shutdown();
	log_info("stopped");
	return r == 0 ? 0 : EX_SOFTWARE;
}

static void
print_line(void *arg, const char *line)
{
	fprintf(arg, "%s\n", line);
}

static const char *
base_name(const char *s)
{
	const char *p = strrchr(s, '/');

	return p ? p + 1 : s;
}

int
main(int argc, char **argv)
{
	const char *prog = argc > 0 ? base_name(argv[0]) : "edgemta";
	const char *cfile = NULL, *path, *cmd;
	bool foreground = false, verbose = false, missing_ok;
	bool use_syslog = false;
	char err[CONF_ERR_MAX];
	int i;

	if (strcmp(prog, "sendmail") == 0) {
		return sendmail_main(argc, argv);
	}
	if (strcmp(prog, "mailq") == 0) {
		return mailq_main(argc, argv);
	}
	if (argc > 1 && strcmp(argv[1], "sendmail") == 0) {
		return sendmail_main(argc - 1, argv + 1);
	}
	if (argc > 1 && strcmp(argv[1], "mailq") == 0) {
		return mailq_main(argc - 1, argv + 1);
	}
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("edgemta %s\n", EDGEMTA_VERSION);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	/* "-c FILE -fsvdh" before the command (getopt with its messages
	 * and multibyte support: 2 KB on a router) */
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0';
	    i++) {
		const char *o = argv[i] + 1;

		if (strcmp(o, "-") == 0) {
			i++;
			break;
		}
		for (; *o != '\0'; o++) {
			switch (*o) {
			case 'c':
				cfile = o[1] != '\0' ? o + 1 :
				    i + 1 < argc ? argv[++i] : NULL;
				if (cfile == NULL) {
					fprintf(stderr, "%s: option -c needs "
					    "a file\n", prog);
					usage(stderr);
					return EX_USAGE;
				}
				goto next;	/* the rest was the argument */
			case 'f':
				foreground = true;
				break;
			case 's':
				/* in the foreground, but logging to syslog:
				 * under an init that keeps the process
				 * (start-stop-daemon -b) */
				use_syslog = true;
				break;
			case 'v':
				verbose = true;
				break;
			case 'd':
				foreground = verbose = true;
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				fprintf(stderr, "%s: unknown option -%c\n",
				    prog, *o);
				usage(stderr);
				return EX_USAGE;
			}
		}
next:;
	}
	cmd = i < argc ? argv[i] : NULL;
	path = cfile ? cfile : conf_default_path();
	missing_ok = cfile == NULL &&
	    strcmp(path, CONFIG_DEFAULT_CONFIG_FILE) == 0;
	log_set_level(verbose ? LOG_LVL_DEBUG : cmd ? LOG_LVL_WARN :
	    LOG_LVL_INFO);
	if (cmd != NULL) {
		plat_log_open(true, "edgemta");
	}
	/* a reload finds the file again after the daemon left its cwd */
	main_conf_path[0] = '\0';
	if (path[0] != '/' && (getcwd(main_conf_path,
	    sizeof(main_conf_path)) == NULL || strlen(main_conf_path) +
	    strlen(path) + 2 > sizeof(main_conf_path))) {
		main_conf_path[0] = '\0';
	}
	if (main_conf_path[0] != '\0') {
		strcat(main_conf_path, "/");
	}
	strncat(main_conf_path, path, sizeof(main_conf_path) - 1 -
	    strlen(main_conf_path));
	main_conf_missing_ok = missing_ok;
	if (conf_load_file(&main_conf, path, missing_ok, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return EX_CONFIG;
	}
	if (cmd == NULL || strcmp(cmd, "check") == 0) {
		if (conf_validate(&main_conf, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return EX_CONFIG;
		}
		if (lookup_user(&main_conf, err, sizeof(err)) == NULL &&
		    err[0] != '\0') {
			fprintf(stderr, "%s: %s\n", path, err);
			return EX_CONFIG;
		}
		if (cmd == NULL) {
			return run_daemon(&main_conf, foreground, use_syslog);
		}
		if (tls_files_setup(&main_conf, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			return EX_CONFIG;
		}
		(void)conf_warnings(&main_conf, print_warning, stderr);
		printf("config OK: %s\n", path);
		return 0;
	}
	if (strcmp(cmd, "config") == 0) {
		conf_print(&main_conf, print_line, stdout);
		return 0;
	}
	if (strcmp(cmd, "passwd") == 0) {
		return passwd_main(&main_conf, argc - i - 1, argv + i + 1);
	}
	if (strcmp(cmd, "oauth2") == 0) {
		return oauth2_main(&main_conf, argc - i - 1,
		    argv + i + 1);
	}
	if (strcmp(cmd, "status") == 0) {
		return status_main(&main_conf, argc - i - 1, argv + i + 1);
	}
	if (strcmp(cmd, "queue") == 0) {
		return admin_queue_main(&main_conf, argc - i - 1, argv + i + 1);
	}
	fprintf(stderr, "edgemta: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
