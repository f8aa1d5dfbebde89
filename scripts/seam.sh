#!/bin/sh
# The platform seam: no module above src/sys/ names a Linux-only item.
#   sh scripts/seam.sh        one line per offence (exit 1), else a summary
# Outside the OS parts src/sys/linux/ and src/sys/illumos/ (comments
# dropped, tests included; src/sys/mod.rs may choose by target_os), it
# refuses:
#   - any `cfg(target_os ...)` or `cfg_attr(target_os ...)`: choosing by OS is the seam's job alone;
#   - Linux-only names of libc and nix (raw syscalls, prctl, clone,
#     mount, reboot, netlink, packet sockets, capabilities, openat2,
#     signalfd, ...), from the list below;
#   - Linux-only paths in strings (/proc, /sys, /lib/modules, /dev/kmsg).
# The list is the fast check; the full one is the compiler's: `make lint`
# also builds for x86_64-unknown-illumos, where every libc/nix item named
# above the seam must exist, since nothing there is chosen by cfg.
set -eu
cd "$(dirname "$0")/../src"
python3 - <<'PY'
import os, re, sys
LINUX_ONLY = [
    r'cfg(?:_attr)?\s*\(\s*(?:not\s*\(\s*|any\s*\(\s*|all\s*\(\s*)*target_os',
    r'\blibc::(?:syscall|SYS_\w+|prctl|PR_\w+|clone|CLONE_\w+|reboot|RB_\w+|mount|umount2?|MNT_\w+|MS_\w+'
    r'|statfs|O_PATH|RESOLVE_\w+|AF_NETLINK|NETLINK_\w+|sockaddr_nl|AF_PACKET|sockaddr_ll|ETH_P_\w+'
    r'|setresuid|setresgid|getauxval|AT_PH\w+|CLOCK_\w+_COARSE|SIGSTKFLT|signalfd|SFD_\w+'
    r'|CLOSE_RANGE_\w+|inotify_\w+|IN_\w+|epoll_\w+|EPOLL\w+|eventfd|memfd_create|pidfd_\w+'
    r'|PROC_SUPER_MAGIC|TIOCSCTTY_LINUX|capget|capset|unshare|setns|pivot_root|sched_\w+)\b',
    r'\bnix::(?:mount|kmod|sched|sys::(?:reboot|signalfd|inotify|epoll|eventfd|memfd|prctl|statfs))\b',
    r'\b(?:MsFlags|finit_module|openat2|RTM_NEW\w+|IFLA_\w+|NLM_F_\w+)\b',
    r'"/(?:proc|sys)(?:/[^"]*)?"',
    r'"/lib/modules[^"]*"',
    r'"/dev/kmsg"',
]
pat = re.compile('|'.join('(?:%s)' % p for p in LINUX_ONLY))
bad, files = [], 0
for root, dirs, names in os.walk('.'):
    # The OS parts; the seam's own neutral files (sys/mod.rs, sys/files.rs)
    # are checked like the rest, but sys/mod.rs alone chooses by target_os.
    if root.startswith('./sys/'):
        continue
    for n in sorted(names):
        if not n.endswith('.rs'):
            continue
        files += 1
        path = os.path.join(root, n)[2:]
        for i, line in enumerate(open(path), 1):
            code = re.sub(r'//.*', '', line)
            for m in pat.finditer(code):
                if path == 'sys/mod.rs' and 'target_os' in m.group(0):
                    continue
                bad.append('%s:%d: %s' % (path, i, m.group(0)))
for b in bad:
    print('seam: Linux-only outside src/sys/{linux,illumos}/: ' + b, file=sys.stderr)
if bad:
    sys.exit(1)
print('seam: %d files outside src/sys/{linux,illumos}/, no Linux-only name' % files)
PY
