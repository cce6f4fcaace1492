#!/bin/bash
# qemu-run.sh ELF [TIMEOUT_S] - run a bare-metal image for the mps2-an386
# board (platform/lwip/boards/mps2-an386) under qemu-system-arm: its
# stdout/stderr reach ours over semihosting, its exit() status is ours
# (a fault exits 1, see startup.c). No network, no disk; the timeout
# (default 600 s) only bounds a hang.
set -u
elf=$1
exec timeout --kill-after=5 "${2:-600}" qemu-system-arm -M mps2-an386 \
    -nographic -monitor none -serial null -semihosting -kernel "$elf" </dev/null
