#!/bin/sh
# The image context in $DIST/image: image/Dockerfile and each binary of
# $DIST at its Docker platform's path (linux/amd64/pidone, ...). Then, with
# a docker client, `pidone:VERSION` and `pidone` for this machine's
# platform. A multi-arch image from the same context (buildx, a registry):
#   docker buildx build --platform "$(cat $DIST/image/platforms)" \
#     -t REGISTRY/pidone:VERSION --push $DIST/image
set -eu
DIST=${DIST:-dist}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

platform() {
	case $1 in
	x86_64) echo linux/amd64 ;;
	aarch64) echo linux/arm64 ;;
	armv7l) echo linux/arm/v7 ;;
	i686) echo linux/386 ;;
	riscv64) echo linux/riscv64 ;;
	ppc64le) echo linux/ppc64le ;;
	s390x) echo linux/s390x ;;
	*) return 1 ;;
	esac
}

ctx="$DIST/image"
rm -rf "$ctx"
mkdir -p "$ctx"
cp image/Dockerfile "$ctx/"
list=""
for bin in "$DIST"/pidone-*; do
	p=$(platform "${bin##*/pidone-}") || continue
	mkdir -p "$ctx/$p"
	install -m 0755 "$bin" "$ctx/$p/pidone"
	list="${list:+$list,}$p"
done
echo "$list" >"$ctx/platforms"
echo "image: context $ctx for $list"

host=$(platform "$(uname -m)")
if ! command -v docker >/dev/null 2>&1; then
	echo "image: no docker client; build with: docker build --build-arg TARGETPLATFORM=$host -t pidone $ctx" >&2
	exit 1
fi
docker build -q --build-arg TARGETPLATFORM="$host" -t "pidone:$version" -t pidone "$ctx"
echo "image: pidone:$version ($host)"
