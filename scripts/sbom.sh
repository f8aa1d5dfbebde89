#!/bin/sh
# The SBOM of the release: CycloneDX JSON from cargo-cyclonedx (the crates,
# as Cargo.lock pins them), plus what cargo does not know: the Rust
# standard library rebuilt into the binary, the musl C library linked in,
# and rustc. Dated by the commit, with a serial number derived from the
# content, so the same commit gives the same file.
#   sbom.sh --install   install the pinned cargo-cyclonedx into .cache/tools
#   sbom.sh OUT.json [ARCH...]   write the SBOM of the binaries for ARCH
#     (uname -m names; this machine's is built with Rust's musl target,
#     the others by make cross, linked with zig's bundled musl)
set -eu
TOOL_VERSION=0.5.9
tools=.cache/tools
tool=$tools/bin/cargo-cyclonedx
MUSL=x86_64-unknown-linux-musl

installed() { [ -x $tool ] && $tool cyclonedx --version 2>/dev/null | grep -q " $TOOL_VERSION\$"; }

if [ "${1:-}" = --install ]; then
	installed && exit 0
	echo "deps: cargo install cargo-cyclonedx $TOOL_VERSION into $tools (a few minutes, once)" >&2
	nice -n 10 cargo install --quiet --locked --version $TOOL_VERSION --root $tools cargo-cyclonedx
	exit 0
fi
out=${1:?usage: sbom.sh OUT.json [ARCH...] | --install}
arches=${2:-$(uname -m)}
installed || sh "$0" --install

: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export LC_ALL=C TZ=UTC
tmp=$(mktemp -d)
# cargo-cyclonedx writes beside Cargo.toml: a name of this run's own.
name=pidone-sbom-$$
trap 'rm -rf "$tmp" $name.json' EXIT

# Only the crates linked into the binary: no build scripts' or tests'.
PATH="$PWD/$tools/bin:$PATH" cargo cyclonedx --quiet --format json --spec-version 1.5 \
	--target $MUSL --no-build-deps --override-filename $name
mv $name.json "$tmp/crates.json"

rustc=$(rustc --version | cut -d' ' -f2)
commit=$(rustc -vV | sed -n 's/^commit-hash: //p')
sysroot=$(rustc --print sysroot)
# musl's version string, as its libc.a carries it.
musl=$(strings "$sysroot/lib/rustlib/$MUSL/lib/self-contained/libc.a" 2>/dev/null |
	grep -m 1 -E '^1\.[0-9]+\.[0-9]+$' || true)
[ -n "$musl" ] || { echo "sbom: no musl version in $sysroot/lib/rustlib/$MUSL" >&2; exit 1; }
ts=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

# The other architectures' binaries (make cross) link zig's musl: its
# version and zig's, when any of them is shipped.
host=$(uname -m)
zig="" zmusl=""
for a in $arches; do
	[ "$a" = "$host" ] && continue
	zig=$(sed -n 's/^ZIG_VERSION=//p' scripts/cross.sh 2>/dev/null)
	zmusl=$(sed -n 's/^#define VERSION "\(.*\)"$/\1/p' \
		.cache/zig-venv/lib/python3*/site-packages/ziglang/lib/libc/musl/src/internal/version.h 2>/dev/null | head -n 1)
	[ -n "$zig" ] && [ -n "$zmusl" ] || { echo "sbom: $a is shipped but zig's musl version is not found (.cache/zig-venv)" >&2; exit 1; }
	break
done

# The checkout's path (in bom-refs) becomes the one the binary's remapping
# uses, as in the Makefile.
jq --arg rustc "$rustc" --arg commit "$commit" --arg musl "$musl" --arg ts "$ts" \
	--arg root "$PWD" --arg zig "$zig" --arg zmusl "$zmusl" '
	walk(if type == "string" then (split($root) | join("/build/pidone")) else . end)
	| del(.serialNumber)
	| .metadata.timestamp = $ts
	| .components += [
		{ "type": "library", "bom-ref": ("rust-std@" + $rustc), "name": "rust-std",
		  "version": $rustc, "purl": ("pkg:generic/rust-std@" + $rustc),
		  "scope": "required",
		  "description": "The Rust standard library, rebuilt from the toolchain sources into the binary",
		  "licenses": [ { "expression": "MIT OR Apache-2.0" } ] },
		{ "type": "library", "bom-ref": ("musl@" + $musl), "name": "musl",
		  "version": $musl, "purl": ("pkg:generic/musl@" + $musl),
		  "scope": "required",
		  "description": "The C library, statically linked (from the Rust musl targets)",
		  "licenses": [ { "license": { "id": "MIT" } } ] },
		{ "type": "application", "bom-ref": ("rustc@" + $rustc), "name": "rustc",
		  "version": $rustc, "scope": "excluded", "purl": ("pkg:generic/rustc@" + $rustc),
		  "description": "The compiler that built the binary (not shipped)",
		  "properties": [ { "name": "rustc:commit-hash", "value": $commit } ] }
	]
	| if $zig == "" then . else .components += [
		{ "type": "library", "bom-ref": ("musl@" + $zmusl + "+zig"), "name": "musl",
		  "version": $zmusl, "purl": ("pkg:generic/musl@" + $zmusl),
		  "scope": "required",
		  "description": "The C library, statically linked into the binaries of the other architectures (zig'"'"'s bundled musl, make cross)",
		  "licenses": [ { "license": { "id": "MIT" } } ] },
		{ "type": "application", "bom-ref": ("zig@" + $zig), "name": "zig",
		  "version": $zig, "scope": "excluded", "purl": ("pkg:pypi/ziglang@" + $zig),
		  "description": "The linker of the other architectures'"'"' binaries (through cargo-zigbuild; not shipped)" }
	] end
	| .metadata.component["bom-ref"] as $top
	| .dependencies |= map(if .ref == $top
		then .dependsOn += [("rust-std@" + $rustc), ("musl@" + $musl)]
			+ (if $zig == "" then [] else [("musl@" + $zmusl + "+zig")] end)
		else . end)
	' "$tmp/crates.json" >"$tmp/bom.json"

# A serial number from the content: a UUID (version 8) of its SHA-256.
h=$(sha256sum "$tmp/bom.json" | cut -c1-32)
uuid=$(echo "$h" | sed -E 's/^(.{8})(.{4}).(.{3}).(.{3})(.{12})$/\1-\2-8\3-a\4-\5/')
jq --arg s "urn:uuid:$uuid" '{bomFormat, specVersion, serialNumber: $s} + .' "$tmp/bom.json" >"$out"
echo "dist: $out (CycloneDX, $(jq '.components | length' "$out") components)"
