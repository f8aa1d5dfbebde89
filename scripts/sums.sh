#!/bin/sh
# SHA256SUMS of every file in DIR (but itself), sorted by name; check with
# `sha256sum -c SHA256SUMS` in that directory.
set -eu
cd "$1"
export LC_ALL=C
find . -maxdepth 1 -type f ! -name SHA256SUMS | sed 's|^\./||' | sort |
	xargs sha256sum >SHA256SUMS.tmp
mv SHA256SUMS.tmp SHA256SUMS
echo "dist: $1/SHA256SUMS ($(wc -l <SHA256SUMS) files)"
