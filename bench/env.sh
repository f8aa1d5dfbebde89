#!/bin/sh
# The environment merge on hostile sizes: a whole metadata run (parse,
# set up, start and reap `true`) with 100,000 `Env` entries against the
# same run with 10, median of BENCH_ENV_RUNS (5) each. The difference is
# what 99,990 entries cost (JSON, split, merge, argv/envp); the image
# decides that number, so it must stay linear (issue 10: well under
# 100 ms). Log and status go to a scratch /var/log in a private mount
# namespace.
# Usage: bench/env.sh [path/to/pidone]   (root: pid and mount namespaces)
set -eu
BIN=$(readlink -f "${1:-target/pidone}")
RUNS=${BENCH_ENV_RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/env.sh: needs root (namespaces)" >&2; exit 1; }
if [ -z "${PDE_BENCH_INSIDE:-}" ]; then
	exec unshare --mount --propagation private env PDE_BENCH_INSIDE=1 sh "$0" "$BIN"
fi
TMP=$(mktemp -d /tmp/pde-bench.XXXXXX)
trap 'umount /var/log 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
mkdir "$TMP/log" && mount --bind "$TMP/log" /var/log

doc() { # doc N FILE: a metadata document with N Env entries (names A0..)
	awk -v n="$1" 'BEGIN {
		printf "{\"Cmd\": [\"true\"], \"pidone:console\": \"\", \"Env\": ["
		for (i = 0; i < n; i++) printf "%s\"A%d=\"", (i ? "," : ""), i
		print "]}" }' >"$2"
}
doc 10 "$TMP/small.json"
doc 100000 "$TMP/large.json"

now() { date +%s%N; }
median_ms() { # median_ms DOC
	: >"$TMP/t"
	i=0
	while [ $i -lt "$RUNS" ]; do
		t0=$(now)
		unshare --pid --fork --mount-proc "$BIN" --metadata "$1" >/dev/null 2>&1 ||
			{ echo "bench/env.sh: pidone failed on $1" >&2; exit 1; }
		t1=$(now)
		echo $(((t1 - t0) / 1000)) >>"$TMP/t"
		i=$((i + 1))
	done
	sort -n "$TMP/t" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'
}
small=$(median_ms "$TMP/small.json")
large=$(median_ms "$TMP/large.json")
# pidone's own clock around the merge (the last run's log line).
merge=$(sed -n 's/.*env: \([0-9]*\) entries merged in \([0-9]*\) us$/\2/p' /var/log/pidone.log | tail -n 1)
echo "| environment merge (whole metadata run, median of $RUNS) | ms |"
echo "|---|---|"
echo "| 10 Env entries | $small |"
echo "| 100,000 Env entries ($(stat -c %s "$TMP/large.json") byte document) | $large |"
echo "| cost of 99,990 entries (parse, merge, exec of \`true\` with them) | $(awk -v a="$large" -v b="$small" 'BEGIN { printf "%.1f", a - b }') |"
echo "| the merge of 100,000 alone (pidone's log) | $(awk -v u="${merge:-0}" 'BEGIN { printf "%.1f", u / 1000 }') |"
