#!/bin/sh
# One Debian package per binary in $DIST (made by scripts/dist.sh):
# $DIST/pidone_VERSION_DEBARCH.deb with /usr/bin/pidone (where the
# README's Docker init-path and podman init_path recipes point), the man
# page and the documentation; then SHA256SUMS again. Dates are the
# commit's, owners root, so the same commit gives the same package.
set -eu
DIST=${DIST:-dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
: "${SOURCE_DATE_EPOCH:=$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export SOURCE_DATE_EPOCH
export LC_ALL=C TZ=UTC
# The commit's author unless told otherwise.
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null)}
[ -n "$maintainer" ] || { echo "deb: no git author; set DEB_MAINTAINER='Name <mail>'" >&2; exit 1; }

debarch() {
	case $1 in
	x86_64) echo amd64 ;;
	aarch64) echo arm64 ;;
	armv7l) echo armhf ;;
	i686) echo i386 ;;
	riscv64) echo riscv64 ;;
	ppc64le) echo ppc64el ;;
	s390x) echo s390x ;;
	*) return 1 ;;
	esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
made=0
for bin in "$DIST"/pidone-*; do
	a=${bin##*/pidone-}
	arch=$(debarch "$a") || continue # the tarballs and the SBOM
	r="$tmp/$arch"
	doc="$r/usr/share/doc/pidone"
	mkdir -p "$r/DEBIAN" "$r/usr/bin" "$r/usr/share/man/man8" "$doc/docs" \
		"$r/usr/share/lintian/overrides"
	install -m 0755 "$bin" "$r/usr/bin/pidone"
	gzip -9n <man/pidone.8 >"$r/usr/share/man/man8/pidone.8.gz"
	install -m 0644 README.md "$doc/"
	install -m 0644 docs/*.md "$doc/docs/"
	# A native package: its changelog is changelog.gz.
	{
		echo "pidone ($version) unstable; urgency=medium"
		echo
		echo "  * Release $version, built from the upstream tree."
		echo
		echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
	} | gzip -9n >"$doc/changelog.gz"
	{
		echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
		echo "Upstream-Name: pidone"
		echo
		echo "Files: *"
		echo "Copyright: 2026 The pidone authors"
		echo "License: MIT"
		sed -n '/^Permission/,$p' LICENSE | sed 's/^$/./; s/^/ /'
	} >"$doc/copyright"
	# An init must not depend on a C library in the image: static on purpose.
	echo "pidone: statically-linked-binary [usr/bin/pidone]" \
		>"$r/usr/share/lintian/overrides/pidone"
	(cd "$r" && find usr -type f | sort | xargs md5sum) >"$r/DEBIAN/md5sums"
	size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
	cat >"$r/DEBIAN/control" <<EOF
Package: pidone
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Section: admin
Priority: optional
Description: small static init for containers, zones and minimal VMs
 pidone runs first in a container (Docker's and podman's --init, the
 classic /.dockerinit), as a zone's init reading entrypoint/cmd metadata,
 or as /init of a minimal virtual machine. It starts the command, reaps
 every zombie, forwards signals, and when the command ends gives the
 other processes a grace period before it exits with the command's
 status. It speaks tini's and dumb-init's options under their names.
EOF
	find "$r" -type d -exec chmod 0755 {} +
	chmod 0644 "$r/DEBIAN/control" "$r/DEBIAN/md5sums"
	find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	out="$DIST/pidone_${version}_$arch.deb"
	dpkg-deb --root-owner-group -Zxz --build "$r" "$out" >/dev/null
	echo "deb: $out"
	made=$((made + 1))
done
[ "$made" -gt 0 ] || { echo "deb: no binaries in $DIST; run make dist" >&2; exit 1; }
sh scripts/sums.sh "$DIST"
