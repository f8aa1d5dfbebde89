#!/bin/sh
# Static pidone for every Linux architecture its users run, named by
# `uname -m`: target/cross/pidone-ARCH. Usage: cross.sh [ARCH...]
# (default: all seven). TESTKIT="ARCH..." also builds examples/testkit
# for those as target/cross/testkit-ARCH (the arm64 VM tests run it).
#
# Toolchain (docs/platforms.md says why): rustc's own std rebuilt for the
# target (-Zbuild-std, from the rust-src component, since `rustup target
# add` may not be able to download targets), linked by zig's bundled musl
# through cargo-zigbuild, both from PyPI in a private venv (.cache/zig-venv).
# x86_64 is the binary `make` builds (the one the whole suite and the bench
# run), copied.
set -eu
cd "$(dirname "$0")/.."
STD_FLAGS=${STD_FLAGS:?"run through make cross"}
ZIG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.1
venv=.cache/zig-venv
out=target/cross
# 512 KiB for every architecture. ppc64le's code is the largest (fixed
# 4-byte instructions, TOC loads): 473,056 bytes, against 407,240 on x86_64.
max=524288

all="x86_64 aarch64 armv7l i686 riscv64 ppc64le s390x"
[ $# -gt 0 ] || set -- $all

triple() {
	case "$1" in
	x86_64) echo x86_64-unknown-linux-musl ;;
	aarch64) echo aarch64-unknown-linux-musl ;;
	armv7l) echo armv7-unknown-linux-musleabihf ;;
	i686) echo i686-unknown-linux-musl ;;
	riscv64) echo riscv64gc-unknown-linux-musl ;;
	ppc64le) echo powerpc64le-unknown-linux-musl ;;
	s390x) echo s390x-unknown-linux-musl ;;
	*) echo "cross.sh: unknown architecture $1 (one of: $all)" >&2; exit 2 ;;
	esac
}

# readelf's "Machine:" line for each, to catch a wrong-target copy.
machine() {
	case "$1" in
	x86_64) echo 'X86-64' ;;
	aarch64) echo 'AArch64' ;;
	armv7l) echo 'ARM' ;;
	i686) echo '80386' ;;
	riscv64) echo 'RISC-V' ;;
	ppc64le) echo 'PowerPC64' ;;
	s390x) echo 'S/390' ;;
	esac
}

# The venv, once (pinned versions: the same zig gives the same musl).
if ! "$venv/bin/python3" -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION" ||
	! "$venv/bin/cargo-zigbuild" --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$"; then
	# Debian's python3 has venv (and pip in it) only with python3-venv.
	if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
		[ "$(id -u)" = 0 ] || { echo "cross.sh: need python3 and python3-venv" >&2; exit 1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null ||
			{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }
	fi
	echo "cross.sh: installing ziglang $ZIG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION into $venv" >&2
	rm -rf "$venv"
	python3 -m venv "$venv" || { echo "cross.sh: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
	"$venv/bin/pip" install -q "ziglang==$ZIG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
fi
[ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ] || rustup component add rust-src

mkdir -p "$out"
targets=""
for a in "$@"; do
	t=$(triple "$a")
	[ "$a" = x86_64 ] || targets="$targets --target $t"
done
zigbuild() {
	# shellcheck disable=SC2086
	PATH="$PWD/$venv/bin:$PATH" RUSTC_BOOTSTRAP=1 \
		RUSTFLAGS="$STD_FLAGS -Clink-self-contained=no" \
		cargo zigbuild --release -Zbuild-std=std,panic_abort --target-dir target/xbuild "$@"
}
# One cargo run for every target: its jobs share the two cores.
# shellcheck disable=SC2086
[ -z "$targets" ] || zigbuild --bin pidone $targets
for a in ${TESTKIT:-}; do
	zigbuild --example testkit --target "$(triple "$a")"
	cp "target/xbuild/$(triple "$a")/release/examples/testkit" "$out/testkit-$a"
done

for a in "$@"; do
	t=$(triple "$a")
	if [ "$a" = x86_64 ]; then
		src=target/pidone
	else
		src=target/xbuild/$t/release/pidone
	fi
	[ -f "$src" ] || { echo "cross.sh: $src was not built" >&2; exit 1; }
	if readelf -d "$src" 2>/dev/null | grep -q 'Dynamic section'; then
		echo "cross.sh: ERROR: $src is dynamically linked" >&2; exit 1
	fi
	if readelf -l "$src" 2>/dev/null | grep -q 'INTERP'; then
		echo "cross.sh: ERROR: $src asks for a program interpreter" >&2; exit 1
	fi
	m=$(readelf -h "$src" | sed -n 's/^ *Machine: *//p')
	case "$m" in *"$(machine "$a")"*) ;; *)
		echo "cross.sh: ERROR: $src is for $m, not $a" >&2; exit 1 ;;
	esac
	size=$(stat -c %s "$src")
	if [ "$size" -gt $max ]; then
		echo "cross.sh: ERROR: $src is $size bytes, over $((max / 1024)) KiB" >&2; exit 1
	fi
	cp "$src" "$out/pidone-$a.tmp" && mv "$out/pidone-$a.tmp" "$out/pidone-$a"
	echo "built $out/pidone-$a: $size bytes, static"
done
