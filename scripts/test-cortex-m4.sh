#!/bin/bash
# test-cortex-m4.sh [BUILD_DIR] - the portable core on a Cortex-M4: builds
# config/cortex-m4_defconfig with arm-none-eabi-gcc, newlib-nano and
# semihosting for the mps2-an386 board (its linker script and startup are
# in platform/lwip/boards/mps2-an386/), links the unit tests that need no
# operating system, and runs each under qemu-system-arm (scripts/qemu-run.sh).
# Catches what only a microcontroller's libc shows: printf formats that
# newlib-nano lacks, 32-bit long, alignment faults, a small heap. Then the
# relay on lwIP (lwIP from scripts/lwip.sh) runs there too:
# test/lwip/lwip_relay_test.c, SMTP in, the submit API and delivery over
# lwIP's loopback, with the stack's high-water mark printed; and the
# firmware image (platform/lwip/boards/mps2-an386/firmware.c, with
# BearSSL cross-built by scripts/cross.sh) takes mail over its LAN9118
# with STARTTLS and relays it over verified STARTTLS
# (test/lwip/qemu_fw_test.py); `make size IMAGE=...` checks its flash and
# RAM against the budgets first (over budget fails the step).
set -u
cd "$(dirname "$0")/.."
dir=${1:-build-cortex-m4}
board=platform/lwip/boards/mps2-an386
tests="addr_test auth_test conf_test flash_nor_test fmt_test inject_test
    queue_test queue_powercut_test sched_test smtp_cmd_test smtp_data_test
    submit_test"
flags=(-mcpu=cortex-m4 -mthumb)
# BearSSL from Debian's source, cross-built once (scripts/cross.sh caches it)
ssl=$dir/bearssl
bash scripts/cross.sh bearssl "$ssl" arm-none-eabi- "${flags[@]}" || exit 1
args=(BUILD="$dir" KCONFIG_CONFIG="$dir/.config"
    CROSS_COMPILE=arm-none-eabi-
    EXTRA_CFLAGS="${flags[*]}" CPPFLAGS="-isystem $ssl/include"
    LDFLAGS="-Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
-nostartfiles -T $board/mps2-an386.ld -L$ssl/lib"
    UNIT_OBJ="$dir/$board/startup.o"
    UNIT_RUN=scripts/qemu-run.sh
    UNIT_TESTS="$(echo $tests)")
mkdir -p "$dir" &&
make --no-print-directory "${args[@]}" cortex-m4_defconfig &&
make -j2 --no-print-directory "${args[@]}" all unit || exit 1

# The relay itself on lwIP (test/lwip/lwip_relay_test.c, over lwIP's
# loopback): lwIP built for the board, the platform objects, the test.
bash scripts/lwip.sh "$dir" arm-none-eabi-gcc "${flags[@]}" &&
make -j2 --no-print-directory "${args[@]}" LWIP_DIR="$dir/lwip-src" all &&
arm-none-eabi-gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    "${flags[@]}" -ffunction-sections -fdata-sections \
    -I"$dir/include" -isystem "$ssl/include" -Icore -Iplatform \
    -Iplatform/sim -Iplatform/lwip \
    -Iplatform/lwip/include -I"$dir/lwip-src/src/include" -Itest/unit \
    -I$board -Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
    -nostartfiles -T $board/mps2-an386.ld -o "$dir/lwip_relay_test" \
    test/lwip/lwip_relay_test.c "$dir/$board/startup.o" \
    "$dir"/platform/lwip/*.o "$dir/platform/sim/flash_sim.o" \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" -L"$ssl/lib" -lbearssl &&
arm-none-eabi-size "$dir/lwip_relay_test" &&
scripts/qemu-run.sh "$dir/lwip_relay_test" 300 || exit 1

# The firmware (the worked example): LAN9118 driver, NOR queue, UART log,
# TLS both ways, under qemu with its user-mode network forwarded on
# 127.0.0.1 only. Its credentials come from a throwaway test PKI
# (test/integration/tlspki.py, made once): its own certificate ("good",
# 127.0.0.1) and key and the CA it trusts, compiled in as the C that
# BearSSL's brssl tool prints (brssl built for the host, once, from the
# same source); the smarthost's certificate names its address 10.0.2.100.
pki=$dir/pki
if [ ! -x "$dir/brssl" ]; then
	src=$(bash scripts/cross.sh fetch bearssl) &&
	gcc -Os -w -I"$src/inc" -o "$dir/brssl" "$src"/tools/*.c -lbearssl ||
	    exit 1
fi
/usr/bin/python3 -c 'import sys; sys.path.insert(0, "test/integration")
from tlspki import Pki
Pki(sys.argv[1]).leaf("gateway", "10.0.2.100", "subjectAltName=IP:10.0.2.100")
' "$pki" || exit 1
if [ ! -f "$pki/fw_creds.h" ]; then
	{ "$dir/brssl" ta -q "$pki/ca.crt" &&
	  "$dir/brssl" chain -q "$pki/good.crt" &&
	  "$dir/brssl" skey -q -C "$pki/good.key" | grep -v '^EC key'
	} >"$pki/fw_creds.h.tmp" && mv "$pki/fw_creds.h.tmp" "$pki/fw_creds.h" ||
	    exit 1
fi
arm-none-eabi-gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    "${flags[@]}" -ffunction-sections -fdata-sections \
    -I"$dir/include" -isystem "$ssl/include" -Icore -Iplatform \
    -Iplatform/lwip -Iplatform/lwip/include -I"$dir/lwip-src/src/include" \
    -I$board -I"$pki" \
    -Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
    -nostartfiles -T $board/mps2-an386.ld -o "$dir/edgemta-m4.elf" \
    -Wl,-Map="$dir/edgemta-m4.elf.map" \
    $board/firmware.c $board/lan9118.c "$dir/$board/startup.o" \
    "$dir"/platform/lwip/*.o "$dir"/platform/nor/*.o \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" -L"$ssl/lib" -lbearssl &&
make --no-print-directory "${args[@]}" size IMAGE="$dir/edgemta-m4.elf" &&
timeout 300 /usr/bin/python3 test/lwip/qemu_fw_test.py "$dir/edgemta-m4.elf" "$pki"
