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
# firmware image (platform/lwip/boards/mps2-an386/firmware.c) takes mail
# over its LAN9118 and relays it (test/lwip/qemu_fw_test.py).
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
make -j2 --no-print-directory "${args[@]}" all unit || exit 1

# The relay itself on lwIP (test/lwip/lwip_relay_test.c, over lwIP's
# loopback): lwIP built for the board, the platform objects, the test.
flags=(-mcpu=cortex-m4 -mthumb)
bash scripts/lwip.sh "$dir" arm-none-eabi-gcc "${flags[@]}" &&
make -j2 --no-print-directory "${args[@]}" LWIP_DIR="$dir/lwip-src" all &&
arm-none-eabi-gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    "${flags[@]}" -ffunction-sections -fdata-sections \
    -I"$dir/include" -Icore -Iplatform -Iplatform/sim -Iplatform/lwip \
    -Iplatform/lwip/include -I"$dir/lwip-src/src/include" -Itest/unit \
    -I$board -Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
    -nostartfiles -T $board/mps2-an386.ld -o "$dir/lwip_relay_test" \
    test/lwip/lwip_relay_test.c "$dir/$board/startup.o" \
    "$dir"/platform/lwip/*.o "$dir/platform/sim/flash_sim.o" \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" &&
arm-none-eabi-size "$dir/lwip_relay_test" &&
scripts/qemu-run.sh "$dir/lwip_relay_test" 300 || exit 1

# The firmware (the worked example): LAN9118 driver, NOR queue, UART log,
# under qemu with its user-mode network forwarded on 127.0.0.1 only.
arm-none-eabi-gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    "${flags[@]}" -ffunction-sections -fdata-sections \
    -I"$dir/include" -Icore -Iplatform -Iplatform/lwip \
    -Iplatform/lwip/include -I"$dir/lwip-src/src/include" -I$board \
    -Wl,--gc-sections --specs=nano.specs --specs=rdimon.specs \
    -nostartfiles -T $board/mps2-an386.ld -o "$dir/edgemta-m4.elf" \
    $board/firmware.c $board/lan9118.c "$dir/$board/startup.o" \
    "$dir"/platform/lwip/*.o "$dir"/platform/nor/*.o \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" &&
echo "== firmware image (flash: text + data; RAM: data + bss + heap + stack)" &&
arm-none-eabi-size "$dir/edgemta-m4.elf" &&
timeout 300 /usr/bin/python3 test/lwip/qemu_fw_test.py "$dir/edgemta-m4.elf"
