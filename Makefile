# tcpferry: move live TCP connections between processes and hosts.
#
#   make            build the BPF objects, the library and the CLI
#   make test       build and run every test (TAP, through prove); needs root
#   make test-vm    the tests in qemu on Debian's 6.1 kernel (KERNEL=6.12; tools/vm)
#   make demo       the live migration demo (tools/demo.sh); needs root
#   make bench      benchmarks against netfilter; writes BENCHMARKS.md
#   make deps       install what building and testing need (Debian 12, root)
#   make install    CLI, library, header, pkg-config file, man page
#
# V=1 shows the commands; WERROR=1 turns warnings into errors (CI does).

.DELETE_ON_ERROR:
.SUFFIXES:

PREFIX    ?= /usr/local
DESTDIR   ?=
BUILD     ?= build
CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VERSION   := 0.1.0

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS    ?= -O2 -g
CFLAGS    += -Wall -Wextra -fPIC -D_GNU_SOURCE -Iuser/include -Iuser/lib -Ibpf -Iimages -I$(BUILD)
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Wno-unused-parameter \
             -Ivmlinux/$(ARCH) -Ibpf
ifeq ($(WERROR),1)
CFLAGS    += -Werror
BPF_CFLAGS += -Werror
endif
LDLIBS    += -lbpf -lelf -lz

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/*.h)

LIB_SRCS   := $(wildcard user/lib/*.c) $(wildcard images/*.c)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_HDRS   := $(wildcard user/include/*.h user/lib/*.h images/*.h)
CLI_SRCS   := $(wildcard user/cli/*.c)
CLI_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
CLI_HDRS   := $(wildcard user/cli/*.h)

LIBA       := $(BUILD)/libtcpferry.a
LIBSO      := $(BUILD)/libtcpferry.so.$(VERSION)
CLI        := $(BUILD)/tcpferry

# Tests: each C test is a TAP program; each shell test is an executable .t.
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%.t,$(wildcard tests/unit/*.c))
BPF_TESTS  := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%.t,$(wildcard tests/bpf/*.c))
HELPERS    := $(patsubst tests/helpers/%.c,$(BUILD)/tests/helpers/%,$(wildcard tests/helpers/*.c))
TOOLS_BIN  := $(patsubst tools/%.c,$(BUILD)/tools/%,$(wildcard tools/*.c))
INT_TESTS  := $(sort $(wildcard tests/integration/*.t))

all: $(CLI) $(LIBA) $(LIBSO) $(BPF_OBJS) $(HELPERS) $(TOOLS_BIN) $(UNIT_TESTS) $(BPF_TESTS)

# ---- BPF -------------------------------------------------------------------

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Kept after the build (the tests and tools include them too).
.SECONDARY: $(SKELS) $(BPF_OBJS)

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# ---- library and CLI -----------------------------------------------------------

$(BUILD)/obj/%.o: %.c $(LIB_HDRS) $(CLI_HDRS) $(BPF_HDRS) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libtcpferry.so.0 -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(CLI): $(CLI_OBJS) $(LIBA)
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@ $(CLI_OBJS) $(LIBA) $(LDFLAGS) $(LDLIBS)

# ---- tests, helpers, tools -------------------------------------------------------

$(BUILD)/tests/unit/%.t $(BUILD)/tests/bpf/%.t: CFLAGS += -Itests
$(BUILD)/tests/unit/%.t: tests/unit/%.c tests/tap.h $(wildcard tests/unit/*.h) $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/bpf/%.t: tests/bpf/%.c tests/tap.h $(LIBA) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/helpers/% $(BUILD)/tools/%: CFLAGS += -Itests
$(BUILD)/tests/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bpf:
	$(Q)mkdir -p $@

# Every test through prove; TESTS=... runs a subset (prove's file arguments).
TESTS ?= $(UNIT_TESTS) $(BPF_TESTS) $(INT_TESTS)
test: all
	$(Q)prove --exec '' $(PROVE_FLAGS) $(TESTS)

test-unit: all
	$(Q)prove --exec '' $(PROVE_FLAGS) $(UNIT_TESTS) $(BPF_TESTS)

# The suite in qemu on Debian's own kernel package (tools/vm/run.sh): KERNEL=6.1
# or 6.12 (or a full version), TESTS=... as for test (paths in the tree).
KERNEL     ?= 6.1
VM_TIMEOUT ?= 3600
test-vm:
	$(Q)tools/vm/run.sh --kernel $(KERNEL) --timeout $(VM_TIMEOUT) \
		$(if $(filter command line environment,$(origin TESTS)),$(TESTS))

demo: all
	$(Q)tools/demo.sh

soak: all
	$(Q)SOAK=1 prove --exec '' $(PROVE_FLAGS) $(wildcard tests/integration/*soak*.t)

bench: all
	$(Q)tools/bench/run.sh

bench-quick: all
	$(Q)QUICK=1 tools/bench/run.sh

deps:
	$(Q)tools/deps.sh

# ---- install ---------------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/lib/tcpferry
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/tcpferry
	install -m 0644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtcpferry.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtcpferry.so.0
	ln -sf libtcpferry.so.0 $(DESTDIR)$(PREFIX)/lib/libtcpferry.so
	install -m 0644 user/include/tcpferry.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 user/cli/tcpferry.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' user/tcpferry.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/tcpferry.pc

clean:
	rm -rf $(BUILD)

.PHONY: all test test-unit test-vm demo soak bench bench-quick deps install clean
