# pidone — build, demo, test, benchmark.
#   make          static stripped binary at target/pidone
#   make run      build + a short demo as PID 1 of a new pid namespace
#   make test     install what the tests need (Debian packages), then run them
#   make bench    compare with tini, dumb-init and catatonit in one run
#   make fuzz     every parser's cargo-fuzz target, FUZZ_S seconds each (default 60)

PREFIX  ?= /usr/local
DESTDIR ?=
MUSL    := x86_64-unknown-linux-musl
CARGO   ?= cargo
BIN     := target/pidone

.PHONY: all build run test deps bench install clean lint fuzz

all: build

# Static musl build of std itself with panics as plain aborts: pidone never
# panics by design, and this drops std's backtrace symboliser (gimli,
# addr2line, miniz; figures in docs/design.md). -Zbuild-std on the stable
# toolchain needs RUSTC_BOOTSTRAP=1, as the Linux kernel's Rust build does.
# Fallbacks: the plain musl build (larger), then glibc +crt-static. The
# result must have no dynamic section.
STD_FLAGS := -Zunstable-options -Cpanic=immediate-abort -Crelocation-model=static -Ctarget-feature=+crt-static

build:
	@rustup target list --installed 2>/dev/null | grep -q $(MUSL) || rustup target add $(MUSL) >/dev/null 2>&1 || true
	@[ -d "$$(rustc --print sysroot)/lib/rustlib/src/rust/library" ] || rustup component add rust-src >/dev/null 2>&1 || true
	@if RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(STD_FLAGS)" $(CARGO) build --release -Zbuild-std=std,panic_abort \
			--target $(MUSL) --target-dir target/small; then \
		cp target/small/$(MUSL)/release/pidone $(BIN).tmp; \
	elif $(CARGO) build --release --target $(MUSL); then \
		echo "make: WARNING: std could not be rebuilt; the binary is larger" >&2; \
		cp target/$(MUSL)/release/pidone $(BIN).tmp; \
	else \
		echo "make: WARNING: musl target unavailable; building glibc +crt-static" >&2; \
		RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --target x86_64-unknown-linux-gnu && \
		cp target/x86_64-unknown-linux-gnu/release/pidone $(BIN).tmp; \
	fi
	@if readelf -d $(BIN).tmp 2>/dev/null | grep -q 'Dynamic section'; then \
		echo "make: ERROR: $(BIN) is dynamically linked" >&2; rm -f $(BIN).tmp; exit 1; fi
	@mv $(BIN).tmp $(BIN)
	@echo "built $(BIN): $$(stat -c %s $(BIN)) bytes, static"

run: build
	@sh demo/demo.sh $(BIN)

deps:
	@sh scripts/deps.sh test

test: deps build lint
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

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pidone

clean:
	$(CARGO) clean
