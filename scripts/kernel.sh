#!/bin/sh
# Fetch Debian's stock kernel for the VM tests and bench, once.
# Usage: kernel.sh [amd64|arm64] (default amd64).
#
# Result, under .cache/kernel/ (amd64) or .cache/kernel-arm64/ (ignored
# by git):
#   vmlinuz                the kernel image
#   release                its `uname -r`
#   modules/lib/modules/R/ modules.dep and the few modules the tests load
#                          (virtio_net, virtio_blk, ext4 and what they need)
#   busybox                (arm64 only) Debian's static arm64 busybox, the
#                          guest's shell and tools
#
# Idempotent: does nothing when the release file exists and its modules
# are there. Uses `apt-get download` of the package that
# linux-image-ARCH depends on (whatever version apt offers), so no root.
# arm64 packages come through a private apt state (.cache/apt-arm64):
# nothing foreign is added to the machine's dpkg or apt lists.
set -eu
cd "$(dirname "$0")/.."
arch=${1:-amd64}
case "$arch" in
amd64) out=.cache/kernel ;;
arm64) out=.cache/kernel-arm64 ;;
*) echo "usage: $0 [amd64|arm64]" >&2; exit 2 ;;
esac
mods="virtio_net virtio_pci virtio_blk ext4 crc32c_generic"

if [ -s "$out/release" ] && [ -s "$out/vmlinuz" ] &&
	{ [ "$arch" = amd64 ] || [ -x "$out/busybox" ]; }; then
	r=$(cat "$out/release")
	# Up to date when every wanted module is there (the list may grow).
	ok=yes
	for m in $mods; do
		ls "$out/modules/lib/modules/$r/kernel" -R 2>/dev/null | grep -q "^$m\.ko" || ok=no
	done
	[ $ok = yes ] && [ -s "$out/modules/lib/modules/$r/modules.dep" ] && exit 0
fi

command -v apt-get >/dev/null || { echo "kernel.sh: apt-get is needed" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "kernel.sh: dpkg-deb is needed" >&2; exit 1; }
depmod=$(command -v depmod || echo /sbin/depmod)
[ -x "$depmod" ] || { echo "kernel.sh: depmod is needed (apt-get install kmod)" >&2; exit 1; }

# A foreign architecture's packages: apt with its own lists, cache and an
# empty dpkg status, and arm64 as its only architecture.
apt_opts=""
if [ "$arch" != amd64 ]; then
	st=$PWD/.cache/apt-$arch
	mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
	[ -e "$st/status" ] || : >"$st/status"
	apt_opts="-o APT::Architecture=$arch -o APT::Architectures::=$arch
		-o Dir::State::Lists=$st/lists -o Dir::State::status=$st/status
		-o Dir::Cache=$st/cache -o Debug::NoLocking=1"
	# shellcheck disable=SC2086
	apt-cache $apt_opts show "linux-image-$arch" >/dev/null 2>&1 ||
		apt-get -q $apt_opts update >/dev/null
fi

# The versioned package the meta-package points at, e.g.
# linux-image-6.1.0-56-amd64 (the unsigned one has the same files).
# shellcheck disable=SC2086
pkg=$(apt-cache $apt_opts depends "linux-image-$arch" 2>/dev/null |
	sed -n "s/^ *Depends: \(linux-image-[0-9][^ ]*-$arch\)\$/\1/p" | head -n 1)
if [ -z "$pkg" ]; then
	echo "kernel.sh: apt offers no linux-image-$arch (run apt-get update?)" >&2
	exit 1
fi
release=${pkg#linux-image-}

rm -rf "$out.tmp"
mkdir -p "$out.tmp/deb" "$out.tmp/x"
# apt's download user must be able to write there.
chmod 777 "$out.tmp/deb"
echo "kernel.sh: downloading $pkg" >&2
# shellcheck disable=SC2086
(cd "$out.tmp/deb" && apt-get download -q $apt_opts "$pkg" >/dev/null)
deb=$(ls "$out.tmp"/deb/linux-image-*.deb)
dpkg-deb -x "$deb" "$out.tmp/x"
if [ "$arch" != amd64 ]; then
	# shellcheck disable=SC2086
	(cd "$out.tmp/deb" && apt-get download -q $apt_opts busybox-static >/dev/null)
	mkdir -p "$out.tmp/bb"
	dpkg-deb -x "$(ls "$out.tmp"/deb/busybox-static_*.deb)" "$out.tmp/bb"
	cp "$out.tmp/bb/bin/busybox" "$out.tmp/busybox"
	rm -rf "$out.tmp/bb"
fi
# The package has no modules.dep (its postinst runs depmod): make one.
"$depmod" -b "$out.tmp/x" "$release"

mkdir -p "$out.tmp/modules/lib/modules/$release"
src="$out.tmp/x/lib/modules/$release"
dst="$out.tmp/modules/lib/modules/$release"
cp "$out.tmp/x/boot/vmlinuz-$release" "$out.tmp/vmlinuz"
cp "$src/modules.dep" "$src/modules.builtin" "$dst/"

# Copy each wanted module and, transitively, what modules.dep says it needs.
todo=""
for m in $mods; do
	# Module names use _ and - interchangeably; files keep the kernel's.
	f=$(grep -E "(^|/)$(echo "$m" | sed 's/[_-]/[_-]/g')\.ko[^:]*:" "$src/modules.dep" | head -n 1 | cut -d: -f1)
	[ -n "$f" ] && todo="$todo $f"
done
done_list=""
while [ -n "$todo" ]; do
	set -- $todo
	f=$1
	shift
	todo="$*"
	case " $done_list " in *" $f "*) continue ;; esac
	done_list="$done_list $f"
	mkdir -p "$dst/$(dirname "$f")"
	cp "$src/$f" "$dst/$f"
	deps=$(grep -E "^$f:" "$src/modules.dep" | cut -d: -f2)
	todo="$todo $deps"
done

rm -rf "$out.tmp/deb" "$out.tmp/x"
echo "$release" >"$out.tmp/release"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "kernel.sh: $release in $out (modules:$done_list)" >&2
