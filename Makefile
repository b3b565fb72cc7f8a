# tcpferry: move live TCP connections between processes and hosts.
#
#   make            build the BPF objects, the library and the CLI
#   make test       build and run every test (TAP, through prove); needs root
#   make test-asan  the same on binaries built with ASan, UBSan and LSan (build-asan)
#   make fuzz       each libFuzzer target of tests/fuzz for FUZZ_SECONDS (60)
#   make fuzz-long  each for an hour, two at a time, nice'd; the rows of FUZZING.md
#   make test-vm    the tests in qemu on Debian's 6.1 kernel (KERNEL=6.12; tools/vm)
#   make test-vm-kernel-paths   the kernel-dependent part of the suite in qemu (CI runs it on 6.1)
#   make demo       the live migration demo (tools/demo.sh); needs root
#   make demo-ssh   the same, moved as between two machines (migrate send over ssh)
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

# CFLAGS and LDFLAGS are the user's (make CFLAGS='-O1 -g -fsanitize=address'
# replaces them whole); what the build cannot do without is in TF_CFLAGS, which
# comes first so that the user's -O, -W or -D win.  CFLAGS is passed to the
# links too, so a -fsanitize or -flto in it reaches the linker.
CFLAGS    ?= -O2 -g
TF_CFLAGS  = -Wall -Wextra -fPIC -D_GNU_SOURCE -Iuser/include -Iuser/lib -Iuser/move -Iuser/balance -Ibpf -Iimages -I$(BUILD)
ALL_CFLAGS = $(TF_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(CFLAGS) $(LDFLAGS)
BPF_CFLAGS = -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Wno-unused-parameter \
             -Ivmlinux/$(ARCH) -Ibpf
ifeq ($(WERROR),1)
TF_CFLAGS += -Werror
BPF_CFLAGS += -Werror
endif
LDLIBS    += -lbpf -lelf -lz -lm

# A build directory holds one build: when the compiler or its flags change,
# what is in it is rebuilt (make BUILD=build-asan CFLAGS=... keeps another).
FLAGS_FILE := $(BUILD)/flags
FLAGS_NOW  := $(CC) $(ALL_CFLAGS) $(LDFLAGS) $(LDLIBS)
ifneq ($(filter-out clean,$(or $(MAKECMDGOALS),all)),)
ifneq ($(file <$(FLAGS_FILE)),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_FILE),$(FLAGS_NOW))
endif
endif

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/*.h)

LIB_SRCS   := $(wildcard user/lib/*.c) $(wildcard user/move/*.c) $(wildcard user/balance/*.c) $(wildcard images/*.c)
LIB_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_HDRS   := $(wildcard user/include/*.h user/lib/*.h user/move/*.h user/balance/*.h images/*.h)
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

# Fuzz targets: tests/fuzz/fuzz_NAME.c for each NAME on this line (a new
# target is its file and a word here).  Each links against the library and
# the CLI's objects (not main.o), and is built twice: for libFuzzer (make
# fuzz) and as $(BUILD)/tests/fuzz/NAME.t, which replays the seeds and every
# kept crash (tests/fuzz/{corpus,regress}/NAME) in make test.
FUZZ_TARGETS := image lock_file endpoint tswatch_event bpf_diff move stream restore_log first_request balance_config
FUZZ_REPLAYS := $(patsubst %,$(BUILD)/tests/fuzz/%.t,$(FUZZ_TARGETS))
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_TARGETS))
CLI_LIBA     := $(BUILD)/libtcpferry-cli.a

all: $(CLI) $(LIBA) $(LIBSO) $(BPF_OBJS) $(HELPERS) $(TOOLS_BIN) $(UNIT_TESTS) $(BPF_TESTS) $(FUZZ_REPLAYS)

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

$(BUILD)/obj/%.o: %.c $(LIB_HDRS) $(CLI_HDRS) $(BPF_HDRS) $(SKELS) $(FLAGS_FILE)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libtcpferry.so.0 -o $@ $^ $(ALL_LDFLAGS) $(LDLIBS)

$(CLI): $(CLI_OBJS) $(LIBA)
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@ $(CLI_OBJS) $(LIBA) $(ALL_LDFLAGS) $(LDLIBS)

# ---- tests, helpers, tools -------------------------------------------------------

$(BUILD)/tests/unit/%.t $(BUILD)/tests/bpf/%.t: TF_CFLAGS += -Itests
$(BUILD)/tests/unit/%.t: tests/unit/%.c tests/tap.h $(wildcard tests/unit/*.h) tests/fuzz/fuzz.h $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/bpf/%.t: tests/bpf/%.c tests/tap.h $(wildcard tests/bpf/*.h) $(LIBA) $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/helpers/% $(BUILD)/tools/%: TF_CFLAGS += -Itests
$(BUILD)/tests/helpers/%: tests/helpers/%.c $(wildcard tests/helpers/*.h) $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tools/%: tools/%.c $(LIBA)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

# ---- fuzz targets ------------------------------------------------------------------

$(CLI_LIBA): $(filter-out %/main.o,$(CLI_OBJS))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

FUZZ_DEPS = tests/fuzz/fuzz.h $(CLI_LIBA) $(LIBA)
$(BUILD)/tests/fuzz/%.t $(BUILD)/fuzz/%: TF_CFLAGS += -Itests -Iuser/cli
$(BUILD)/tests/fuzz/%.t: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/tap.h $(FUZZ_DEPS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -DFUZZ_NAME='"$*"' -o $@ tests/fuzz/replay.c $< $(CLI_LIBA) $(LIBA) \
		$(LDFLAGS) $(LDLIBS)

$(BUILD)/fuzz/%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(CLI_LIBA) $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bpf:
	$(Q)mkdir -p $@

# Every test through prove; TESTS=... runs a subset (prove's file arguments).
# The tests take their binaries from $(BUILD) (tests/lib.sh reads BUILD), and
# build a program (install.t) with the same compiler and flags.  First the
# sweep: what earlier runs killed outright left behind (tests/sweep.sh).
TESTS ?= $(UNIT_TESTS) $(FUZZ_REPLAYS) $(BPF_TESTS) $(INT_TESTS)
PROVE  = BUILD=$(BUILD) TEST_CC='$(CC)' TEST_CFLAGS='$(CFLAGS)' $(if $(filter 1,$(SANITIZED)),tests/sanitized.sh) prove --exec '' $(PROVE_FLAGS)
test: all
	$(Q)tests/sweep.sh
	$(Q)$(PROVE) $(TESTS)

test-unit: all
	$(Q)$(PROVE) $(UNIT_TESTS) $(FUZZ_REPLAYS) $(BPF_TESTS)

# The same tests on binaries built with AddressSanitizer, UndefinedBehavior-
# Sanitizer and LeakSanitizer, in a build directory of their own; any report
# of any process fails the run (tests/sanitized.sh).  Clang by default (gcc's
# UBSan ignores log_path); ASAN_CC=gcc works, but its UBSan reports then go to stderr only.
ASAN_BUILD  ?= build-asan
ASAN_CC     ?= clang
ASAN_CFLAGS ?= -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
test-asan test-unit-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) CFLAGS='$(ASAN_CFLAGS)' SANITIZED=1 \
		$(patsubst %-asan,%,$@)

# Every fuzz target (or FUZZ=NAME...) for FUZZ_SECONDS each, with libFuzzer,
# ASan and UBSan (clang, build-fuzz); any crash, report, leak or timeout
# fails, and its input is kept in tests/fuzz/regress/NAME (tests/fuzz/run.sh).
FUZZ_SECONDS ?= 60
FUZZ         ?= $(FUZZ_TARGETS)
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_CFLAGS  ?= -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
fuzz:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS)' fuzz-run

fuzz-run: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ))
	$(Q)BUILD=$(BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ)

# The hour per target of FUZZING.md (or FUZZ=NAME..., FUZZ_LONG_SECONDS), two
# at a time under nice -n 19 (FUZZ_JOBS); prints the table's rows (tests/fuzz/long.sh).
FUZZ_LONG_SECONDS ?= 3600
FUZZ_JOBS         ?= 2
fuzz-long:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS)' fuzz-long-run

fuzz-long-run: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ))
	$(Q)BUILD=$(BUILD) JOBS=$(FUZZ_JOBS) tests/fuzz/long.sh $(FUZZ_LONG_SECONDS) $(FUZZ)

# The suite in qemu on Debian's own kernel package (tools/vm/run.sh): KERNEL=6.1
# or 6.12 (or a full version), TESTS=... as for test (paths in the tree).
KERNEL     ?= 6.1
VM_TIMEOUT ?= 3600
test-vm:
	$(Q)tools/vm/run.sh --kernel $(KERNEL) --timeout $(VM_TIMEOUT) \
		$(if $(filter command line environment,$(origin TESTS)),$(TESTS))

# The part of the suite that takes a kernel-dependent path, for CI's VM pass
# (the whole suite under TCG takes too long): both attach modes (XDP, clsact
# or tcx), an L3 device, the tsval recorder and restore's timestamp rule,
# repair in every state (in flight, half-closed), a migrate move under
# traffic, and a long egress lock.  The unit and BPF tests load every object.
VM_KERNEL_PATHS := build/tests/unit build/tests/bpf tests/integration/lock_clsact.t \
	tests/integration/lock_xdp.t tests/integration/lock_l3dev.t tests/integration/lock_egress_hold.t \
	tests/integration/ts_migrate.t tests/integration/repair_inflight.t \
	tests/integration/repair_halfclosed.t tests/integration/migrate_move.t
test-vm-kernel-paths:
	$(Q)tools/vm/run.sh --kernel $(KERNEL) --timeout $(VM_TIMEOUT) \
		$(if $(filter command line environment,$(origin TESTS)),$(TESTS),$(VM_KERNEL_PATHS))

demo: all
	$(Q)tools/demo.sh

demo-ssh: all
	$(Q)tools/demo.sh --ssh --count 2

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

.PHONY: all test test-unit test-asan test-unit-asan test-vm test-vm-kernel-paths fuzz fuzz-run fuzz-long fuzz-long-run demo demo-ssh soak bench bench-quick deps install clean
