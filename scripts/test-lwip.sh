#!/bin/bash
# test-lwip.sh [BUILD_DIR] - the lwIP platform (platform/lwip) on the host:
# lwIP 2.1 from Debian's source package (scripts/lwip.sh), the core built
# for the lwIP target (cortex-m4_defconfig, host compiler), and
# test/lwip/lwip_relay_test.c: SMTP intake, the in-process submit API and
# delivery to a relayhost, all over lwIP's loopback interface in one
# process (no host network). scripts/test-cortex-m4.sh runs the same test
# on the emulated Cortex-M4.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-lwip-host}
bash scripts/lwip.sh "$dir" gcc
args=(BUILD="$dir" KCONFIG_CONFIG="$dir/.config" LWIP_DIR="$dir/lwip-src")
# the Cortex-M4 configuration, with TLS and AUTH (BearSSL is at hand here)
{ cat config/cortex-m4_defconfig; echo CONFIG_TLS=y; echo CONFIG_AUTH=y; } \
    >"$dir/lwip-host_defconfig"
KCONFIG_CONFIG="$dir/.config" /usr/bin/python3 scripts/kconfig.py defconfig \
    "$dir/lwip-host_defconfig"
make -j2 --no-print-directory "${args[@]}" all \
    "$dir/platform/sim/flash_sim.o"
gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    -I"$dir/include" -Icore -Iplatform -Iplatform/sim -Iplatform/lwip \
    -Iplatform/lwip/include -I"$dir/lwip-src/src/include" -Itest/unit \
    -Iplatform/lwip/boards/mps2-an386 -o "$dir/lwip_relay_test" \
    test/lwip/lwip_relay_test.c test/lwip/board_host.c \
    "$dir"/platform/lwip/*.o "$dir/platform/sim/flash_sim.o" \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" -Wl,-Bstatic -lbearssl \
    -Wl,-Bdynamic
timeout 120 "$dir/lwip_relay_test"
# the same relay as a program on a TAP device, tested from the Linux side
# inside a network namespace of its own (test/lwip/tap_test.py); its
# certificates, keys and passwords come from files (platform/linux's
# tls_files.c) as on the host; a firmware would compile them in
gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    -I"$dir/include" -Icore -Iplatform -Iplatform/lwip -Iplatform/linux \
    -Iplatform/lwip/include -I"$dir/lwip-src/src/include" \
    -o "$dir/edgemta-lwip" test/lwip/lwip_tap.c platform/linux/tls_files.c \
    platform/linux/oauth2_files.c \
    "$dir"/platform/lwip/*.o "$dir"/platform/nor/*.o \
    "$dir/libedgemta-core.a" "$dir/liblwip.a" -Wl,-Bstatic -lbearssl \
    -Wl,-Bdynamic
# root: a plain new network namespace; else one in a user namespace
ns=(unshare -n)
[ "$(id -u)" = 0 ] || ns=(unshare -rn)
timeout 300 "${ns[@]}" /usr/bin/python3 test/lwip/tap_test.py \
    "$dir/edgemta-lwip"
