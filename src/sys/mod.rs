//! The platform seam: every call that differs by operating system lives
//! below this module, one part per OS, chosen by `target_os`; everything
//! above it (parsers, plan, the stages' logic, the supervisor, the
//! metadata client) names only what this module exports and plain POSIX.
//! `scripts/seam.sh` checks that (part of `make lint`, which also
//! type-checks and lints the illumos build).
//!
//! Both parts export the same modules with the same items:
//!   signals   the signal mask, the wait, names and numbers
//!   process   reaper, parent-death signal, Ctrl-Alt-Del, the child's
//!             start, credentials, close-on-exec of inherited fds
//!   procfs    the process table, ancestors, the mount table
//!   caps      capability drops in the child
//!   net       interfaces, addresses and routes
//!   packet    the raw socket DHCP speaks through
//!   files     the link-refusing path walk's OS help
//!   boot      whether this is a machine's init, its command line
//!   mounts, modules, root, power   a machine's stages and its end
//!   resident  letting start-up pages go
//!   watch     inotify for `--on-change` (Linux only: refused elsewhere)
//!   notify    the readiness relay's sockets (Linux only: none elsewhere)
//! A machine (pidone as a kernel's init) is Linux's; on illumos those
//! stages fail with one `not supported on this OS` line (exit 125).
//!
//! The OS-neutral data they share (process records, interface records,
//! route specifications) is defined here once.

use std::net::IpAddr;

use crate::plan::Cidr;

pub mod files;

#[cfg(target_os = "linux")]
#[path = "linux/mod.rs"]
mod os;

#[cfg(target_os = "illumos")]
#[path = "illumos/mod.rs"]
mod os;

pub use os::*;

/// illumos' layouts as bytes: compiled everywhere so that its unit tests
/// run on Linux too (the illumos build itself only type-checks here).
#[cfg(any(test, target_os = "illumos"))]
#[path = "illumos/abi.rs"]
pub mod illumos_abi;

/// One process of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// The state letter: `T` is stopped by a signal, `Z` a zombie.
    pub state: char,
}

/// Every descendant of `root` in `all`, from the parent links.
pub fn descendants(root: i32, all: &[Proc]) -> Vec<Proc> {
    let mut found: Vec<Proc> = Vec::new();
    let mut parents = vec![root];
    let mut i = 0;
    while let Some(&p) = parents.get(i) {
        for c in all.iter().filter(|c| c.ppid == p) {
            parents.push(c.pid);
            found.push(*c);
        }
        i += 1;
    }
    found
}

/// An interface as the system lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
}

/// One route to add: destination, gateway, outgoing interface, and
/// whether the gateway is on the link although no address covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: Cidr,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub onlink: bool,
}

/// A network call that failed: errno and the system's own text, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    pub errno: i32,
    pub message: Option<String>,
}

impl NetError {
    /// "Already exists": counts as done.
    pub fn exists(&self) -> bool {
        self.errno == libc::EEXIST
    }

    pub fn io(e: std::io::Error) -> NetError {
        NetError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            message: None,
        }
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, " ({})", m)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_follow_parent_links() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            state: 'S',
        };
        let all = [p(1, 0), p(5, 2), p(2, 1), p(3, 2), p(4, 9), p(6, 3)];
        let d: Vec<i32> = descendants(2, &all).iter().map(|p| p.pid).collect();
        assert_eq!(d, [5, 3, 6]);
    }
}
