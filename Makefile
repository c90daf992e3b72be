# tcpprobe: see README.md. `make` builds build/tcpprobe; `make check` runs every test.
# SANITIZE=1 builds everything with ASan+UBSan into build/san/ instead.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc

PKGS       := libevent inih libnftables libsystemd libcap
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
              -Iprobes -Idaemon $(NET_CFLAGS) $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS    += $(SANFLAGS)
LDLIBS     += $(NET_LIBS) $(PKG_LIBS) -lm -lz

PROBE_SRC  := $(sort $(wildcard probes/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
LIB_OBJ    := $(PROBE_SRC:%.c=$(B)/%.o) $(filter-out $(B)/daemon/main.o,$(DAEMON_SRC:%.c=$(B)/%.o))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/%)

# Debian packages the build, the tests, the demo and the benchmarks need.
DEB_BUILD  := build-essential pkg-config libnet1-dev libevent-dev libinih-dev libnftables-dev \
              libsystemd-dev libcap-dev zlib1g-dev
DEB_TEST   := nftables iproute2 ethtool tcpdump tshark python3 python3-scapy procps socat curl \
              valgrind clang libclang-rt-14-dev prometheus systemd mandoc man-db passwd
DEB_BENCH  := zmap hping3 nmap wrk prometheus-blackbox-exporter linux-perf

.PHONY: all deps deps-bench check test unit bench demo fuzz clean install uninstall
all: $(B)/tcpprobe

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

$(B)/tests/%: tests/tools/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# Idempotent: installs only what dpkg does not already have.
deps:
	@missing=$$(for p in $(DEB_BUILD) $(DEB_TEST); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

deps-bench: deps
	@missing=$$(for p in $(DEB_BENCH); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; fi

unit: $(UNIT_BIN) $(TOOL_BIN)

# check and demo install what is missing first, then build in a sub-make (so
# pkg-config runs after the -dev packages are there).
check test: deps
	$(MAKE) --no-print-directory all unit
	B=$(B) SANITIZE=$(SANITIZE) bash tests/run.sh

demo: deps
	$(MAKE) --no-print-directory all
	bash tests/lab/demo.sh $(B)/tcpprobe

bench: all $(TOOL_BIN)
	B=$(B) bash tests/bench/run.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
include systemd/install.mk
