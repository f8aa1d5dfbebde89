# pidone — build, demo, test, benchmark.
#   make          static stripped binary at target/pidone
#   make run      build + a short demo as PID 1 of a new pid namespace
#   make test     install what the tests need (Debian packages), then run them
#   make bench    compare with tini, dumb-init and catatonit in one run
#   make fuzz     every parser's cargo-fuzz target, FUZZ_S seconds each (default 60)
#   make cross    static binaries for seven Linux architectures, in
#                 target/cross/pidone-$(uname -m) (ARCH="aarch64 s390x" for some)
#   make dist     dist/: per architecture pidone-ARCH and a tarball, an SBOM, SHA256SUMS
#   make deb      dist/pidone_VERSION_ARCH.deb for each binary of dist/ (and dist first)
#   make image    the FROM scratch image `pidone` (only /pidone), with the host's docker

PREFIX  ?= /usr/local
DESTDIR ?=
MUSL    := x86_64-unknown-linux-musl
CARGO   ?= cargo
BIN     := target/pidone

.PHONY: all build run test deps bench install clean lint fuzz cross dist deb image
DIST    ?= dist

all: build

# Static musl build of std itself with panics as plain aborts: pidone never
# panics by design, and this drops std's backtrace symboliser (gimli,
# addr2line, miniz; figures in docs/design.md). -Zbuild-std on the stable
# toolchain needs RUSTC_BOOTSTRAP=1, as the Linux kernel's Rust build does.
# Fallbacks: the plain musl build (larger), then glibc +crt-static. The
# result must have no dynamic section.
# No unwind tables and no panic locations: with immediate-abort nothing
# unwinds and no panic message is printed, so .eh_frame (69.6 KB on x86_64)
# and the file:line strings (4 KB) were dead weight. A debugger or
# `perf --call-graph=dwarf` then walks the stack without them; build
# without these two flags for that.
STD_FLAGS := -Zunstable-options -Cpanic=immediate-abort -Cforce-unwind-tables=no -Zlocation-detail=none -Crelocation-model=static -Ctarget-feature=+crt-static $(REMAP)

# Reproducible: the same commit gives the same bytes in any directory. No
# absolute path may reach the binary: the checkout, the cargo registry and
# the rust-src sysroot (std is rebuilt from it) are renamed to fixed ones.
# Dates come from the commit (SOURCE_DATE_EPOCH: tarballs, .deb, SBOM).
SYSROOT    := $(shell rustc --print sysroot 2>/dev/null)
CARGO_HOME ?= $(HOME)/.cargo
REMAP      := --remap-path-prefix=$(CURDIR)=/build/pidone --remap-path-prefix=$(CARGO_HOME)=/cargo --remap-path-prefix=$(SYSROOT)=/rust
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

build:
	@rustup target list --installed 2>/dev/null | grep -q $(MUSL) || rustup target add $(MUSL) >/dev/null 2>&1 || true
	@[ -d "$$(rustc --print sysroot)/lib/rustlib/src/rust/library" ] || rustup component add rust-src >/dev/null 2>&1 || true
	@if RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(STD_FLAGS)" $(CARGO) build --release -Zbuild-std=std,panic_abort \
			--target $(MUSL) --target-dir target/small; then \
		cp target/small/$(MUSL)/release/pidone $(BIN).tmp; \
	elif RUSTFLAGS="$(REMAP)" $(CARGO) build --release --target $(MUSL); then \
		echo "make: WARNING: std could not be rebuilt; the binary is larger" >&2; \
		cp target/$(MUSL)/release/pidone $(BIN).tmp; \
	else \
		echo "make: WARNING: musl target unavailable; building glibc +crt-static" >&2; \
		RUSTFLAGS="-C target-feature=+crt-static $(REMAP)" $(CARGO) build --release --target x86_64-unknown-linux-gnu && \
		cp target/x86_64-unknown-linux-gnu/release/pidone $(BIN).tmp; \
	fi
	@if readelf -d $(BIN).tmp 2>/dev/null | grep -q 'Dynamic section'; then \
		echo "make: ERROR: $(BIN) is dynamically linked" >&2; rm -f $(BIN).tmp; exit 1; fi
	@mv $(BIN).tmp $(BIN)
	@echo "built $(BIN): $$(stat -c %s $(BIN)) bytes, static"

run: build
	@sh demo/demo.sh $(BIN)

# scripts/cross.sh: zig's musl through cargo-zigbuild (a venv from PyPI,
# installed there once), std rebuilt with STD_FLAGS; each result checked
# static and under 512 KiB. docs/platforms.md has the why.
cross: build
	@STD_FLAGS="$(STD_FLAGS)" sh scripts/cross.sh $(ARCH)

deps:
	@sh scripts/deps.sh test

# The cross binaries (tests/cross.rs, tests/vm.rs's arm64 boots) and
# testkit for the arm64 guest.
test: deps build lint
	@STD_FLAGS="$(STD_FLAGS)" TESTKIT=aarch64 sh scripts/cross.sh
	$(CARGO) test --release -- --test-threads=4

# Every area's bench/*.sh, each given the binary.
bench: build
	@sh scripts/deps.sh bench
	@for s in bench/*.sh; do echo "make: $$s" >&2; sh $$s $(BIN) || exit 1; done

# One line per target (`fuzz: NAME runs=N crashes=K`); non-zero on a crash,
# whose input is kept in tests/fixtures/fuzz/NAME/ for tests/fuzz_replay.rs.
fuzz:
	@sh scripts/fuzz.sh

# Lint: fmt, clippy, and the module graph (scripts/imports.sh: no import
# cycle, dialects never import each other); then the platform seam: no
# module above src/sys/ names a Linux-only item (scripts/seam.sh), and the
# illumos build type-checks and lints (std rebuilt from rust-src for the
# target; lib and bin only: the tests run on Linux). docs/illumos.md.
ILLUMOS := x86_64-unknown-illumos

lint:
	@rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >/dev/null 2>&1 || true
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	@mkdir -p target && sh scripts/imports.sh >target/imports.txt && tail -n 1 target/imports.txt
	@sh scripts/seam.sh
	@[ -d "$$(rustc --print sysroot)/lib/rustlib/src/rust/library" ] || rustup component add rust-src >/dev/null 2>&1 || true
	RUSTC_BOOTSTRAP=1 $(CARGO) clippy -Zbuild-std=std,panic_abort --target $(ILLUMOS) \
		--target-dir target/illumos -- -D warnings

# Release files (scripts/dist.sh): this machine's binary from `build`, the
# others from target/cross/ (`make cross`), each checked for its
# architecture and for no dynamic section.
dist: build
	@sh scripts/deps.sh dist
	@DIST=$(DIST) sh scripts/dist.sh

deb: dist
	@DIST=$(DIST) sh scripts/deb.sh

image: dist
	@DIST=$(DIST) sh scripts/image.sh

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pidone
	install -D -m 0644 man/pidone.8 $(DESTDIR)$(PREFIX)/share/man/man8/pidone.8

clean:
	$(CARGO) clean
