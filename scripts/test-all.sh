#!/bin/bash
# test-all.sh - the whole test suite (what `make test` runs after
# installing its prerequisites with scripts/deps.sh test).
#
#   1. default build (build/, config/defconfig, epoll) + all unit tests
#   2. poll build (build-poll/, config/linux-poll_defconfig)
#   3. ASan+UBSan build (build-asan/) + all unit tests under it
#   4. every config/*_defconfig builds in build-<name>/ and passes the unit
#      tests (cortex-m4: arm-none-eabi-gcc and newlib-nano, the portable
#      core and the unit tests that need no OS, then the relay on lwIP and
#      the firmware image, run on qemu-system-arm's mps2-an386 board:
#      scripts/test-cortex-m4.sh)
#   4b. the lwIP platform on the host, over lwIP's loopback and over a TAP
#      device in a network namespace (scripts/test-lwip.sh)
#   5. libFuzzer harnesses of test/fuzz/ for 10 s each (scripts/fuzz.sh)
#   6. integration suite against build/ (with the slow tests), and quick
#      against build-poll/ and build-asan/
#   7. cross builds for mips-musl and mipsel-musl (static, musl) with their
#      unit tests and an integration subset under qemu-user (cross.sh)
#
# Each step counts as one pass or fail, plus the per-test counts printed by
# the unit binaries and the integration runner ("name: N passed, N failed").
# A failing step does not stop the others. Last line: "TOTAL: N passed,
# N failed"; the exit status is non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."

export EDGEMTA_POSTFIX_TOOLS=$PWD/build/postfix-tools
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
PY=/usr/bin/python3
MAKE_J=(make -j2 --no-print-directory)
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

total_pass=0
total_fail=0
summary=()
logdir=$(mktemp -d /tmp/edgemta-test.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

# step NAME CMD... : run CMD, count it and the per-test lines it prints.
step() {
	local name=$1 log rc p f t0=$SECONDS
	shift
	log="$logdir/step.log"
	echo
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	while read -r p f; do
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
	done < <(sed -n -E 's/^[A-Za-z0-9_.-]+: ([0-9]+) passed, ([0-9]+) failed.*$/\1 \2/p' "$log")
	if [ "$rc" -eq 0 ]; then
		total_pass=$((total_pass + 1))
		summary+=("ok    $name ($((SECONDS - t0))s)")
	else
		total_fail=$((total_fail + 1))
		summary+=("FAIL  $name (exit $rc, $((SECONDS - t0))s)")
	fi
}

# build DIR DEFCONFIG [make args...] : configure and build into DIR.
build() {
	local dir=$1 def=$2
	shift 2
	mkdir -p "$dir" &&
	make --no-print-directory BUILD="$dir" KCONFIG_CONFIG="$dir/.config" \
	    "$def" "$@" &&
	"${MAKE_J[@]}" BUILD="$dir" KCONFIG_CONFIG="$dir/.config" "$@" all
}

# unit DIR [make args...] : build and run every unit test of DIR.
unit() {
	local dir=$1
	shift
	"${MAKE_J[@]}" BUILD="$dir" KCONFIG_CONFIG="$dir/.config" "$@" unit
}

build_and_unit() {
	build "$1" "$2" && unit "$1"
}

default_and_unit() {
	build build defconfig && unit build
}

asan_and_unit() {
	build build-asan defconfig EXTRA_CFLAGS="$SAN" LDFLAGS="$SAN" &&
	unit build-asan EXTRA_CFLAGS="$SAN" LDFLAGS="$SAN"
}

# newlib-nano (Cortex-M firmware) prints no 64-bit formats
step "printf formats for newlib-nano (scripts/check-formats.sh)" \
    bash scripts/check-formats.sh
step "default build (build/, epoll) and unit tests" default_and_unit
step "poll build (build-poll/)" build build-poll linux-poll_defconfig
step "ASan+UBSan build (build-asan/) and unit tests" asan_and_unit

for f in config/*_defconfig; do
	name=$(basename "$f" _defconfig)
	if [ "$name" = cortex-m4 ]; then
		# newlib-nano; unit tests, the relay and the firmware run on
		# qemu-system-arm's mps2-an386
		step "defconfig $name (newlib-nano, on qemu mps2-an386)" \
		    bash scripts/test-cortex-m4.sh "build-$name"
	else
		step "defconfig $name and unit tests" \
		    build_and_unit "build-$name" "${name}_defconfig"
	fi
done

# the lwIP platform on the host: lwIP from `apt-get source lwip`; SMTP in,
# the submit API and delivery over lwIP's loopback and over TAP with TLS,
# power cuts and a full queue (scripts/test-lwip.sh)
step "lwIP platform on the host (build-lwip-host/)" \
    bash scripts/test-lwip.sh build-lwip-host

# libFuzzer harnesses, briefly, from their checked-in seed corpora
step "fuzz (10 s per harness)" bash scripts/fuzz.sh 10

# SKIP_INTEGRATION=1 (by hand only): builds and unit tests alone.
if [ "${SKIP_INTEGRATION:-0}" != 1 ]; then
	step "integration (build/edgemta)" \
	    $PY test/integration/run.py --bin build/edgemta
	# the slow tests (testssl, 10,000 messages) once, on the epoll build
	step "integration quick (build-poll/edgemta)" \
	    $PY test/integration/run.py --bin build-poll/edgemta --quick
	# LeakSanitizer cannot run under ptrace (the crash tests use strace)
	step "integration quick (build-asan/edgemta)" \
	    env ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
	    $PY test/integration/run.py --bin build-asan/edgemta --quick
	# router builds (scripts/cross.sh): musl, BearSSL and udns built from
	# Debian's sources once (cached in build-TARGET/), then the unit tests
	# and an integration subset under qemu-user; big- and little-endian
	step "cross-test mips-musl (big-endian, qemu-mips)" \
	    make --no-print-directory cross-test TARGET=mips-musl
	step "cross-test mipsel-musl (little-endian, qemu-mipsel)" \
	    make --no-print-directory cross-test TARGET=mipsel-musl
fi

echo
echo "=== summary"
for s in "${summary[@]}"; do
	echo "$s"
done
echo "TOTAL: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
