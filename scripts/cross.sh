#!/bin/bash
# cross.sh - cross builds for routers and NAS boxes (what `make cross`,
# `make cross-test`, `make cross-size` and `make cross-deps` run).
#
#   scripts/cross.sh build TARGET    build-TARGET/edgemta (+ .stripped)
#   scripts/cross.sh test TARGET     unit + integration tests under qemu-user
#   scripts/cross.sh size TARGET     `make size` of the target build
#   scripts/cross.sh deps TARGET     the target's musl/BearSSL/udns only
#   scripts/cross.sh env TARGET      the make variables of the target
#   scripts/cross.sh list            the known targets
#   scripts/cross.sh bearssl DIR PREFIX CFLAGS...
#                                    BearSSL alone for a bare-metal
#                                    compiler (PREFIXgcc, e.g.
#                                    arm-none-eabi-): DIR/lib/libbearssl.a
#                                    and DIR/include (the Cortex-M4 image)
# CROSS_CFLAGS (environment) adds flags for BearSSL, udns and edgemta.
#
# Per target: a Debian cross compiler (gcc-*-linux-gnu, installed when
# missing), and built from Debian's source packages (`apt-get source`, a
# deb-src entry is added when there is none; no foreign dpkg architecture):
#   *-musl  musl (static libc, with its musl-gcc spec-file wrapper), then
#           BearSSL and udns against it: a fully static binary
#   *-gnu   BearSSL and udns against Debian's cross glibc (libc dynamic)
# Sources are unpacked once into build-cross/src/PKG-VERSION/ and each
# target's libraries into build-TARGET/sysroot/, rebuilt only when the
# source version (or this script's recipe version) changes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Bump when a recipe below changes: every target's sysroot is rebuilt.
RECIPE=2
SRC=$ROOT/build-cross/src
JOBS=${JOBS:-2}

# name: the target; triple: Debian's cross compiler; qemu: qemu-user's
# name for it; package: Debian's compiler package; CFLAGS: for everything
# built (libc too); APP: for BearSSL, udns and edgemta only. Measured (see
# README.md, "Cross builds"): on MIPS, non-PIC code (-mno-abicalls) is
# ~10% smaller and MIPS16 ~35% (musl's syscall asm cannot be MIPS16).
# name        triple               qemu     package                   CFLAGS         APP
TARGETS="
mipsel-musl   mipsel-linux-gnu     mipsel   gcc-mipsel-linux-gnu      -mno-abicalls  -mips16
mips-musl     mips-linux-gnu       mips     gcc-mips-linux-gnu        -mno-abicalls  -mips16
armhf-musl    arm-linux-gnueabihf  arm      gcc-arm-linux-gnueabihf   -mthumb        -
aarch64-musl  aarch64-linux-gnu    aarch64  gcc-aarch64-linux-gnu     -              -
x86_64-musl   x86_64-linux-gnu     -        gcc                       -              -
mipsel-gnu    mipsel-linux-gnu     mipsel   gcc-mipsel-linux-gnu      -              -
mips-gnu      mips-linux-gnu       mips     gcc-mips-linux-gnu        -              -
armhf-gnu     arm-linux-gnueabihf  arm      gcc-arm-linux-gnueabihf   -mthumb        -
aarch64-gnu   aarch64-linux-gnu    aarch64  gcc-aarch64-linux-gnu     -              -
"

die() {
	echo "cross.sh: $*" >&2
	exit 1
}

list() {
	echo "$TARGETS" | awk 'NF { print $1 }' | tr '\n' ' '
	echo
}

# target NAME: sets T_NAME T_TRIPLE T_QEMU T_PKG T_CFLAGS T_APP T_LIBC T_GCC
target() {
	local line
	line=$(echo "$TARGETS" | awk -v n="$1" '$1 == n')
	if [ -z "$1" ] || [ -z "$line" ]; then
		echo "cross.sh: unknown TARGET '${1:-}'; known targets: $(list)" >&2
		exit 2
	fi
	read -r T_NAME T_TRIPLE T_QEMU T_PKG T_CFLAGS T_APP <<<"$line"
	[ "$T_CFLAGS" = - ] && T_CFLAGS=
	[ "$T_APP" = - ] && T_APP=
	T_APP=${T_APP//,/ }
	# a packager's extra flags for the libraries and edgemta
	T_APP="$T_APP ${CROSS_CFLAGS:-}"
	[ "$T_QEMU" = - ] && T_QEMU=
	T_LIBC=${T_NAME##*-}
	# static musl binaries are not position-independent: no PIE code
	[ "$T_LIBC" = musl ] && T_CFLAGS="-fno-pie $T_CFLAGS"
	# the host's own compiler for the x86-64 targets, else the cross one
	if [ "$T_TRIPLE" = "$(gcc -dumpmachine)" ]; then
		T_GCC=gcc
	else
		T_GCC=$T_TRIPLE-gcc
	fi
	B=$ROOT/build-$T_NAME
	SYSROOT=$B/sysroot
}

sudo_() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	echo "cross.sh: installing Debian package(s) $*"
	if ! sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends "$@" >/dev/null; then
		sudo_ apt-get update -qq
		sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends "$@" >/dev/null
	fi
}

need_compiler() {
	if ! command -v "$T_GCC" >/dev/null 2>&1; then
		echo "cross.sh: $T_GCC not found: it is in Debian's package $T_PKG"
		apt_install "$T_PKG"
		command -v "$T_GCC" >/dev/null 2>&1 ||
		    die "$T_GCC still missing: apt-get install $T_PKG"
	fi
}

# A deb-src entry next to Debian's deb822 sources (bookworm) when there is
# none: `apt-get source` needs one. Left in place (harmless, and the next
# build needs it again); only source indexes are added, no architecture.
DEBSRC=/etc/apt/sources.list.d/edgemta-deb-src.sources
ensure_deb_src() {
	[ -n "$(srcver musl)" ] && return 0
	local f=/etc/apt/sources.list.d/debian.sources
	echo "cross.sh: adding a deb-src entry ($DEBSRC) for apt-get source"
	if [ -f "$f" ]; then
		# the same archives as the deb entries, as sources
		sed -e 's/^Types:.*/Types: deb-src/' "$f" | sudo_ tee "$DEBSRC" >/dev/null
	else
		local suite
		suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
		sudo_ tee "$DEBSRC" >/dev/null <<-EOF
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: $suite
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
	fi
	sudo_ apt-get update -qq
}

# srcver PKG: the Debian source version apt-get source would fetch
srcver() {
	apt-cache showsrc "$1" 2>/dev/null | awk '/^Version:/ { print $2 }' |
	    sort -V | tail -1 || true
}

# fetch PKG: unpacks the source once; prints its directory
fetch() {
	local pkg=$1 ver dir
	ver=$(srcver "$pkg")
	if [ -z "$ver" ]; then
		ensure_deb_src >&2
		ver=$(srcver "$pkg")
	fi
	[ -n "$ver" ] || die "no Debian source for $pkg"
	dir=$SRC/$pkg-$ver
	if [ ! -f "$dir/.unpacked" ]; then
		command -v dpkg-source >/dev/null || apt_install dpkg-dev >&2
		echo "cross.sh: apt-get source $pkg=$ver" >&2
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		(cd "$dir.tmp" && apt-get source -qq "$pkg=$ver" >/dev/null 2>&1 ||
		    { sudo_ apt-get update -qq &&
		      apt-get source -qq "$pkg=$ver" >/dev/null; }) >&2 ||
		    die "apt-get source $pkg=$ver failed"
		mv "$(find "$dir.tmp" -mindepth 1 -maxdepth 1 -type d | head -1)" "$dir"
		rm -rf "$dir.tmp"
		touch "$dir/.unpacked"
	fi
	echo "$dir"
}

# Flags for the libraries built here: small, and sections the final
# link's --gc-sections can drop.
libc_cflags() {
	echo "-Os -ffunction-sections -fdata-sections" \
	    "-fno-asynchronous-unwind-tables $T_CFLAGS"
}

lib_cflags() {
	echo "$(libc_cflags) $T_APP"
}

# stamp_ok NAME KEY: the library NAME was built with KEY (versions+flags)
stamp_ok() {
	[ -f "$SYSROOT/.stamp-$1" ] && [ "$(cat "$SYSROOT/.stamp-$1")" = "$2" ]
}

build_musl() {
	local src key
	src=$(fetch musl)
	key="$(basename "$src") r$RECIPE $(libc_cflags)"
	stamp_ok musl "$key" && return 0
	echo "cross.sh: building musl for $T_NAME ($(basename "$src"))"
	rm -rf "$SYSROOT" "$B/obj-musl"
	mkdir -p "$B/obj-musl" "$SYSROOT/lib" "$SYSROOT/bin"
	# Only what a static executable needs: libc.a and the non-PIC crt
	# (Scrt1/rcrt1, for PIE, cannot be built with -mno-abicalls).
	(cd "$B/obj-musl" &&
	    "$src/configure" --target="$T_TRIPLE" --prefix="$SYSROOT" \
	    --disable-shared --enable-wrapper=gcc CC="$T_GCC" \
	    CROSS_COMPILE="$T_PREFIX" CFLAGS="$(libc_cflags)" >configure.log &&
	    make -j"$JOBS" lib/libc.a lib/crt1.o lib/crti.o lib/crtn.o \
	    lib/musl-gcc.specs obj/musl-gcc >make.log 2>&1 &&
	    make install-headers >>make.log 2>&1 &&
	    cp lib/libc.a lib/crt1.o lib/crti.o lib/crtn.o "$SYSROOT/lib/" &&
	    cp obj/musl-gcc "$SYSROOT/bin/" &&
	    sed -e 's/Scrt1\.o/crt1.o/' -e 's/crtbeginS\.o/crtbegin.o/' \
	    -e 's/crtendS\.o/crtend.o/' lib/musl-gcc.specs \
	    >"$SYSROOT/lib/musl-gcc.specs") ||
	    die "musl build failed: see $B/obj-musl/*.log"
	rm -rf "$B/obj-musl"
	echo "$key" >"$SYSROOT/.stamp-musl"
}

build_bearssl() {
	local src key
	src=$(fetch bearssl)
	key="$(basename "$src") r$RECIPE $(lib_cflags) $LIBKEY"
	stamp_ok bearssl "$key" && return 0
	echo "cross.sh: building BearSSL for $T_NAME ($(basename "$src"))"
	rm -rf "$B/obj-bearssl"
	# BearSSL's own Makefile, its Unix profile with our compiler and flags
	make -C "$src" -j"$JOBS" CONF=Unix BUILD="$B/obj-bearssl" \
	    CC="$LIBCC" CFLAGS="-W -Wall $(lib_cflags)" AR="${T_PREFIX}ar" \
	    lib >"$B/bearssl.log" 2>&1 ||
	    die "BearSSL build failed: see $B/bearssl.log"
	mkdir -p "$SYSROOT/lib" "$SYSROOT/include"
	cp "$B/obj-bearssl/libbearssl.a" "$SYSROOT/lib/"
	cp "$src"/inc/*.h "$SYSROOT/include/"
	rm -rf "$B/obj-bearssl" "$B/bearssl.log"
	echo "$key" >"$SYSROOT/.stamp-bearssl"
}

# udns: its configure runs test programs (no good for a cross build), so
# its library sources are compiled here with what configure would find on
# Linux (any libc here has getopt, inet_pton/ntop, IPv6 and poll).
build_udns() {
	local src key f objs=()
	src=$(fetch udns)
	key="$(basename "$src") r$RECIPE $(lib_cflags) $LIBKEY"
	stamp_ok udns "$key" && return 0
	echo "cross.sh: building udns for $T_NAME ($(basename "$src"))"
	rm -rf "$B/obj-udns"
	mkdir -p "$B/obj-udns" "$SYSROOT/lib" "$SYSROOT/include"
	for f in $(sed -n '/^SRCS/,/^$/p' "$src/Makefile.in" |
	    grep -o 'udns_[a-zA-Z_]*\.c'); do
		$LIBCC $(lib_cflags) -Wno-cpp -DHAVE_GETOPT -DHAVE_INET_PTON_NTOP \
		    -DHAVE_IPv6 -DHAVE_POLL -c "$src/$f" \
		    -o "$B/obj-udns/${f%.c}.o" || die "udns: $f failed"
		objs+=("$B/obj-udns/${f%.c}.o")
	done
	rm -f "$SYSROOT/lib/libudns.a"
	"${T_PREFIX}ar" rcs "$SYSROOT/lib/libudns.a" "${objs[@]}"
	cp "$src/udns.h" "$SYSROOT/include/"
	rm -rf "$B/obj-udns"
	echo "$key" >"$SYSROOT/.stamp-udns"
}

# setup: compiler present, target libraries built; sets MAKEVARS, the
# variables `make` gets for this target (as a packager would pass them).
setup() {
	local inc
	need_compiler
	T_PREFIX=
	[ "$T_GCC" = gcc ] || T_PREFIX=$T_TRIPLE-
	mkdir -p "$B"
	if [ "$T_LIBC" = musl ]; then
		build_musl
		LIBCC=$SYSROOT/bin/musl-gcc
		LIBKEY=$(cat "$SYSROOT/.stamp-musl")
		# musl-gcc's spec file: -nostdinc, musl's headers and gcc's
		# own, musl's crt and libc; nothing of the host's. No RELRO:
		# static musl never write-protects it, and its page alignment
		# cost 3.7 KB of file on armhf.
		MAKEVARS=(CC="$LIBCC" CROSS_COMPILE="$T_PREFIX" STATIC=1
		    CFLAGS="$T_CFLAGS $T_APP" CPPFLAGS="-isystem $SYSROOT/include"
		    LDFLAGS="-L$SYSROOT/lib -Wl,-z,norelro")
	else
		if [ ! -d "/usr/$T_TRIPLE/include" ]; then
			apt_install "libc6-dev-$(dpkg_arch)-cross"
		fi
		# Debian's cross gcc searches the host's /usr/include after
		# the target's: -nostdinc, then gcc's and the target's own
		inc="-nostdinc -isystem $($T_GCC -print-file-name=include)"
		inc+=" -isystem /usr/$T_TRIPLE/include"
		LIBCC="$T_GCC $inc"
		LIBKEY=$($T_GCC -dumpversion)
		inc="-isystem $SYSROOT/include $inc"
		MAKEVARS=(CROSS_COMPILE="$T_PREFIX" CFLAGS="$T_CFLAGS $T_APP"
		    CPPFLAGS="$inc" LDFLAGS="-L$SYSROOT/lib")
	fi
	build_bearssl
	build_udns
}

dpkg_arch() {
	case $T_TRIPLE in
	mipsel-*) echo mipsel ;;
	mips-*) echo mips ;;
	arm-*) echo armhf ;;
	aarch64-*) echo arm64 ;;
	x86_64-*) echo amd64 ;;
	esac
}

# mk GOAL...: make in build-TARGET/ with the target's variables
mk() {
	local cfg=$B/.config
	if [ ! -f "$cfg" ]; then
		make --no-print-directory BUILD="$B" KCONFIG_CONFIG="$cfg" \
		    "${DEFCONFIG:-router_defconfig}"
	fi
	# (MIPS: the linker's note on every -mno-abicalls object it links
	# with musl's abicalls code, through stubs as intended, is dropped)
	make --no-print-directory -j"$JOBS" BUILD="$B" KCONFIG_CONFIG="$cfg" \
	    "${MAKEVARS[@]}" "$@" 2>&1 |
	    { grep -v 'warning: linking abicalls files with non-abicalls' || :; }
}

# The integration tests run on the targets: SMTP intake, queue list/show,
# kill -9 recovery, smarthost delivery with STARTTLS, TLS intake, sendmail
# injection and its exit codes, a relayhost by name through udns, and the
# cross checks (static, no host files, queue files across machines).
CROSS_TESTS=(
	SmtpBasic.test_swaks_data_exact
	SmtpBasic.test_smtplib_several_rcpts_and_size
	SmtpBasic.test_raw_pipelined_session
	SmtpBasic.test_queue_survives_restart
	Cli.test_queue_admin_with_and_without_daemon
	Crash.test_kill9_during_load
	TlsClientTest.test_ca_verified_delivery
	TlsClientTest.test_bad_certificates_deferred
	test_openssl_starttls_587
	SendmailTest.test_python_subprocess_t_i
	SendmailTest.test_daemon_stopped_exit_75
	SendmailTest.test_exit_0_means_durable
	SendmailTest.test_usage_errors
	test_too_big_is_65
	test_mailq
	test_host_name_relayhost_waits_for_dns
	test_smarthost_by_name_delivers
	test_cross.
)

# emulator command for the target's binaries
emu() {
	if [ -z "$T_QEMU" ]; then
		return 0
	elif [ "$T_LIBC" = musl ]; then
		echo "qemu-$T_QEMU"
	else
		echo "qemu-$T_QEMU -L /usr/$T_TRIPLE"
	fi
}

cross_test() {
	local t f units=() fail=0 pass=0 k=() e
	e=$(emu)
	if [ -n "$T_QEMU" ] && ! command -v "qemu-$T_QEMU" >/dev/null; then
		apt_install qemu-user
	fi
	for f in test/unit/*_test.c; do
		t=$(basename "$f" .c)
		units+=("$B/test/$t")
	done
	mk all "${units[@]}"
	"${T_PREFIX}strip" -o "$B/edgemta.stripped" "$B/edgemta"
	# the x86-64 build, for the queue files across machines
	[ -x build/edgemta ] || make --no-print-directory -j"$JOBS" all
	for t in "${units[@]}"; do
		if $e "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	done
	for t in "${CROSS_TESTS[@]}"; do
		k+=(-k "$t")
	done
	/usr/bin/python3 test/integration/run.py --bin "$B/edgemta" \
	    ${e:+--emu "$e"} --test-timeout 300 "${k[@]}" || fail=$((fail + 1))
	echo "cross-$T_NAME: $pass unit test binaries passed, $fail failed (or integration failed)"
	[ "$fail" = 0 ]
}

# (the whole file is read before main runs: it can be edited meanwhile)
main() {
	cmd=${1:-}
	case $cmd in
	build|deps|size|test|env) target "${2:-}"; setup ;;
	esac
	case $cmd in
	build)
		mk all
		"${T_PREFIX}strip" -o "$B/edgemta.stripped" "$B/edgemta"
		echo "cross.sh: $B/edgemta ($(wc -c <"$B/edgemta.stripped") bytes" \
		    "stripped: $B/edgemta.stripped)"
		;;
	deps) ;;
	size) mk size ;;
	test) cross_test ;;
	env) printf '%q ' "${MAKEVARS[@]}"; echo ;;
	fetch) shift; for p in "$@"; do fetch "$p"; done ;;
	bearssl)
		# the same recipe and cache stamp as a target's BearSSL
		[ $# -ge 3 ] || die "usage: $0 bearssl DIR PREFIX CFLAGS..."
		SYSROOT=$(realpath -m "$2") B=$SYSROOT T_PREFIX=$3
		shift 3
		T_NAME=${T_PREFIX%-} T_CFLAGS="$*" T_APP=
		LIBCC=${T_PREFIX}gcc
		LIBKEY=$($LIBCC -dumpversion)
		mkdir -p "$B"
		build_bearssl
		;;
	list) list ;;
	*) echo "usage: $0 build|test|size|deps|env|list [TARGET]" >&2; exit 2 ;;
	esac
}

main "$@"; exit
