# Linux target (CONFIG_PLATFORM "linux"): the daemon's platform sources.
# Included by the Makefile; variables only, no rules.
PLAT_SRC += $(wildcard platform/linux/*.c platform/posix/*.c)
