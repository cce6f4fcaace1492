# lwIP target (CONFIG_PLATFORM "lwip"): the objects a firmware links next
# to libedgemta-core.a. Included by the Makefile; variables only, no rules.
# The NOR flash backend needs nothing; the lwIP layer needs lwIP's headers:
# LWIP_DIR=path/to/lwip (the source tree of `apt-get source lwip`;
# scripts/test-lwip.sh fetches it).
PLAT_SRC += $(wildcard platform/nor/*.c)
ifneq ($(LWIP_DIR),)
PLAT_SRC += $(wildcard platform/lwip/*.c)
EM_CPPFLAGS += -Iplatform/lwip/include -I$(LWIP_DIR)/src/include
endif
