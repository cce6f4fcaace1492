#!/bin/bash
# test-lwip.sh [BUILD_DIR] - the lwIP platform (platform/lwip) on the host:
# lwIP 2.1 from Debian's source package (`apt-get source lwip`, kept in
# BUILD_DIR/lwip-src; needs a deb-src line, added here in deb822 form
# when apt has none), the core built for the lwIP target
# (cortex-m4_defconfig, host compiler), and test/lwip/lwip_relay_test.c:
# SMTP intake, the in-process submit API and delivery to a relayhost, all
# over lwIP's loopback interface in one process (no host network).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-lwip-host}
lwip=$dir/lwip-src
mkdir -p "$dir"
if [ ! -f "$lwip/src/core/tcp.c" ]; then
	if ! apt-cache showsrc lwip >/dev/null 2>&1 ||
	    [ -z "$(apt-cache showsrc lwip 2>/dev/null)" ]; then
		src=/etc/apt/sources.list.d/edgemta-deb-src.sources
		sudo_=()
		[ "$(id -u)" = 0 ] || sudo_=(sudo)
		sed 's/^Types: deb$/Types: deb-src/' \
		    /etc/apt/sources.list.d/debian.sources |
		    "${sudo_[@]}" tee "$src" >/dev/null
		"${sudo_[@]}" apt-get update -qq
	fi
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get source -qq lwip >/dev/null 2>&1)
	rm -rf "$lwip"
	mv "$tmp"/lwip-*/ "$lwip"
	rm -rf "$tmp"
fi
args=(BUILD="$dir" KCONFIG_CONFIG="$dir/.config" LWIP_DIR="$lwip")
make --no-print-directory "${args[@]}" cortex-m4_defconfig
make -j2 --no-print-directory "${args[@]}" all \
    "$dir/platform/sim/flash_sim.o"
# lwIP itself: its own code, its own warnings
inc=(-Iplatform/lwip/include -I"$lwip/src/include")
mkdir -p "$dir/lwip"
objs=()
for f in "$lwip"/src/core/*.c "$lwip"/src/core/ipv4/*.c \
    "$lwip"/src/netif/ethernet.c; do
	o=$dir/lwip/$(basename "$f" .c).o
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ] ||
	    [ platform/lwip/include/lwipopts.h -nt "$o" ]; then
		gcc -Os -g -w "${inc[@]}" -c "$f" -o "$o"
	fi
	objs+=("$o")
done
rm -f "$dir/liblwip.a"
ar rcs "$dir/liblwip.a" "${objs[@]}"
gcc -Os -g -std=c11 -Wall -Wextra -Wundef -Wshadow -Werror \
    -I"$dir/include" -Icore -Iplatform -Iplatform/sim -Iplatform/lwip \
    -Itest/unit "${inc[@]}" -o "$dir/lwip_relay_test" \
    test/lwip/lwip_relay_test.c $(ls "$dir"/platform/lwip/*.o) \
    "$dir/platform/sim/flash_sim.o" "$dir/libedgemta-core.a" "$dir/liblwip.a"
timeout 120 "$dir/lwip_relay_test"
