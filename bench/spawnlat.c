/*
 * spawnlat.c - the latency of running a command, without the harness's
 * own cost: runs argv N times one after the other, each with stdin
 * opened from a file and stdout on /dev/null, via posix_spawn (vfork +
 * exec in glibc) and waitpid, and prints one line per call:
 *
 *   <wall time in ns, CLOCK_MONOTONIC, spawn to reaped> <exit status>
 *
 * The exit status is the code, or 128 + signal. Stops after 5 failed
 * calls. The children's stderr is spawnlat's.
 *
 * usage: spawnlat N INPUT-FILE COMMAND [ARG...]
 * Exit: 0 if every call exited 0, 1 if some failed, 2 on a usage or
 * spawn error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define MAX_FAILS 5

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	long long t0, t1;
	long i, n;
	int st, code, fails = 0;
	pid_t pid;

	if (argc < 4 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: spawnlat N INPUT-FILE COMMAND "
		    "[ARG...]\n");
		return 2;
	}
	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 0, argv[2], O_RDONLY,
	    0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
	    0) != 0) {
		fprintf(stderr, "spawnlat: out of memory\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < n && fails < MAX_FAILS; i++) {
		t0 = now_ns();
		if (posix_spawn(&pid, argv[3], &fa, NULL, argv + 3,
		    environ) != 0) {
			perror("spawnlat: posix_spawn");
			return 2;
		}
		while (waitpid(pid, &st, 0) < 0) {
			if (errno != EINTR) {
				perror("spawnlat: waitpid");
				return 2;
			}
		}
		t1 = now_ns();
		code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (code != 0) {
			fails++;
		}
		printf("%lld %d\n", t1 - t0, code);
	}
	return fails == 0 ? 0 : 1;
}
