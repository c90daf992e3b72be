# tcpprobe: see README.md. `make` builds build/tcpprobe; `make check` runs every test.
# SANITIZE=1 builds everything with ASan+UBSan into build/san/ instead.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc

PKGS       := libevent inih libnftables libsystemd libcap jansson yaml-0.1 libprotobuf-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
NET_CFLAGS := $(shell libnet-config --defines 2>/dev/null) $(shell libnet-config --cflags 2>/dev/null)
NET_LIBS   := $(shell libnet-config --libs 2>/dev/null)

ifeq ($(SANITIZE),1)
B          := build/san
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT        := -O1
else
B          := build
SANFLAGS   :=
OPT        := -O2
endif

CFLAGS     ?= $(OPT) -g
CFLAGS     += -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter \
              -D_GNU_SOURCE -D_DEFAULT_SOURCE -DTCPPROBE_VERSION='"$(VERSION)"' \
              -Iprobes -Idaemon -Idaemon/proto $(NET_CFLAGS) $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS    += $(SANFLAGS)
LDLIBS     += $(NET_LIBS) $(PKG_LIBS) -lsnappy -lm -lz -pthread

PROBE_SRC  := $(sort $(wildcard probes/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c daemon/proto/*.c))
LIB_OBJ    := $(PROBE_SRC:%.c=$(B)/%.o) $(filter-out $(B)/daemon/main.o,$(DAEMON_SRC:%.c=$(B)/%.o))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/%)

# Debian packages the build, the tests, the demo and the benchmarks need.
DEB_BUILD  := build-essential pkg-config libnet1-dev libevent-dev libinih-dev libnftables-dev \
              libsystemd-dev libcap-dev zlib1g-dev \
              libjansson-dev libyaml-dev libprotobuf-c-dev libsnappy-dev protobuf-c-compiler
DEB_TEST   := nftables iproute2 ethtool tcpdump tshark python3 python3-scapy procps socat curl \
              valgrind clang libclang-rt-14-dev prometheus systemd mandoc man-db passwd \
              debootstrap systemd-container chromium fonts-liberation
DEB_BENCH  := zmap hping3 nmap wrk prometheus-blackbox-exporter linux-perf

# The man pages: man/PAGE.in with what the key tables know filled in by
# man/mangen.c (key lists, options, defaults); these are what `make install`
# installs and test_config checks.
MAN_PAGES  := $(B)/man/tcpprobe.8 $(B)/man/tcpprobe.conf.5

.PHONY: all deps deps-bench check test unit bench demo fuzz clean install uninstall proto
all: $(B)/tcpprobe $(MAN_PAGES)

# `make V=1` shows the full commands.
Q          := $(if $(V),,@)

$(B)/tcpprobe: $(B)/daemon/main.o $(LIB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(B)/mangen: man/mangen.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(B)/man/%: man/%.in $(B)/mangen
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	$(Q)$(B)/mangen $< >$@.tmp && mv -f $@.tmp $@

# test_config checks the generated pages against the key tables.
$(B)/tests/test_config: $(MAN_PAGES)
$(B)/tests/test_config: CFLAGS += -DMAN_DIR='"$(B)/man"'

# test_oom fails chosen allocations of the daemon's code (tests/unit/test_oom.c).
$(B)/tests/test_oom: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup

$(B)/tests/%: tests/tools/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# $(call missing,PKGS): shell code printing the PKGS dpkg does not have.
missing = for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done

# Idempotent: installs only what dpkg does not already have.
deps:
	@missing=$$($(call missing,$(DEB_BUILD) $(DEB_TEST))); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

deps-bench: deps
	@missing=$$($(call missing,$(DEB_BENCH))); \
	if [ -n "$$missing" ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; fi

unit: $(UNIT_BIN) $(TOOL_BIN)

# Only deps and deps-bench install packages. check, demo and fuzz never do:
# they stop first, naming what is missing, when a package is not installed.
# `make deps check` runs deps first even under -j (the order-only prerequisite
# below); the build runs in a sub-make so pkg-config runs after deps.
DEPS_FIRST := $(filter deps,$(MAKECMDGOALS))
.PHONY: deps-present
deps-present: | $(DEPS_FIRST)
	@missing=$$($(call missing,$(DEB_BUILD) $(DEB_TEST))); \
	if [ -n "$$missing" ]; then echo "not installed:" $$missing "(make deps installs them)" >&2; exit 1; fi

check test: deps-present
	$(MAKE) --no-print-directory all unit
	B=$(B) SANITIZE=$(SANITIZE) bash tests/run.sh

demo: deps-present
	$(MAKE) --no-print-directory all
	bash tests/lab/demo.sh $(B)/tcpprobe

bench: all $(TOOL_BIN)
	B=$(B) bash tests/bench/run.sh

# ---- fuzzing (tests/fuzz/run.sh) ---------------------------------------------
# libFuzzer targets, always clang with ASan+UBSan, into build/fuzz/ whatever
# SANITIZE says. Each links only the sources it exercises. `make fuzz` runs
# each for FUZZ_SECONDS; `make check` runs the corpora and a short smoke.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -g -O1 -std=gnu17 -Wall -Wextra -Wshadow -Wstrict-prototypes \
                -Wno-unused-parameter -D_GNU_SOURCE -D_DEFAULT_SOURCE -Iprobes -Idaemon \
                $(NET_CFLAGS) -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TARGETS := packet fsm trace config ctlproto
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

build/fuzz/fuzz_packet:   tests/fuzz/fuzz_packet.c probes/packet.c
build/fuzz/fuzz_fsm:      tests/fuzz/fuzz_fsm.c probes/fsm.c probes/packet.c
build/fuzz/fuzz_fsm:      FUZZ_LIBS := $(NET_LIBS)
build/fuzz/fuzz_trace:    tests/fuzz/fuzz_trace.c probes/trace.c probes/fsm.c probes/packet.c
build/fuzz/fuzz_trace:    FUZZ_LIBS := $(NET_LIBS)
build/fuzz/fuzz_config:   tests/fuzz/fuzz_config.c daemon/config.c daemon/config_keys.c daemon/config_value.c \
                          daemon/config_print.c daemon/config_sections.c daemon/labels.c daemon/log.c probes/fsm.c
build/fuzz/fuzz_ctlproto: tests/fuzz/fuzz_ctlproto.c daemon/ctlproto.c daemon/config_value.c daemon/log.c
build/fuzz/fuzz_packet:   FUZZ_LIBS := $(NET_LIBS)
build/fuzz/fuzz_config:   FUZZ_LIBS := $(shell pkg-config --libs inih 2>/dev/null) -lm
$(FUZZ_BIN): $(wildcard probes/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

.PHONY: fuzzers fuzz-seeds
fuzzers: $(FUZZ_BIN)

fuzz: deps-present
	$(MAKE) --no-print-directory fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CC=$(FUZZ_CC) bash tests/fuzz/run.sh fuzz

# Regenerates the gen-* seeds (packets, fsm and trace event sequences, control lines)
# and the config seeds from tests/config; regress-* files are kept.
fuzz-seeds: build/fuzz/gen_corpus
	rm -f tests/fuzz/corpus/*/gen-*
	mkdir -p tests/fuzz/corpus/packet tests/fuzz/corpus/fsm tests/fuzz/corpus/trace \
		tests/fuzz/corpus/ctlproto tests/fuzz/corpus/config
	build/fuzz/gen_corpus tests/fuzz/corpus
	for f in tests/config/*.conf etc/tcpprobe.conf; do \
		cp "$$f" "tests/fuzz/corpus/config/gen-$$(basename "$$f" .conf)"; done

build/fuzz/gen_corpus: tests/fuzz/gen_corpus.c probes/packet.c probes/packet.h daemon/ctlproto.h
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) -O1 -g -std=gnu17 -Wall -Wextra -Werror -D_GNU_SOURCE -D_DEFAULT_SOURCE -Iprobes -Idaemon $(NET_CFLAGS) \
		-o $@ $(filter %.c,$^) $(NET_LIBS)

# The remote-write messages (daemon/proto/remote.proto): the generated
# remote.pb-c.[ch] are committed; this regenerates them.
proto:
	cd daemon/proto && protoc-c --c_out=. remote.proto

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
include systemd/install.mk
