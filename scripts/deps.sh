#!/bin/bash
# deps.sh run|test - install what `make run` / `make test` need, and only
# what is missing (a re-run with everything present does nothing).
#   run:  compiler and make, python3-kconfiglib, swaks
#   test: the above plus test peers, sanitizers, cross compilers (the
#         router targets test-all.sh runs under qemu-user), and
#         Postfix's smtp-sink/smtp-source extracted (not installed) into
#         build/postfix-tools/.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case $mode in
run|test) ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

pkgs=(build-essential make gcc python3-kconfiglib swaks libbearssl-dev libudns-dev)
if [ "$mode" = test ]; then
	pkgs+=(dnsmasq-base python3-dnslib python3-aiosmtpd curl s-nail faketime strace clang valgrind
		cppcheck gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
		iproute2 dpkg-dev
		openssl testssl.sh libfaketime
		git git-email libmailtools-perl
		mandoc systemd busybox
		qemu-user dpkg-dev file gcc-mips-linux-gnu gcc-mipsel-linux-gnu)
	# clang's sanitizer runtime lives in its own package on Debian 12.
	if command -v clang >/dev/null 2>&1; then
		v=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
		[ -n "$v" ] && pkgs+=("libclang-rt-$v-dev")
	else
		pkgs+=(libclang-rt-14-dev)
	fi
fi

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done

sudo_=()
[ "$(id -u)" = 0 ] || sudo_=(sudo)

apt_updated=0
apt_update() {
	if [ $apt_updated = 0 ]; then
		"${sudo_[@]}" apt-get update -qq
		apt_updated=1
	fi
}

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Install from the current lists when they work, else update once.
	if ! "${sudo_[@]}" apt-get install -y -qq --no-install-recommends \
	    "${missing[@]}" >/dev/null 2>&1; then
		"${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=1
		"${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi
fi

if [ "$mode" = test ]; then
	dir=build/postfix-tools
	if [ ! -x "$dir/usr/sbin/smtp-sink" ] ||
	    [ ! -x "$dir/usr/sbin/smtp-source" ]; then
		echo "deps.sh: extracting Postfix's test tools into $dir"
		mkdir -p "$dir"
		tmp=$(mktemp -d)
		trap 'rm -rf "$tmp"' EXIT
		if ! (cd "$tmp" && apt-get download postfix >/dev/null 2>&1); then
			apt_update
			(cd "$tmp" && apt-get download postfix >/dev/null)
		fi
		dpkg-deb -x "$tmp"/postfix_*.deb "$dir"
	fi
fi
exit 0
