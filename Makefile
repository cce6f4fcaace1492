# edgemta - see README.md.
#
#   make                     build (uses config/defconfig when there is no .config)
#   make NAME_defconfig      .config from config/NAME_defconfig
#   make menuconfig | defconfig | savedefconfig | olddefconfig
#   make run | test | size | install | clean
#   make BUILD=dir KCONFIG_CONFIG=dir/.config ...   an out-of-tree build
#   make CROSS_COMPILE=arm-none-eabi- ...           a cross build
#   make cross TARGET=mips-musl    a router build (scripts/cross.sh)
#   make STATIC=1                  a static binary
#   make V=1                 show the commands

BUILD ?= build
KCONFIG_CONFIG ?= .config
export KCONFIG_CONFIG
PYTHON := /usr/bin/python3
CROSS_COMPILE ?=
CC := $(CROSS_COMPILE)gcc
AR := $(CROSS_COMPILE)ar
SIZE := $(CROSS_COMPILE)size
PREFIX ?= /usr/local
DESTDIR ?=

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN := -Wall -Wextra -Wundef -Wshadow -Werror
# The project's flags are EM_*; a packager's CFLAGS, CPPFLAGS and LDFLAGS
# (command line or environment: Buildroot, OpenWrt, Yocto) come after them
# and add to them, never replace them (so -O2 there wins over -Os here).
# No unwind tables: C needs none, and they cost resident memory.
EM_CFLAGS := -Os -g -fno-asynchronous-unwind-tables -std=c11 $(WARN) \
	-ffunction-sections -fdata-sections
EM_CPPFLAGS := -I$(BUILD)/include -Icore -Iplatform
EM_LDFLAGS := -Wl,--gc-sections
EXTRA_CFLAGS ?=
ALL_CFLAGS = $(EM_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_CPPFLAGS = $(EM_CPPFLAGS) $(CPPFLAGS)
ALL_LDFLAGS = $(EM_LDFLAGS) $(LDFLAGS)

CONFIG_H := $(BUILD)/include/edgemta_config.h

# Targets that do not need a configuration.
NOCONFIG := menuconfig defconfig savedefconfig olddefconfig clean help \
	%_defconfig deps deps-run deps-test run test bench fuzz cross cross-%

# Read (and if needed create) the configuration only when a goal needs it:
# `make run` and `make test` install kconfiglib before they build.
ifneq ($(filter-out $(NOCONFIG),$(or $(MAKECMDGOALS),all)),)
-include $(KCONFIG_CONFIG)
endif

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
# Platform sources by target, in this one place: CONFIG_PLATFORM (Kconfig,
# from the target) names platform/$(PLATFORM)/, whose platform.mk adds its
# sources to PLAT_SRC. A .config older than CONFIG_PLATFORM is a Linux one.
PLATFORM := $(or $(patsubst "%",%,$(CONFIG_PLATFORM)),$(if \
	$(filter y,$(CONFIG_TARGET_CORE_ONLY)),none,linux))
PLAT_SRC :=
-include platform/$(PLATFORM)/platform.mk
PLAT_OBJ := $(PLAT_SRC:%.c=$(BUILD)/%.o)
# linked into the unit tests: the flash simulator and the NOR backend
SIM_SRC := $(wildcard platform/sim/*.c platform/nor/*.c)
FAKE_SRC := $(wildcard test/fake/*.c)
UNIT_SRC := $(wildcard test/unit/*_test.c)
# Unit tests on another machine (scripts/test-cortex-m4.sh): UNIT_TESTS
# picks them, UNIT_OBJ links a board's startup into each, UNIT_RUN runs
# one (an emulator).
UNIT_TESTS ?= $(UNIT_SRC:test/unit/%.c=%)
UNIT_BIN := $(UNIT_TESTS:%=$(BUILD)/test/%)
UNIT_OBJ ?=
UNIT_RUN ?=
LIBS :=
# udns when the generated header says CONFIG_DNS 1. Decided when linking,
# from the header: a .config written before CONFIG_DNS existed gets the
# option's default there, while $(CONFIG_DNS) here would still be empty.
DNS_LIBS = $$(grep -q '^\#define CONFIG_DNS 1' $(CONFIG_H) && echo -ludns)
ifeq ($(CONFIG_TLS),y)
LIBS += -lbearssl
endif
# BearSSL and udns are linked statically: no other process shares them, and
# as shared objects they cost ~70 KiB more PSS (relocated pages, symbol
# tables) and 3x the start-up instructions (every sendmail call pays them).
# `make LINK_STATIC=` links them dynamically (no .a files at hand).
LINK_STATIC ?= -Wl,-Bstatic
# `make STATIC=1`: a fully static binary, libc included (a musl cross build)
ifeq ($(STATIC),1)
EM_LDFLAGS += -static
override LINK_STATIC :=
endif
LINK_DYNAMIC := -Wl,-Bdynamic
LINK_LIBS = $(LINK_STATIC) $(LIBS) $(DNS_LIBS) \
	$(if $(LINK_STATIC),$(LINK_DYNAMIC))
STRIP := $(CROSS_COMPILE)strip
CPPCHECK ?= cppcheck

ifeq ($(CONFIG_TARGET_CORE_ONLY),y)
ALL := $(BUILD)/libedgemta-core.a
else ifeq ($(CONFIG_TARGET_LWIP),y)
ALL := $(BUILD)/libedgemta-core.a $(PLAT_OBJ)
else
ALL := $(BUILD)/edgemta
endif

# Keep objects of unit tests and fakes (they are intermediate files).
.SECONDARY:

.PHONY: all run test fuzz size install clean menuconfig defconfig savedefconfig \
	olddefconfig unit deps deps-run deps-test lint bench help \
	cross cross-test cross-size cross-deps
all: $(ALL)

$(KCONFIG_CONFIG):
	@echo "  GEN     $@ from config/defconfig"
	$(Q)$(PYTHON) scripts/kconfig.py defconfig config/defconfig

$(CONFIG_H): $(KCONFIG_CONFIG) Kconfig scripts/kconfig.py
	$(Q)$(PYTHON) scripts/kconfig.py genconfig $@

# -MD, not -MMD: system headers too (a rebuilt BearSSL rebuilds the
# objects; the cross test reads them to prove no host header was used)
$(BUILD)/%.o: %.c $(CONFIG_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MD -MP -c $< -o $@

$(BUILD)/libedgemta-core.a: $(CORE_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/edgemta: $(PLAT_OBJ) $(BUILD)/libedgemta-core.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -Wl,-Map=$@.map -o $@ \
		$(PLAT_OBJ) $(BUILD)/libedgemta-core.a $(LINK_LIBS)

# Unit tests: test/unit/NAME_test.c + fakes + flash simulator + core.
$(BUILD)/test/%: test/unit/%.c $(SIM_SRC:%.c=$(BUILD)/%.o) \
		$(FAKE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libedgemta-core.a $(UNIT_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) -Itest/unit -Itest/fake -Iplatform/sim \
		-Iplatform/linux $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
		$(filter %.o,$^) $(BUILD)/libedgemta-core.a $(LIBS)

# A unit test of a platform backend links that backend.
$(BUILD)/test/flash_mtd_test: $(BUILD)/platform/linux/flash_mtd.o

$(BUILD)/test/fake/%.o: EM_CPPFLAGS += -Itest/fake -Iplatform/sim -Iplatform/linux
$(BUILD)/platform/sim/%.o: EM_CPPFLAGS += -Iplatform/sim

unit: $(UNIT_BIN)
	$(Q)fail=0; for t in $(UNIT_BIN); do $(UNIT_RUN) $$t || fail=1; done; \
		exit $$fail

# ---- size, install, run, test ----
# A firmware image linked by its board's script with -Wl,-Map=IMAGE.map
# (scripts/test-cortex-m4.sh): `make size IMAGE=x.elf` checks its flash
# and RAM against the budgets (bytes; STACK_HEAP is the RAM the board
# keeps for the stack and the heap). Exit 1 when over.
IMAGE ?=
FLASH_BUDGET ?= 163840
RAM_BUDGET ?= 98304
STACK_HEAP ?= 8192
size: $(ALL)
ifneq ($(IMAGE),)
	@echo "== $(IMAGE)"
	$(Q)$(SIZE) $(IMAGE)
	$(Q)$(PYTHON) scripts/sizemap.py --budget $(FLASH_BUDGET) \
		$(RAM_BUDGET) $(STACK_HEAP) $(IMAGE).map 25
endif
ifeq ($(ALL),$(BUILD)/edgemta)
	@echo "== $(BUILD)/edgemta"
	$(Q)$(SIZE) $(BUILD)/edgemta
endif
	@echo "== core library objects"
	$(Q)$(SIZE) -t $(CORE_OBJ)
ifeq ($(ALL),$(BUILD)/edgemta)
	$(Q)$(STRIP) -o $(BUILD)/edgemta.stripped $(BUILD)/edgemta
	$(Q)$(PYTHON) scripts/sizemap.py $(BUILD)/edgemta.map 30
	@echo "== stripped copy: $$(wc -c < $(BUILD)/edgemta.stripped) bytes" \
		"($(BUILD)/edgemta.stripped)"
endif

# PREFIX, DESTDIR, MANDIR and SYSTEMDUNITDIR are the packager's to set.
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

install: $(BUILD)/edgemta
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/edgemta $(DESTDIR)$(PREFIX)/sbin/edgemta
	ln -sf edgemta $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sf ../sbin/edgemta $(DESTDIR)$(PREFIX)/bin/mailq
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/edgemta.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/edgemta.8 man/sendmail.8 $(DESTDIR)$(MANDIR)/man8/
	ln -sf sendmail.8 $(DESTDIR)$(MANDIR)/man8/mailq.8
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' packaging/systemd/edgemta.service \
		> $(DESTDIR)$(SYSTEMDUNITDIR)/edgemta.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/edgemta.service
	if [ -f config/edgemta.conf.example ]; then \
		install -d $(DESTDIR)$(PREFIX)/share/doc/edgemta && \
		install -m 0644 config/edgemta.conf.example \
			$(DESTDIR)$(PREFIX)/share/doc/edgemta/; \
	fi

deps deps-run:
	$(Q)bash scripts/deps.sh run

deps-test:
	$(Q)bash scripts/deps.sh test

run: deps-run
	$(Q)$(MAKE) --no-print-directory all
	$(Q)mkdir -p var
	@echo "edgemta listening on 127.0.0.1:2525 (queue: var/queue)." \
		"Send a test: swaks --server 127.0.0.1:2525 --to you@example.com" \
		" List the queue: $(BUILD)/edgemta -c config/run.conf queue list"
	$(Q)exec $(BUILD)/edgemta -f -c config/run.conf

test: deps-test
	$(Q)bash scripts/test-all.sh

# Longer fuzzing than `make test` does (10 s each): every harness of
# test/fuzz/ for FUZZ_SECONDS (or FUZZ=NAME... only those). Not in `make test`.
FUZZ_SECONDS ?= 300
fuzz:
	$(Q)bash scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ)

# Cross builds for routers and NAS boxes (scripts/cross.sh, README):
#   make cross TARGET=mips-musl        build-mips-musl/edgemta, its libraries
#   make cross-test | cross-size TARGET=...   tests under qemu | size table
cross cross-test cross-size cross-deps:
	$(Q)bash scripts/cross.sh $(or $(subst cross-,,$(filter cross-%,$@)),build) $(TARGET)

# Benchmarks against Postfix on this machine (bench/README.md); never part
# of `make test`.
bench:
	$(Q)bash bench/run.sh

# Informational: not part of `make test`.
lint: $(CONFIG_H)
	-$(Q)$(CPPCHECK) --quiet --std=c11 --enable=warning,style,performance,portability \
		--inline-suppr --suppress=missingIncludeSystem --suppress=variableScope \
		-I$(BUILD)/include -Icore -Iplatform -Iplatform/linux \
		core platform/linux platform/posix

# ---- configuration ----
%_defconfig: config/%_defconfig
	$(Q)$(PYTHON) scripts/kconfig.py defconfig $<

defconfig:
	$(Q)$(PYTHON) scripts/kconfig.py defconfig config/defconfig

olddefconfig:
	$(Q)$(PYTHON) scripts/kconfig.py olddefconfig

menuconfig:
	$(Q)$(PYTHON) -m menuconfig Kconfig

savedefconfig:
	$(Q)$(PYTHON) scripts/kconfig.py savedefconfig $(BUILD)/defconfig

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -path $(BUILD)/postfix-tools -prune -o -type f -name '*.d' -print 2>/dev/null)
