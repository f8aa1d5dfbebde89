#!/bin/sh
# Release files in $DIST (default dist/), from the binaries already built:
# target/pidone (`make`, this machine's architecture) and every
# target/cross/pidone-ARCH (`make cross`). Per architecture (uname -m
# names): pidone-ARCH and pidone-VERSION-ARCH.tar.gz (binary, man page,
# README, LICENSE); then one SBOM and one SHA256SUMS over everything.
# Every date is the commit's (SOURCE_DATE_EPOCH), every owner root, every
# list sorted: the same commit gives the same bytes.
set -eu
DIST=${DIST:-dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
export LC_ALL=C TZ=UTC

# What readelf -h says for each architecture: a binary in the wrong place
# must not be shipped under another name.
machine() {
	case $1 in
	x86_64) echo 'X86-64' ;;
	aarch64) echo 'AArch64' ;;
	armv7l) echo 'ARM' ;;
	i686) echo '80386' ;;
	riscv64) echo 'RISC-V' ;;
	ppc64le) echo 'PowerPC64' ;;
	s390x) echo 'S/390' ;;
	*) echo "dist: unknown architecture $1" >&2; return 1 ;;
	esac
}

check() { # check FILE ARCH
	want=$(machine "$2")
	readelf -h "$1" | grep -q "Machine:.*$want" || {
		echo "dist: $1 is not a $2 binary: $(readelf -h "$1" | grep Machine:)" >&2
		exit 1
	}
	if readelf -d "$1" | grep -q 'Dynamic section'; then
		echo "dist: $1 is dynamically linked" >&2
		exit 1
	fi
}

host=$(uname -m)
[ -x target/pidone ] || { echo "dist: no target/pidone; run make first" >&2; exit 1; }

rm -rf "$DIST"
mkdir -p "$DIST"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# This machine's from `make`, the others from `make cross`.
cp target/pidone "$tmp/pidone-$host"
for f in target/cross/pidone-*; do
	[ -f "$f" ] || continue
	a=${f#target/cross/pidone-}
	case $a in *.*) continue ;; esac # cross.sh's pidone-ARCH.tmp while it copies
	[ "$a" = "$host" ] || cp "$f" "$tmp/pidone-$a"
done

stamp() { find "$@" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

for f in "$tmp"/pidone-*; do
	a=${f##*/pidone-}
	check "$f" "$a"
	install -m 0755 "$f" "$DIST/pidone-$a"
	d="$tmp/pidone-$version-$a"
	mkdir -p "$d"
	install -m 0755 "$f" "$d/pidone"
	install -m 0644 man/pidone.8 README.md LICENSE "$d/"
	stamp "$d"
	tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime="@$SOURCE_DATE_EPOCH" --format=gnu -cf - "pidone-$version-$a" |
		gzip -9n >"$DIST/pidone-$version-$a.tar.gz"
	echo "dist: $DIST/pidone-$a, $DIST/pidone-$version-$a.tar.gz"
done

sh scripts/sbom.sh "$DIST/pidone-$version.cdx.json" "$(ls "$DIST" | sed -n 's/^pidone-\([^-]*\)$/\1/p' | tr '\n' ' ')"
stamp "$DIST"
sh scripts/sums.sh "$DIST"
