#!/bin/bash
# lwip.sh BUILD_DIR CC [CFLAGS...] - lwIP 2.1 for the lwIP target: Debian's
# source package (`apt-get source lwip`) unpacked once into
# BUILD_DIR/lwip-src (a deb-src entry is added in deb822 form when apt has
# none), and its core, IPv4 and Ethernet code built with CC and our
# platform/lwip/include/lwipopts.h into BUILD_DIR/liblwip.a.
set -eu
cd "$(dirname "$0")/.."
dir=$1
cc=$2
shift 2
lwip=$dir/lwip-src
mkdir -p "$dir/lwip"
if [ ! -f "$lwip/src/core/tcp.c" ]; then
	if [ -z "$(apt-cache showsrc lwip 2>/dev/null)" ]; then
		sudo_=()
		[ "$(id -u)" = 0 ] || sudo_=(sudo)
		sed 's/^Types: deb$/Types: deb-src/' \
		    /etc/apt/sources.list.d/debian.sources |
		    "${sudo_[@]}" tee \
		    /etc/apt/sources.list.d/edgemta-deb-src.sources >/dev/null
		"${sudo_[@]}" apt-get update -qq
	fi
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get source -qq lwip >/dev/null 2>&1)
	rm -rf "$lwip"
	mv "$tmp"/lwip-*/ "$lwip"
	rm -rf "$tmp"
fi
# lwIP's own code: its own warnings
objs=()
for f in "$lwip"/src/core/*.c "$lwip"/src/core/ipv4/*.c \
    "$lwip"/src/netif/ethernet.c; do
	o=$dir/lwip/$(basename "$f" .c).o
	if [ ! -f "$o" ] || [ "$f" -nt "$o" ] ||
	    [ platform/lwip/include/lwipopts.h -nt "$o" ]; then
		"$cc" -Os -g -w "$@" -Iplatform/lwip/include \
		    -I"$lwip/src/include" -c "$f" -o "$o"
	fi
	objs+=("$o")
done
rm -f "$dir/liblwip.a"
"${cc%gcc}ar" rcs "$dir/liblwip.a" "${objs[@]}"
