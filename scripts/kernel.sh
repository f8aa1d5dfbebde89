#!/bin/sh
# Fetch Debian's stock amd64 kernel for the VM tests and bench, once.
#
# Result, under .cache/kernel/ (ignored by git):
#   vmlinuz                the kernel image
#   release                its `uname -r`
#   modules/lib/modules/R/ modules.dep and the few modules the tests load
#                          (virtio_net, virtio_blk, ext4 and what they need)
#
# Idempotent: does nothing when .cache/kernel/release exists and its
# modules are there. Uses `apt-get download` of the package that
# linux-image-amd64 depends on (whatever version apt offers), so no root.
set -eu
cd "$(dirname "$0")/.."
out=.cache/kernel
mods="virtio_net virtio_pci virtio_blk ext4 crc32c_generic"

if [ -s "$out/release" ] && [ -s "$out/vmlinuz" ]; then
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

# The versioned package the meta-package points at, e.g.
# linux-image-6.1.0-56-amd64 (the unsigned one has the same files).
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "kernel.sh: apt offers no linux-image-amd64 (run apt-get update?)" >&2
	exit 1
fi
release=${pkg#linux-image-}

rm -rf "$out.tmp"
mkdir -p "$out.tmp/deb" "$out.tmp/x"
# apt's download user must be able to write there.
chmod 777 "$out.tmp/deb"
echo "kernel.sh: downloading $pkg" >&2
(cd "$out.tmp/deb" && apt-get download -q "$pkg" >/dev/null)
deb=$(ls "$out.tmp"/deb/*.deb)
dpkg-deb -x "$deb" "$out.tmp/x"
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
