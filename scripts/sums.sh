#!/bin/sh
# SHA256SUMS of every file in DIR (but itself), sorted by name; check with
# `sha256sum -c SHA256SUMS` in that directory.
set -eu
cd "$1"
export LC_ALL=C
# The list first: the file being written must not be in it.
files=$(find . -maxdepth 1 -type f ! -name SHA256SUMS ! -name SHA256SUMS.tmp | sed 's|^\./||' | sort)
# shellcheck disable=SC2086
sha256sum $files >SHA256SUMS.tmp
mv SHA256SUMS.tmp SHA256SUMS
echo "dist: $1/SHA256SUMS ($(wc -l <SHA256SUMS) files)"
