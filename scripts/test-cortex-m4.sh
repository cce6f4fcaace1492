#!/bin/bash
# test-cortex-m4.sh [BUILD_DIR] - the portable core on a Cortex-M4: builds
# config/cortex-m4_defconfig with arm-none-eabi-gcc, newlib-nano and
# semihosting for the mps2-an386 board (its linker script and startup are
# in platform/lwip/boards/mps2-an386/), links the unit tests that need no
# operating system, and runs each under qemu-system-arm (scripts/qemu-run.sh).
# Catches what only a microcontroller's libc shows: printf formats that
# newlib-nano lacks, 32-bit long, alignment faults, a small heap.
set -u
cd "$(dirname "$0")/.."
dir=${1:-build-cortex-m4}
board=platform/lwip/boards/mps2-an386
tests="addr_test auth_test conf_test flash_nor_test fmt_test inject_test
    queue_test queue_powercut_test sched_test smtp_cmd_test smtp_data_test
    submit_test"
args=(BUILD="$dir" KCONFIG_CONFIG="$dir/.config"
    CROSS_COMPILE=arm-none-eabi-
    EXTRA_CFLAGS="-mcpu=cortex-m4 -mthumb"
    LDFLAGS="-Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
-nostartfiles -T $board/mps2-an386.ld"
    UNIT_OBJ="$dir/$board/startup.o"
    UNIT_RUN=scripts/qemu-run.sh
    UNIT_TESTS="$(echo $tests)")
mkdir -p "$dir" &&
make --no-print-directory "${args[@]}" cortex-m4_defconfig &&
make -j2 --no-print-directory "${args[@]}" all unit
