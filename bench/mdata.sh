#!/bin/sh
# Metadata from the zone's metadata service against the same keys in a
# file: whole runs of `pidone --metadata SOURCE` starting `true`, with the
# ~15 keys of a typical docker zone, interleaved (file, socket, file, ...)
# so the machine's noise falls on both. The service is the test service
# (tests/mdata_service.py, Python): its own latency is in the figure.
# pidone's log gives the fetch alone ("N of M keys in U us": connect,
# NEGOTIATE and one GET per key pidone reads, by its in-process clock).
# Usage: bench/mdata.sh [path/to/pidone]   (root: a private mount and UTS
# namespace, so the log, status file and hostname stay in it)
set -eu
BIN=$(readlink -f "${1:-target/pidone}")
ROUNDS=${MDATA_ROUNDS:-100}
[ "$(id -u)" = 0 ] || { echo "bench/mdata.sh: needs root (namespaces)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/mdata.sh: needs python3 (apt-get install python3)" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "${PDM_BENCH_INSIDE:-}" ]; then
	exec unshare --mount --uts --propagation private env PDM_BENCH_INSIDE=1 sh "$0" "$BIN"
fi
TMP=$(mktemp -d /tmp/pdm-bench.XXXXXX)
cleanup() {
	[ -n "${SVC:-}" ] && kill "$SVC" 2>/dev/null || true
	umount /var/log 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
mkdir "$TMP/log" && mount --bind "$TMP/log" /var/log

# A docker zone's keys, as SmartOS stores them (strings of JSON text);
# pidone:hosts false keeps the machine's /etc/hosts and resolv.conf out.
cat >"$TMP/keys.json" <<'EOF'
{"docker:entrypoint": "[\"/bin/sh\", \"-c\"]", "docker:cmd": "[\"true\"]",
 "docker:env": "[\"PATH=/usr/bin:/bin\", \"LANG=C.UTF-8\", \"APP_MODE=production\", \"APP_PORT=8080\"]",
 "docker:linkEnv": "[\"DB_PORT=tcp://10.0.0.5:5432\"]", "docker:user": "0", "docker:workdir": "/",
 "docker:tty": "false", "docker:open_stdin": "false", "docker:noipmgmtd": "false",
 "sdc:hostname": "bench-zone", "sdc:resolvers": "[\"192.0.2.53\"]", "docker:dnssearch": "[\"example.com\"]",
 "docker:extraHosts": "[\"db:10.0.0.5\"]", "docker:linkHosts": "10.0.0.6\tcache\n",
 "docker:id": "3fa2c0de9b1e4a7d8c6f5e4d3c2b1a0f3fa2c0de9b1e4a7d8c6f5e4d3c2b1a0f",
 "pidone:hosts": "false", "pidone:console": ""}
EOF
python3 "$HERE/tests/mdata_service.py" --socket "$TMP/md.sock" --data "$TMP/keys.json" &
SVC=$!
i=0
while [ ! -S "$TMP/md.sock" ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || { echo "bench/mdata.sh: the test service did not start" >&2; exit 1; }
	sleep 0.01
done

now() { date +%s%N; }
: >"$TMP/file.t"
: >"$TMP/socket.t"
i=0
while [ $i -lt "$ROUNDS" ]; do
	for src in file socket; do
		if [ $src = file ]; then arg=$TMP/keys.json; else arg=socket:$TMP/md.sock; fi
		t0=$(now)
		"$BIN" --metadata "$arg" >/dev/null 2>"$TMP/err" || {
			echo "bench/mdata.sh: pidone --metadata $arg failed:" >&2
			cat "$TMP/err" >&2
			exit 1
		}
		echo $(($(now) - t0)) >>"$TMP/$src.t"
	done
	i=$((i + 1))
done

med() { sort -n "$1" | awk '{ t[NR] = $1 } END { printf "median %7.2f ms   best %7.2f ms", t[int((NR + 1) / 2)] / 1e6, t[1] / 1e6 }'; }
echo "metadata: ~15 keys of a docker zone, $ROUNDS interleaved runs each (pidone --metadata SOURCE, command true):"
echo "  file (the keys as one document)      $(med "$TMP/file.t")"
echo "  socket (the test service, V2)        $(med "$TMP/socket.t")"
grep -o 'keys in [0-9]* us' /var/log/pidone.log | awk '{ print $3 }' | sort -n |
	awk '{ t[NR] = $1 } END { printf "  of which the fetch (pidone'"'"'s clock)  median %7.2f ms   best %7.2f ms\n", t[int((NR + 1) / 2)] / 1e3, t[1] / 1e3 }'
