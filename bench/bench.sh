#!/bin/sh
# pidone against tini-static, dumb-init, catatonit and no init at all, in
# one interleaved run: every measurement goes round the inits in turn (the
# starting one rotating), so the machine's noise falls on all of them alike.
#
# Usage: bench/bench.sh [PIDONE]     (make bench: after scripts/deps.sh bench)
# Env:   BENCH_START_ROUNDS (10) x BENCH_START_RUNS (250) start-up runs,
#        BENCH_TERM_ROUNDS (10) x BENCH_TERM_RUNS (30) SIGTERM round trips,
#        BENCH_IDLE (10) idle seconds, BENCH_ORPHAN_ROUNDS (5) x
#        BENCH_ORPHANS (10000) orphans, BENCH_RT (1): run the timed rounds
#        (all but the idle one) pinned to the last CPU at SCHED_FIFO
#        priority 10, so the machine's other load cannot preempt them.
# Needs root (pid namespaces) and a C compiler for the driver.
# Prints a markdown table; also kept in target/bench/latest.md.
set -eu

pidone=$(realpath "${1:-target/pidone}")
start_rounds=${BENCH_START_ROUNDS:-10}
start_runs=${BENCH_START_RUNS:-250}
term_rounds=${BENCH_TERM_ROUNDS:-10}
term_runs=${BENCH_TERM_RUNS:-30}
idle_secs=${BENCH_IDLE:-10}
orphan_rounds=${BENCH_ORPHAN_ROUNDS:-5}
orphans=${BENCH_ORPHANS:-10000}
rt=${BENCH_RT:-1}

fail() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root, for pid namespaces"
[ -x "$pidone" ] || fail "no $pidone: run make build first"
peer() { command -v "$1" 2>/dev/null || fail "$1 not found: run sh scripts/deps.sh bench (Debian package $2)"; }
tini=$(peer tini-static tini)
dumb=$(peer dumb-init dumb-init)
cata=$(peer catatonit catatonit)
cc=$(command -v cc || command -v gcc || true)
[ -n "$cc" ] || fail "no C compiler for the driver: apt-get install gcc libc6-dev"

out=target/bench
mkdir -p "$out"
work=$(mktemp -d /tmp/bench-pidone.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
driver=$out/pidbench
"$cc" -O2 -Wall -o "$driver" bench/pidbench.c || fail "cannot build the driver"
driver=$(realpath "$driver")

# Pinned and real-time for the timed rounds: on a shared machine ordinary
# load otherwise decides the medians (p90 of 8 ms against 1 ms here). The
# rounds are sequential, so they hold one CPU; the kernel's real-time
# throttling still leaves it 5 % for others.
timed=""
mode="ordinary scheduling"
if [ "$rt" = 1 ] && command -v chrt >/dev/null && command -v taskset >/dev/null; then
	cpu=$(($(nproc) - 1))
	timed="taskset -c $cpu chrt -f 10"
	mode="timed rounds pinned to CPU $cpu at SCHED_FIFO 10"
fi

# name | init argv (the command follows it). "direct" has no init.
names="direct pidone tini-static dumb-init catatonit"
inits="pidone tini-static dumb-init catatonit"
argv_of() {
	case $1 in
	direct) ;;
	pidone) echo "$pidone --" ;;
	tini-static) echo "$tini --" ;;
	dumb-init) echo "$dumb" ;;
	catatonit) echo "$cata --" ;;
	esac
}
bin_of() { set -- $(argv_of "$1"); echo "${1:-}"; }

# The list rotated by $1 places, so no init always runs first in a round.
rotate() {
	k=$1; shift
	n=$#
	i=0
	while [ $i -lt $n ]; do
		j=$(( (i + k) % n + 1 ))
		eval "printf '%s ' \"\${$j}\""
		i=$((i + 1))
	done
}

# median FILE [COLUMN]
median() { awk -v c="${2:-1}" '{print $c}' "$1" | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
count() { wc -l <"$1" | tr -d ' '; }

load() { cut -d' ' -f1 /proc/loadavg; }
load0=$(load)
elapsed0=$(date +%s)
echo "bench: start + exit of /bin/true as PID 1 of a new pid namespace, $start_rounds x $start_runs runs each" >&2
r=0
while [ $r -lt "$start_rounds" ]; do
	for n in $(rotate $r $names); do
		# shellcheck disable=SC2046
		$timed "$driver" start "$start_runs" -- $(argv_of "$n") >>"$work/start.$n" || fail "start-up runs under $n failed"
	done
	r=$((r + 1))
done

echo "bench: SIGTERM round trips, $term_rounds x $term_runs each" >&2
r=0
while [ $r -lt "$term_rounds" ]; do
	for n in $(rotate $r $names); do
		# shellcheck disable=SC2046
		$timed "$driver" term "$term_runs" -- $(argv_of "$n") >>"$work/term.$n" || fail "SIGTERM round trips under $n failed"
	done
	r=$((r + 1))
done

# Before the orphan rounds, whose 10,000 processes count in the load.
load1=$(load)
echo "bench: ${idle_secs} idle seconds, all inits side by side" >&2
for n in $inits; do
	# shellcheck disable=SC2046
	"$driver" idle "$idle_secs" -- $(argv_of "$n") >"$work/idle.$n" &
done
wait

echo "bench: $orphans orphans handed to PID 1 at once, $orphan_rounds rounds" >&2
$timed "$driver" orphans "$orphans" -- >"$work/orph.direct" || fail "orphans without an init failed"
r=0
while [ $r -lt "$orphan_rounds" ]; do
	for n in $(rotate $r $inits); do
		# shellcheck disable=SC2046
		$timed "$driver" orphans "$orphans" -- $(argv_of "$n") >>"$work/orph.$n" || fail "orphans under $n failed"
	done
	r=$((r + 1))
done

# Figures, one file per (figure, name) holding a single value.
direct_start=$(median "$work/start.direct")
for n in $names; do
	median "$work/start.$n" >"$work/v.start.$n"
	awk -v d="$direct_start" '{printf "%.0f\n", $1 - d}' "$work/v.start.$n" >"$work/v.over.$n"
	median "$work/start.$n" 2 >"$work/v.cpu.$n"
	median "$work/term.$n" >"$work/v.term.$n"
	echo "$(count "$work/start.$n")" >"$work/v.nstart.$n"
done
for n in $inits; do
	read -r ctxt rss anon <"$work/idle.$n"
	echo "$ctxt" >"$work/v.wake.$n"
	echo "$rss" >"$work/v.rss.$n"
	echo "$anon" >"$work/v.anon.$n"
	# Drain time in ms; "never" when zombies were left.
	if grep -q never "$work/orph.$n"; then
		echo never >"$work/v.drain.$n"
	else
		awk '{print $1}' "$work/orph.$n" | sort -n | awk '{v[NR]=$1} END {printf "%.1f\n", v[int((NR+1)/2)] / 1000}' >"$work/v.drain.$n"
	fi
	awk 'BEGIN {m=0} {if ($2 > m) m=$2} END {print m}' "$work/orph.$n" >"$work/v.zomb.$n"
	bin=$(bin_of "$n")
	if command -v strip >/dev/null 2>&1; then
		strip -o "$work/stripped" "$bin" 2>/dev/null || cp "$bin" "$work/stripped"
	else
		cp "$bin" "$work/stripped"
	fi
	# A dynamic binary's size leaves out its libraries: shown, not compared.
	if readelf -d "$bin" 2>/dev/null | grep -q 'Dynamic section'; then
		echo "$(stat -c %s "$work/stripped") (dynamic)" >"$work/v.size.$n"
	else
		stat -c %s "$work/stripped" >"$work/v.size.$n"
	fi
done
awk '{print $2}' "$work/orph.direct" >"$work/v.zomb.direct"
echo never >"$work/v.drain.direct"

val() { if [ -f "$work/v.$1.$2" ]; then cat "$work/v.$1.$2"; else echo "—"; fi; }
# pidone's value over the best (lowest) peer's.
ratio() {
	best=$(for n in tini-static dumb-init catatonit; do val "$1" "$n"; done |
		awk '$0 ~ /^-?[0-9.]+$/ {if (b == "" || $1 < b) b = $1} END {print b}')
	mine=$(val "$1" pidone)
	awk -v m="$mine" -v b="$best" 'BEGIN {
		if (m !~ /^-?[0-9.]+$/ || b == "") print "—";
		else if (b == 0 && m == 0) print "equal";
		else if (b == 0) print "worse";
		else printf "%.2f×\n", m / b }'
}
row() { # row FIGURE LABEL
	printf '| %s |' "$2"
	for n in $names; do printf ' %s |' "$(val "$1" "$n")"; done
	printf ' %s |\n' "$(ratio "$1")"
}

busy=$(awk -v a="$load0" -v b="$load1" -v n="$(nproc)" 'BEGIN {print (a > n || b > n) ? 1 : 0}')
machine="$(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
{
	echo "Machine: $machine; load average $load0 → $load1; $mode; $(date -u +%Y-%m-%d). Medians; ratio = pidone ÷ best of tini-static, dumb-init, catatonit (lower is better)."
	echo
	echo "| figure | direct (no init) | pidone | tini-static | dumb-init | catatonit | pidone vs best peer |"
	echo "|---|---|---|---|---|---|---|"
	row start "start + exit of \`/bin/true\` as PID 1, µs/run ($(val nstart pidone) runs each)"
	row over "… overhead over direct, µs"
	row cpu "… CPU time of PID 1 and the command (wait4 rusage), µs/run"
	row term "SIGTERM → command traps it and exits → init gone, µs"
	row wake "wake-ups (context switches) in ${idle_secs} idle s"
	row rss "resident memory while idle (VmRSS), KiB"
	row anon "… of which private (RssAnon; the rest is the binary's pages), KiB"
	row size "stripped binary, bytes"
	row drain "reap $orphans orphaned zombies: drain time, ms"
	row zomb "… zombies left"
} >"$out/latest.md"
cat "$out/latest.md"
if [ "$busy" = 1 ]; then
	echo "bench: WARNING: the machine was busy (load average $load0 at the start, $load1 after the SIGTERM rounds, $(nproc) CPUs): figures are noisier than on a quiet machine" >&2
fi
echo "bench: done in $(( $(date +%s) - elapsed0 )) s; table in $out/latest.md" >&2
