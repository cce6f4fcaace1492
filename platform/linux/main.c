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
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "dnsq.h"
#include "ev.h"
#include "flash_file.h"
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
	    "usage: edgemta [-c FILE] [-f] [-v] [-d]   run the relay\n"
	    "       edgemta [-c FILE] check            validate the config\n"
	    "       edgemta [-c FILE] config           print every setting\n"
	    "       edgemta [-c FILE] passwd USER   (password on stdin)\n"
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
make_parent_dirs(const char *path)
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
			if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
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

/*
 * Delivery results wait for a commit to ride on (queue.h): the timer is
 * armed when results become pending and syncs only if no commit synced
 * since then (under load, one always has), so a result is durable within
 * two periods.
 */
#define MAIN_RESULTS_MS 500

static struct ev_timer main_results_timer;
static uint64_t main_results_syncs;	/* queue_syncs() when armed */

static void on_results_timer(void *arg);

static void
arm_results_timer(void)
{
	main_results_syncs = queue_syncs();
	ev_timer_start(&main_results_timer, MAIN_RESULTS_MS, on_results_timer,
	    NULL);
}

static void
on_results_timer(void *arg)
{
	(void)arg;
	if (!queue_results_pending()) {
		return;
	}
	if (queue_syncs() != main_results_syncs) {
		arm_results_timer();	/* these came later: give them time */
		return;
	}
	if (queue_sync_results() != 0) {
		log_err("queue: cannot make delivery results durable");
	}
}

/* Before-sleep hook: group commit first, then bounded reclaim work. */
static void
commit_hook(void *arg)
{
	(void)arg;
	queue_commit();
	/* on a file, results written now survive a crash of this process */
	(void)queue_flush_results();
	queue_reclaim();
	if (queue_results_pending() && !main_results_timer.armed) {
		arm_results_timer();
	}
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

/* "127.0.0.1:25 (smtp), [::1]:587 (submission), /run/edgemta.sock" */
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

static int
run_daemon(struct conf *c, bool foreground)
{
	char host[CONF_STR_MAX], where[400];
	int r;

	if (!foreground) {
		daemonize();
	}
	plat_log_open(foreground, "edgemta");
	if (c->myhostname[0] != '\0') {
		snprintf(host, sizeof(host), "%s", c->myhostname);
	} else if (plat_hostname(host, sizeof(host)) != 0) {
		snprintf(host, sizeof(host), "localhost");
	}
	make_parent_dirs(c->queue_path);
	r = flash_file_open(&main_flash, c->queue_path, c->queue_size, false);
	if (r == EDGEMTA_E_LOCKED) {
		fail(EX_TEMPFAIL, "%s: queue_path is in use by another edgemta "
		    "process", c->queue_path);
	} else if (r != 0) {
		fail(EX_IOERR, "%s: cannot open the queue: %s", c->queue_path,
		    edgemta_strerror(r));
	}
	r = queue_open(&main_flash, 0);
	if (r != 0) {
		fail(r == EDGEMTA_E_IO ? EX_IOERR : EX_CONFIG, "%s: %s",
		    c->queue_path, admin_queue_strerror(r));
	}
	if (ev_init() != 0) {
		fail(EX_OSERR, "cannot set up the event loop");
	}
	if (ev_add_before_sleep(commit_hook, NULL) != 0) {
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
	describe_listeners(c, where, sizeof(where));
	log_info("edgemta %s started: %lu messages in queue, listening on %s",
	    EDGEMTA_VERSION, (unsigned long)queue_count(), where);
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
	/* every sealed message gets its 250 before the sessions end */
	queue_commit();
	smtp_in_stop();
	sched_stop();
	queue_commit();
	queue_close();
	flash_file_close(&main_flash);
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
	char err[CONF_ERR_MAX];
	int opt;

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
	while ((opt = getopt(argc, argv, "+c:fvdh")) != -1) {
		switch (opt) {
		case 'c':
			cfile = optarg;
			break;
		case 'f':
			foreground = true;
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
			usage(stderr);
			return EX_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind] : NULL;
	path = cfile ? cfile : conf_default_path();
	missing_ok = cfile == NULL &&
	    strcmp(path, CONFIG_DEFAULT_CONFIG_FILE) == 0;
	log_set_level(verbose ? LOG_LVL_DEBUG : cmd ? LOG_LVL_WARN :
	    LOG_LVL_INFO);
	if (cmd != NULL) {
		plat_log_open(true, "edgemta");
	}
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
		if (cmd == NULL) {
			return run_daemon(&main_conf, foreground);
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
		return passwd_main(&main_conf, argc - optind - 1,
		    argv + optind + 1);
	}
	if (strcmp(cmd, "queue") == 0) {
		return admin_queue_main(&main_conf, argc - optind - 1,
		    argv + optind + 1);
	}
	fprintf(stderr, "edgemta: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
