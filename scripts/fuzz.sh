#!/bin/bash
# fuzz.sh [SECONDS [NAME...]] - build the libFuzzer harnesses of test/fuzz/
# with clang (ASan + UBSan) in build-fuzz/ and run each (or the NAMEs
# given, e.g. conf inject) for SECONDS (default 10) from a copy of its
# checked-in seed corpus test/fuzz/corpus/NAME/. `make test` runs 10 s
# each; `make fuzz` runs them for minutes (FUZZ_SECONDS, default 300).
# Exit non-zero on a crash; the input is kept as build-fuzz/fuzz/NAME-*.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
dir=build-fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
mk=(make --no-print-directory -j2 BUILD=$dir KCONFIG_CONFIG=$dir/.config
	CC=clang EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $san -O1")
mkdir -p $dir/fuzz
make --no-print-directory BUILD=$dir KCONFIG_CONFIG=$dir/.config defconfig
"${mk[@]}" $dir/libedgemta-core.a $dir/platform/sim/flash_sim.o \
	$dir/test/fake/fake_plat.o $dir/test/fake/fake_poll.o \
	$dir/test/fake/fake_dnsq.o
libs=
if grep -q '^#define CONFIG_TLS 1' $dir/include/*.h 2>/dev/null; then
	libs=-lbearssl	# the SMTP client pulls in tls.c
fi
fail=0 pass=0
for src in test/fuzz/*_fuzz.c; do
	name=$(basename "$src" _fuzz.c)
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
		continue
	fi
	bin=$dir/fuzz/$name
	if ! clang -std=c11 -g -O1 -fsanitize=fuzzer $san -I$dir/include \
	    -Icore -Iplatform -Iplatform/sim -Itest/fake "$src" \
	    $dir/platform/sim/flash_sim.o $dir/test/fake/fake_plat.o \
	    $dir/test/fake/fake_poll.o $dir/test/fake/fake_dnsq.o \
	    $dir/libedgemta-core.a $libs -o "$bin"; then
		echo "fuzz: $name does not build"
		fail=$((fail + 1))
		continue
	fi
	corpus=$dir/fuzz/corpus-$name
	rm -rf "$corpus" && mkdir -p "$corpus"
	if [ -d "test/fuzz/corpus/$name" ]; then
		cp test/fuzz/corpus/"$name"/* "$corpus"/
	fi
	echo "fuzz: $name for ${secs}s"
	if "$bin" -max_total_time="$secs" -seed=1 -print_final_stats=0 \
	    -artifact_prefix=$dir/fuzz/$name- "$corpus" \
	    > $dir/fuzz/$name.log 2>&1; then
		pass=$((pass + 1))
	else
		tail -40 $dir/fuzz/$name.log
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
