# functions.sh - a stand-in for OpenWrt's /lib/functions.sh and
# /lib/functions/procd.sh, enough to run packaging/openwrt's init script
# on Debian: UCI access (config_load from $UCI_CONFIG_DIR through
# uci_export.py, config_get, config_get_bool, config_foreach,
# config_list_foreach) and procd calls recorded one per line in
# $PROCD_LOG. Written for the tests; it shares no code with OpenWrt.

STANDIN_DIR=${STANDIN_DIR:-$(dirname "$0")}
CONFIG_SECTIONS=

config() {
	CONFIG_SECTION=$2
	CONFIG_SECTIONS="$CONFIG_SECTIONS $2"
	eval "CONFIG_${2}_TYPE=\$1"
}

option() {
	eval "CONFIG_${CONFIG_SECTION}_${1}=\$2"
}

list() {
	local n
	eval "n=\${CONFIG_${CONFIG_SECTION}_${1}_LENGTH:-0}"
	n=$((n + 1))
	eval "CONFIG_${CONFIG_SECTION}_${1}_LENGTH=$n"
	eval "CONFIG_${CONFIG_SECTION}_${1}_ITEM$n=\$2"
}

config_load() {
	local out
	out=$(/usr/bin/python3 "$STANDIN_DIR/uci_export.py" \
		"$UCI_CONFIG_DIR/$1") || return 1
	eval "$out"
}

# (locals are named __cg_*: the caller's variable may be called v)
config_get() {
	local __cg_v
	eval "__cg_v=\${CONFIG_${2}_${3}-}"
	[ -n "$__cg_v" ] || __cg_v=$4
	eval "$1=\$__cg_v"
}

config_get_bool() {
	local __cg_b
	config_get __cg_b "$2" "$3" "$4"
	case "$__cg_b" in
	1|on|true|yes|enabled) __cg_b=1 ;;
	0|off|false|no|disabled) __cg_b=0 ;;
	*) __cg_b=$4 ;;
	esac
	eval "$1=\$__cg_b"
}

config_foreach() {
	local fn=$1 type=$2 s t
	shift 2
	for s in $CONFIG_SECTIONS; do
		eval "t=\$CONFIG_${s}_TYPE"
		[ "$t" = "$type" ] && "$fn" "$s" "$@"
	done
}

config_list_foreach() {
	local s=$1 o=$2 fn=$3 n i=1 v
	shift 3
	eval "n=\${CONFIG_${s}_${o}_LENGTH:-0}"
	while [ "$i" -le "$n" ]; do
		eval "v=\$CONFIG_${s}_${o}_ITEM$i"
		"$fn" "$v" "$@"
		i=$((i + 1))
	done
}

# procd: each call one line, arguments separated by '|'
procd_record() {
	local IFS='|'
	echo "$*" >> "$PROCD_LOG"
}
procd_open_instance() { procd_record open_instance "$@"; }
procd_set_param() { procd_record set_param "$@"; }
procd_close_instance() { procd_record close_instance "$@"; }
procd_add_reload_trigger() { procd_record reload_trigger "$@"; }

logger() { echo "logger: $*" >&2; }
