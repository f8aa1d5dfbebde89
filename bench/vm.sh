#!/bin/sh
# Boot to command under QEMU (TCG): Debian's stock kernel, an initramfs with
# pidone as /init and static busybox. Reports pidone's own share of the boot,
# from the kernel's "Run /init as init process" line to the command's first
# line in the kernel log, with module loading (virtio_pci + virtio_net and
# their dependencies) listed separately. Timestamps are the kernel's own
# (dmesg), so QEMU's and the kernel's start-up are not counted.
#
# Usage: bench/vm.sh [PIDONE]        (make bench)
# Env:   BENCH_VM_BOOTS (5) boots per configuration.
# Needs: qemu-system-x86_64, busybox (static), cpio, and the kernel cache
#        made by scripts/kernel.sh. Prints a markdown table; also kept in
#        target/bench/vm.md.
set -eu
cd "$(dirname "$0")/.."

pidone=$(realpath "${1:-target/pidone}")
boots=${BENCH_VM_BOOTS:-5}
fail() { echo "bench/vm: $*" >&2; exit 1; }
[ -x "$pidone" ] || fail "no $pidone: run make build first"
for t in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio; do
	command -v "${t%%:*}" >/dev/null || fail "${t%%:*} not found: apt-get install ${t#*:}"
done
sh scripts/kernel.sh
release=$(cat .cache/kernel/release)

work=$(mktemp -d /tmp/vm-bench.XXXXXX)
trap '[ -n "${BENCH_VM_KEEP:-}" ] || rm -rf "$work"' EXIT INT TERM
root=$work/root
mkdir -p "$root/bin" "$root/dev" "$root/lib/modules"
cp "$pidone" "$root/init"
cp "$(command -v busybox)" "$root/bin/busybox"
for a in sh echo dmesg grep mount poweroff; do ln -s busybox "$root/bin/$a"; done
cp -r ".cache/kernel/modules/lib/modules/$release" "$root/lib/modules/"
# The kernel's own initramfs already has /dev/console; add it when we can.
[ "$(id -u)" = 0 ] && mknod -m 600 "$root/dev/console" c 5 1
# The command stamps its start in the kernel log, then prints the milestones.
cat >"$root/bench.sh" <<'SCRIPT'
echo "<6>bench: command started" >/dev/kmsg
dmesg | grep -E "Run /init|pidone:|bench:"
SCRIPT
# The floor: a shell script as /init doing the least (exec + one mount).
cat >"$root/base.sh" <<'SCRIPT'
#!/bin/sh
mount -t devtmpfs dev /dev
echo "<6>bench: command started" >/dev/kmsg
dmesg | grep -E "Run /|bench:"
poweroff -f
SCRIPT
chmod +x "$root/base.sh"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initrd"
cmd="/bin/sh /bench.sh"

# boot none|mods|base -> prints "init mark modules cmd" in microseconds
# since boot
boot() {
	mods=""
	net="-nic none"
	[ "$1" = base ] && mods="rdinit=/base.sh"
	if [ "$1" = mods ]; then
		mods="pidone.modules=virtio_pci,virtio_net"
		net="-netdev user,id=vb0 -device virtio-net-pci,netdev=vb0,romfile="
	fi
	# shellcheck disable=SC2086
	timeout 120 qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nographic -no-reboot \
		-kernel .cache/kernel/vmlinuz -initrd "$work/initrd" $net \
		-append "console=ttyS0 quiet panic=-1 $mods -- $cmd" </dev/null |
		tr -d '\r' | awk '
		function us(line) { if (!match(line, /\[ *[0-9]+\.[0-9]+\]/)) return 0; line = substr(line, RSTART + 1, RLENGTH - 2); return int(line * 1000000 + 0.5) }
		/Run \/[a-z.]* as init process/ { init = us($0) }
		/pidone: starting the command/ { mark = us($0) }
		/pidone: modules: / { for (i = 1; i <= NF; i++) if ($i == "in") m = $(i + 1) }
		/bench: command started/ { cmd = us($0) }
		END { if (init == "" || cmd == "") exit 1; printf "%d %d %d %d\n", init, mark, m + 0, cmd }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

out=target/bench
mkdir -p "$out"
{
	echo "### Boot to command under QEMU (TCG, stock Debian kernel $release, $boots boots each, medians)"
	echo
	echo "| configuration | pidone to spawn | pidone to the command's first line | of which modules |"
	echo "|---|---|---|---|"
	for m in base none mods; do
		: >"$work/spawn"; : >"$work/first"; : >"$work/mods"
		i=0
		while [ $i -lt "$boots" ]; do
			r=$(boot $m) || fail "boot failed ($m)"
			set -- $r
			echo $(($2 - $1)) >>"$work/spawn"
			echo $(($4 - $1)) >>"$work/first"
			echo "$3" >>"$work/mods"
			i=$((i + 1))
		done
		case $m in
		base) printf "| floor: busybox sh script as /init (exec + 1 mount) | - | %s us | - |\n" "$(median <"$work/first")" ;;
		none) printf "| pidone, no modules | %s us | %s us | - |\n" "$(median <"$work/spawn")" "$(median <"$work/first")" ;;
		mods) printf "| pidone, virtio_pci + virtio_net (6 modules) | %s us | %s us | %s us |\n" \
			"$(median <"$work/spawn")" "$(median <"$work/first")" "$(median <"$work/mods")" ;;
		esac
	done
	echo
	echo "From the kernel's \"Run /init\" line (kernel timestamps). \"To spawn\" ends"
	echo "at pidone's last mark before fork+exec; \"first line\" includes exec'ing"
	echo "busybox sh. The floor row is the same path with no init of any kind:"
	echo "pidone's own share is the difference. TCG is many times slower than KVM."
} | tee "$out/vm.md"
