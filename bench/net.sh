#!/bin/sh
# Network configuration: pidone's rtnetlink stage against `ip -batch` doing
# the same work, in the same run, in throw-away network namespaces.
#   1. one NIC: address, MTU, link up, default gateway, three routes
#   2. 100 interfaces (dummy, or veth where the kernel has no dummy), each
#      with an address, up, and a route
# pidone's figure is a whole run (`--metadata` document, configure, start
# and reap `true`); "pidone, no network" is that run without the network,
# and pidone's own log gives the network stage's time alone (its in-process
# clock, without process start-up). State is reset (untimed)
# before every run so each one does the full work.
# Usage: bench/net.sh [path/to/pidone]   (root; iproute2)
set -eu
BIN=$(readlink -f "${1:-target/pidone}")
ROUNDS1=${ROUNDS1:-30}
ROUNDS2=${ROUNDS2:-10}
[ "$(id -u)" = 0 ] || { echo "bench/net.sh: needs root (network namespaces)" >&2; exit 1; }
command -v ip >/dev/null || { echo "bench/net.sh: needs ip (apt-get install iproute2)" >&2; exit 1; }

# Everything runs inside one fresh network namespace (re-entered below),
# so no run pays for `ip netns exec`.
if [ -z "${PDN_BENCH_INSIDE:-}" ]; then
	NS=pdn-bench-$$
	ip netns add "$NS"
	trap 'ip netns del "$NS" 2>/dev/null || true' EXIT INT TERM
	ip netns exec "$NS" env PDN_BENCH_INSIDE=1 sh "$0" "$BIN"
	exit
fi
TMP=$(mktemp -d /tmp/pdn-bench.XXXXXX)
trap 'umount /var/log 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
# pidone's log and status files go to a scratch /var/log, in the mount
# namespace `ip netns exec` made for us, not the machine's.
mkdir "$TMP/log" && mount --bind "$TMP/log" /var/log

now() { date +%s%N; }
# time_runs NAME ROUNDS RESET_CMD RUN_CMD: median and best of the runs.
time_runs() {
	name=$1 rounds=$2 reset=$3 cmd=$4
	: >"$TMP/times"
	i=0
	while [ $i -lt "$rounds" ]; do
		sh -c "$reset" >/dev/null 2>&1 || true
		t0=$(now)
		sh -c "$cmd" >/dev/null 2>"$TMP/err" || { echo "bench/net.sh: '$name' failed:" >&2; cat "$TMP/err" >&2; exit 1; }
		echo $(( $(now) - t0 )) >>"$TMP/times"
		i=$((i + 1))
	done
	sort -n "$TMP/times" | awk -v n="$name" '{ t[NR] = $1 } END {
		printf "  %-36s median %7.2f ms   best %7.2f ms\n", n, t[int((NR + 1) / 2)] / 1e6, t[1] / 1e6 }'
}
in_ns() { "$@"; }
# stage_time NAME: median of the network stage's own time, from pidone's log
# lines "network: ... done in N us" (its in-process clock).
stage_time() {
	grep -o 'done in [0-9]* us' "$TMP/log/pidone.log" | awk '{ print $3 }' | sort -n |
		awk -v n="$1" '{ t[NR] = $1 } END {
			printf "  %-36s median %7.2f ms   best %7.2f ms\n", n, t[int((NR + 1) / 2)] / 1e3, t[1] / 1e3 }'
	: >"$TMP/log/pidone.log"
}

time_runs "(sh -c true, the harness itself)" "$ROUNDS1" ":" "true"

# --- 1. one NIC ---------------------------------------------------------
in_ns ip link add pdnb0 type veth peer name pdnb0p
in_ns ip link set pdnb0p up
cat >"$TMP/one.json" <<'EOF'
{"docker:cmd": "[\"true\"]", "pidone:console": "",
 "sdc:nics": "[{\"interface\": \"pdnb0\", \"ip\": \"10.123.0.2\", \"netmask\": \"255.255.255.0\", \"primary\": true, \"gateway\": \"10.123.0.1\", \"mtu\": 1400}]",
 "sdc:routes": "[{\"dst\": \"10.124.0.0/16\", \"gateway\": \"10.123.0.1\"}, {\"dst\": \"10.125.0.0/16\", \"gateway\": \"10.123.0.1\"}, {\"dst\": \"10.126.0.0/16\", \"gateway\": \"10.123.0.1\"}]"}
EOF
cat >"$TMP/none.json" <<'EOF'
{"docker:cmd": "[\"true\"]", "pidone:console": ""}
EOF
cat >"$TMP/one.batch" <<'EOF'
link set lo up
link set pdnb0 mtu 1400
addr add 10.123.0.2/24 dev pdnb0
link set pdnb0 up
route add default via 10.123.0.1 dev pdnb0
route add 10.124.0.0/16 via 10.123.0.1
route add 10.125.0.0/16 via 10.123.0.1
route add 10.126.0.0/16 via 10.123.0.1
EOF
reset1="ip link set pdnb0 down; ip addr flush dev pdnb0; ip link set pdnb0 mtu 1500"
echo "one NIC (address, MTU, up, gateway, three routes), $ROUNDS1 runs each:"
time_runs "pidone, no network" "$ROUNDS1" "$reset1" "$BIN --metadata $TMP/none.json"
: >"$TMP/log/pidone.log"
time_runs "pidone --metadata (network + true)" "$ROUNDS1" "$reset1" "$BIN --metadata $TMP/one.json"
stage_time "  of which the network stage"
time_runs "ip -batch" "$ROUNDS1" "$reset1" "ip -batch $TMP/one.batch"
in_ns ip link del pdnb0

# --- 2. 100 interfaces --------------------------------------------------
if in_ns ip link add pdnbprobe type dummy 2>/dev/null; then
	in_ns ip link del pdnbprobe
	kind=dummy
else
	kind=veth
fi
i=0
nics="" routes="" : >"$TMP/many.batch"
echo "link set lo up" >>"$TMP/many.batch"
while [ $i -lt 100 ]; do
	if [ $kind = dummy ]; then
		in_ns ip link add pdnd$i type dummy
	else
		in_ns ip link add pdnd$i type veth peer name pdnp$i
	fi
	sep=${nics:+,}
	nics="$nics$sep{\\\"interface\\\": \\\"pdnd$i\\\", \\\"ips\\\": [\\\"10.$((100 + i / 100)).$i.2/24\\\"]}"
	routes="$routes$sep{\\\"dst\\\": \\\"10.200.$i.0/24\\\", \\\"gateway\\\": \\\"10.$((100 + i / 100)).$i.1\\\"}"
	printf 'addr add 10.%d.%d.2/24 dev pdnd%d\nlink set pdnd%d up\n' $((100 + i / 100)) $i $i $i >>"$TMP/many.batch"
	i=$((i + 1))
done
i=0
while [ $i -lt 100 ]; do
	printf 'route add 10.200.%d.0/24 via 10.%d.%d.1\n' $i $((100 + i / 100)) $i >>"$TMP/many.batch"
	i=$((i + 1))
done
printf '{"docker:cmd": "[\\"true\\"]", "pidone:console": "", "sdc:nics": "[%s]", "sdc:routes": "[%s]"}\n' "$nics" "$routes" >"$TMP/many.json"
reset2="for d in \$(ls /sys/class/net | grep '^pdnd'); do ip link set \$d down; ip addr flush dev \$d; done"
echo "100 $kind interfaces (address, up, one route each), $ROUNDS2 runs each:"
time_runs "pidone --metadata (network + true)" "$ROUNDS2" "$reset2" "$BIN --metadata $TMP/many.json"
stage_time "  of which the network stage"
time_runs "ip -batch" "$ROUNDS2" "$reset2" "ip -batch $TMP/many.batch"
