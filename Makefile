# pidone — build, demo, test, benchmark.
#   make          static stripped binary at target/pidone
#   make run      build + a short demo as PID 1 of a new pid namespace
#   make test     install what the tests need (Debian packages), then run them
#   make bench    compare with tini, dumb-init and catatonit in one run

PREFIX  ?= /usr/local
DESTDIR ?=
MUSL    := x86_64-unknown-linux-musl
CARGO   ?= cargo
BIN     := target/pidone

.PHONY: all build run test deps bench install clean lint

all: build

# Static musl build; falls back to glibc +crt-static when the musl target
# cannot be had. Fails loudly if the result has a dynamic section.
build:
	@if rustup target list --installed 2>/dev/null | grep -q $(MUSL) || rustup target add $(MUSL) >/dev/null 2>&1; then \
		$(CARGO) build --release --target $(MUSL) && cp target/$(MUSL)/release/pidone $(BIN).tmp; \
	else \
		echo "make: musl target unavailable; building glibc +crt-static" >&2; \
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

test: deps build
	$(CARGO) test --release -- --test-threads=4

bench: build
	@sh scripts/deps.sh bench
	@sh bench/bench.sh $(BIN)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release -- -D warnings

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pidone

clean:
	$(CARGO) clean
