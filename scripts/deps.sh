#!/bin/sh
# Install what `make test` / `make bench` / `make dist` need, from Debian's
# packages (and the SBOM tool from crates.io), only when something is
# missing. Usage: deps.sh test|bench|dist
set -eu
what=${1:-test}

need_pkgs=""
want() { # want COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need_pkgs="$need_pkgs $2"
}

# Release files, the .deb and the man page's checks (make dist/deb, and
# tests/release.rs in make test).
want_dist() {
	want jq jq
	want readelf binutils
	want git git
	want dpkg-deb dpkg
	want lintian lintian
	want mandoc mandoc
	want groff groff-base
	want gzip gzip
}

case "$what" in
dist) want_dist ;;
test)
	want_dist
	want python3 python3-minimal
	want unshare util-linux
	want nsenter util-linux
	want ip iproute2
	want ping iputils-ping
	want busybox busybox-static
	want mount mount
	want runc runc
	want podman podman
	want qemu-system-x86_64 qemu-system-x86
	# The cross binaries' smoke tests (tests/cross.rs) and the arm64 VM.
	for a in aarch64 arm i386 riscv64 ppc64le s390x; do
		want qemu-$a-static qemu-user-static
	done
	want qemu-system-aarch64 qemu-system-arm
	want cpio cpio
	want readelf binutils
	want mkfs.ext4 e2fsprogs
	want debugfs e2fsprogs
	want depmod kmod
	# Docker Engine and containerd for tests/docker.rs, which runs its own
	# private daemons; a newer docker client earlier in PATH is fine (it
	# negotiates the daemon's API version).
	want dockerd docker.io
	want containerd containerd
	want ctr containerd
	want jq jq
	want python3 python3
	;;
bench)
	want tini-static tini
	want dumb-init dumb-init
	want catatonit catatonit
	want unshare util-linux
	want ip iproute2
	want cc "gcc libc6-dev"
	want strip binutils
	want qemu-system-x86_64 qemu-system-x86
	want busybox busybox-static
	want cpio cpio
	want depmod kmod
	;;
*) echo "usage: $0 test|bench|dist" >&2; exit 2 ;;
esac

if [ -n "$need_pkgs" ]; then
	echo "deps: installing$need_pkgs" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "deps: need root to apt-get install$need_pkgs" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# Packages with a daemon (docker.io, containerd) would start the host's
	# own on install, with its bridge and firewall rules; the tests start
	# private ones, so service starts are refused while installing.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null || {
		[ -z "$policy" ] || rm -f "$policy"
		exit 1
	}
	[ -z "$policy" ] || rm -f "$policy"
fi

if [ "$what" = test ] || [ "$what" = dist ]; then
	sh scripts/sbom.sh --install
fi

if [ "$what" = test ]; then
	# cloud-init imports yaml; the rest of it is unpacked below.
	python3 -c 'import yaml' 2>/dev/null || {
		[ "$(id -u)" = 0 ] || { echo "deps: need root to apt-get install python3-yaml" >&2; exit 1; }
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null
	}
	# Debian's cloud-init, unpacked and never installed: its SmartOS
	# metadata client checks the test metadata service (tests/zones.rs).
	ci=.cache/cloud-init
	if [ ! -d $ci/usr/lib/python3/dist-packages/cloudinit ]; then
		echo "deps: unpacking cloud-init into $ci" >&2
		rm -rf $ci.tmp && mkdir -p $ci.tmp/debs
		(cd $ci.tmp/debs && apt-get download cloud-init python3-serial python3-configobj >/dev/null 2>&1) || {
			apt-get update -qq >/dev/null
			(cd $ci.tmp/debs && apt-get download cloud-init python3-serial python3-configobj >/dev/null)
		}
		for d in $ci.tmp/debs/*.deb; do dpkg -x "$d" $ci.tmp; done
		rm -rf $ci.tmp/debs $ci && mv $ci.tmp $ci
	fi
fi

if [ "$what" != dist ] && [ -x scripts/kernel.sh ]; then
	sh scripts/kernel.sh
	[ "$what" != test ] || sh scripts/kernel.sh arm64
fi
exit 0
