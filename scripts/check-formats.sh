#!/bin/bash
# check-formats.sh - no printf format that newlib-nano cannot print in the
# code that runs on microcontrollers (core/, the lwIP platform, the flash
# simulator, the unit tests and their fakes): no %lld/%llu/%llx/%lli
# (long long) or %j (intmax_t) in a string literal, nor the PRI*64/PRI*MAX
# macros that expand to them (comment lines are skipped). 64-bit values go
# through u64_str()/i64_str() (core/util.c).
# Exit 0 when clean, 1 with the offending lines otherwise.
set -u
cd "$(dirname "$0")/.."
dirs=(core test/unit test/fake platform/sim)
[ -d platform/lwip ] && dirs+=(platform/lwip)
pat='"[^"]*%[-+ #0]*[0-9*]*(\.[0-9*]*)?(ll|j)[diouxX]|\<PRI[diouxX](64|MAX)\>'
if grep -rnE --include='*.[ch]' "$pat" "${dirs[@]}" |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)'; then
	echo "check-formats: 64-bit printf formats above (newlib-nano has" \
	    "none): use u64_str()/i64_str()" >&2
	echo "check-formats: 0 passed, 1 failed"
	exit 1
fi
echo "check-formats: 1 passed, 0 failed"
