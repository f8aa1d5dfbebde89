#!/bin/sh
# `make run`: a short tour of pidone as PID 1 of a new pid namespace.
# Shows orphans reaped, a signal forwarded, the grace shutdown of a
# background process that traps SIGTERM, and the exit status passed on.
# Exits 0 when everything happened as shown.
#
# Usage: demo/demo.sh [PIDONE]   (root, or unprivileged user namespaces)
set -u

pidone=$(realpath "${1:-target/pidone}")
[ -x "$pidone" ] || { echo "demo: no $pidone: run make build first" >&2; exit 1; }
command -v unshare >/dev/null || { echo "demo: unshare missing: apt-get install util-linux" >&2; exit 1; }
ns="unshare --pid --fork --mount-proc"
[ "$(id -u)" = 0 ] || ns="unshare --user --map-root-user --pid --fork --mount-proc"
tmp=$(mktemp -d /tmp/demo-pidone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
check() { # check DESCRIPTION TEST...
	what=$1
	shift
	if "$@"; then
		echo "   ✓ $what"
		passed=$((passed + 1))
	else
		echo "   ✗ $what"
		failed=$((failed + 1))
	fi
}
scene() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# The host pid of pidone: the only child of the unshare process.
child_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{print $1}'; }
wait_for() { # wait_for FILE: up to 5 s
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -e "$1" ]
}

echo "pidone demo: $pidone ($(stat -c %s "$pidone") bytes, static)"
echo "Each scene runs: $ns pidone -- COMMAND"

scene "1. Orphans are adopted and reaped"
echo "   The command leaves 50 background sleeps behind by starting them from"
echo "   shells that exit at once. The kernel hands the orphans to PID 1 —"
echo "   pidone — which must collect their exit status or they stay zombies."
# shellcheck disable=SC2016
$ns "$pidone" -- sh -c '
	for i in $(seq 50); do sh -c "sleep 1 &"; done
	adopted=$(grep -l "^PPid:[[:space:]]*1\$" /proc/[0-9]*/status 2>/dev/null | grep -vc "^/proc/$$/")
	echo "   orphans now children of PID 1: $adopted"
	sleep 1.3
	zombies=$(grep -l "^State:[[:space:]]*Z" /proc/[0-9]*/status 2>/dev/null | wc -l)
	echo "   zombies left after they finished: $zombies"
	echo "$adopted $zombies" >'"$tmp"'/orphans'
read -r adopted zombies <"$tmp/orphans" || adopted=0 zombies=-1
check "50 orphans adopted by pidone" [ "$adopted" -eq 50 ]
check "no zombie left" [ "$zombies" -eq 0 ]

scene "2. A signal sent to PID 1 reaches the command"
echo "   As 'docker kill --signal USR1' does: SIGUSR1 goes to pidone from outside"
echo "   the namespace; pidone passes it on to the command, which traps it."
# shellcheck disable=SC2016
$ns "$pidone" -- sh -c '
	trap "echo \"   command: got SIGUSR1, exiting 0\"; exit 0" USR1
	touch '"$tmp"'/ready
	while :; do sleep 0.05; done' &
holder=$!
if wait_for "$tmp/ready"; then
	pid1=$(child_of "$holder")
	echo "   kill -USR1 $pid1   (pidone's pid outside the namespace)"
	kill -USR1 "$pid1"
fi
wait "$holder"
rc=$?
check "the command got SIGUSR1 and pidone exited with its status (0)" [ "$rc" -eq 0 ]

scene "3. The command exits; a background process gets a grace period"
echo "   The command exits with status 3 while a background job is still"
echo "   running. tini, dumb-init and catatonit exit at once and the kernel"
echo "   SIGKILLs what is left; pidone sends SIGTERM, waits up to --grace"
echo "   (3 s) while the job cleans up, then exits with the command's status."
start=$(date +%s%N)
# shellcheck disable=SC2016
$ns "$pidone" -v -- sh -c '
	(
		trap "echo \"   background: got SIGTERM, cleaning up for 0.5 s\"; sleep 0.5; echo \"   background: cleanup finished\"; exit 0" TERM
		while :; do sleep 0.05; done 2>/dev/null
	) &
	sleep 0.3
	echo "   command: exiting with status 3"
	exit 3' >"$tmp/grace" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
grep -E '^   (command|background):|^pidone: (INFO pid|INFO sending|WARN)' "$tmp/grace" | sed 's/^pidone:/   pidone:/'
echo "   pidone exited with status $rc after $ms ms"
check "the background job finished its cleanup" grep -q 'cleanup finished' "$tmp/grace"
check "nothing had to be SIGKILLed" sh -c "! grep -q SIGKILL '$tmp/grace'"
check "exit status 3 passed on" [ "$rc" -eq 3 ]

scene "4. 'docker stop': SIGTERM to PID 1, the command dies of it"
echo "   The command (sleep) does not trap SIGTERM, so it dies of the signal"
echo "   pidone forwards, and pidone reports it the shell's way: 128 + 15."
$ns "$pidone" -- sh -c "touch '$tmp/ready2'; exec sleep 30" &
holder=$!
if wait_for "$tmp/ready2"; then
	sleep 0.1 # let the shell exec sleep
	pid1=$(child_of "$holder")
	echo "   kill -TERM $pid1"
	kill -TERM "$pid1"
fi
wait "$holder"
rc=$?
echo "   pidone exited with status $rc"
check "status 143 (128 + SIGTERM)" [ "$rc" -eq 143 ]

echo
if [ "$failed" -eq 0 ]; then
	echo "demo: all $passed checks passed"
	exit 0
fi
echo "demo: $failed of $((passed + failed)) checks FAILED" >&2
exit 1
