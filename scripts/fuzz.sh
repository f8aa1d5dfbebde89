#!/bin/sh
# make fuzz: build every cargo-fuzz target in fuzz/ and run each for
# FUZZ_S seconds (default 60), one line per target:
#   fuzz: NAME runs=N crashes=K
# A crash's input is copied to tests/fixtures/fuzz/NAME/ (commit it with
# the fix: tests/fuzz_replay.rs replays every file there in make test).
# Exit status 1 when any target crashed.
set -u
S=${FUZZ_S:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked || exit 1
# cargo-fuzz needs a nightly compiler (sanitizer flags).
rustup run nightly rustc --version >/dev/null 2>&1 ||
	rustup toolchain install nightly --profile minimal || exit 1
cd "$top/fuzz" || exit 1
cargo +nightly fuzz build -O >"$top/target/fuzz-build.log" 2>&1 || {
	echo "fuzz: build failed, see target/fuzz-build.log" >&2
	exit 1
}
failed=0
for t in $(cargo +nightly fuzz list); do
	corpus="$top/target/fuzz/corpus/$t"
	art="$top/target/fuzz/artifacts/$t"
	log="$top/target/fuzz/$t.log"
	rm -rf "$art"
	mkdir -p "$corpus" "$art"
	cp seeds/"$t"/* "$corpus"/ 2>/dev/null
	cargo +nightly fuzz run -O "$t" "$corpus" -- \
		-max_total_time="$S" -artifact_prefix="$art/" -print_final_stats=1 \
		>"$log" 2>&1
	# libFuzzer's final count, else (stopped at a crash) its last status.
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	[ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	crashes=0
	for f in "$art"/crash-* "$art"/oom-* "$art"/timeout-* "$art"/leak-*; do
		[ -e "$f" ] || continue
		crashes=$((crashes + 1))
		mkdir -p "$top/tests/fixtures/fuzz/$t"
		cp "$f" "$top/tests/fixtures/fuzz/$t/"
	done
	echo "fuzz: $t runs=${runs:-0} crashes=$crashes"
	[ "$crashes" -eq 0 ] || failed=1
done
exit $failed
