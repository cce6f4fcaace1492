# lwIP target (CONFIG_PLATFORM "lwip"): the objects a firmware links next
# to libedgemta-core.a. Included by the Makefile; variables only, no rules.
PLAT_SRC += $(wildcard platform/nor/*.c platform/lwip/*.c)
