//! The launch description: everything one spawn needs, already resolved
//! (argv, envp, credentials, stdio). The setup stages build it for the
//! command, the daemon stage for each helper daemon; `spawn` and
//! `supervise` only read it.

use std::ffi::{CString, OsString};
use std::os::unix::io::RawFd;

use crate::error::{Error, Result, Stage};

/// Credentials the command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, primary gid included (as initgroups does).
    pub groups: Vec<u32>,
    pub home: Option<OsString>,
    pub name: Option<String>,
}

/// The command's standard descriptors, opened close-on-exec by the console
/// stage and moved to 0, 1, 2 in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Make stdin the controlling terminal of the child's new session.
    pub controlling_tty: bool,
}

/// Everything the spawn needs, resolved.
#[derive(Debug, Clone)]
pub struct Launch {
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// PATH of the command's environment, to look argv[0] up in.
    pub path: Vec<u8>,
    pub cred: Option<Cred>,
    pub cwd: Option<CString>,
    pub stdio: Option<Stdio>,
    pub new_session: bool,
    /// Stay in pidone's process group (no setpgid, no tcsetpgrp).
    pub keep_group: bool,
    pub drop_caps: Option<Vec<u32>>,
    pub close_fds: bool,
    pub no_new_privs: bool,
    /// The container's cgroup as the cgroup stage found it (the command's
    /// only; helpers have None).
    pub cgroup: Option<crate::cgroup::Cgroup>,
}

/// A C string for the launch; a NUL byte inside is an error of `stage`.
pub fn cstring(bytes: Vec<u8>, stage: Stage, what: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::new(stage, format!("{} contains a NUL byte", what)))
}
