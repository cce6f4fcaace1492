#!/bin/bash
# Benchmark edgemta against Postfix on this machine: `make bench` runs
# `bash bench/run.sh`. Needs root (apt-get, loop mounts). Never part of
# `make test`. See bench/README.md for the environment variables.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench: run as root (installs packages, mounts a loop ext4)" >&2
	exit 1
fi

# Debian packages: postfix (the peer, smtp-source, smtp-sink), strace.
need=""
for c in strace:strace smtp-source:postfix smtp-sink:postfix \
	postfix:postfix mkfs.ext4:e2fsprogs losetup:mount ss:iproute2 \
	valgrind:valgrind callgrind_annotate:valgrind; do
	command -v "${c%%:*}" >/dev/null 2>&1 || need="$need ${c#*:}"
done
if [ -n "$need" ]; then
	echo "bench: installing$need"
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null
fi

# The system-wide Postfix instance must not run or listen on 25.
stop_system_postfix() {
	if postfix status >/dev/null 2>&1; then
		echo "bench: stopping the system-wide postfix instance"
		postfix stop >/dev/null 2>&1 || true
	fi
}
stop_system_postfix
trap stop_system_postfix EXIT

# edgemta: our own builds, from config/defconfig, plus one with room for
# 1,000 sessions (a config fragment). BENCH_EDGEMTA=path skips building.
export BENCH_BUILD=${BENCH_BUILD:-build/bench}
B=$BENCH_BUILD
if [ -z "${BENCH_EDGEMTA:-}" ]; then
	export BENCH_EDGEMTA="$PWD/$B/edgemta"
	export BENCH_EDGEMTA_1K="$PWD/$B-1k/edgemta"
	mkdir -p "$B" "$B-1k"
	if make -s BUILD="$B" KCONFIG_CONFIG="$B/.config" defconfig &&
		make -s -j2 BUILD="$B" KCONFIG_CONFIG="$B/.config"; then
		{ cat config/defconfig
		  echo "CONFIG_MAX_SESSIONS=1024"
		  echo "CONFIG_MAX_SESSIONS_PER_CLIENT=32"; } >"$B-1k/defconfig"
		KCONFIG_CONFIG="$B-1k/.config" /usr/bin/python3 \
			scripts/kconfig.py defconfig "$B-1k/defconfig"
		make -s -j2 BUILD="$B-1k" KCONFIG_CONFIG="$B-1k/.config" ||
			echo "bench: the 1k-session build failed" >&2
	else
		echo "bench: edgemta does not build: Postfix figures only" >&2
		rm -f "$BENCH_EDGEMTA"
	fi
fi

# spawnlat: runs the sendmail calls of scenario 2 from C, not Python.
export BENCH_SPAWNLAT="$PWD/$B/spawnlat"
mkdir -p "$B"
cc -O2 -std=c11 -Wall -Wextra -o "$BENCH_SPAWNLAT" bench/spawnlat.c ||
	echo "bench: bench/spawnlat.c does not build" >&2

# probe: the physical-limit acceptor of the throughput scenario.
export BENCH_PROBE="$PWD/$B/probe"
cc -O2 -std=c11 -Wall -Wextra -o "$BENCH_PROBE" bench/probe.c ||
	echo "bench: bench/probe.c does not build" >&2

/usr/bin/python3 bench/bench.py
