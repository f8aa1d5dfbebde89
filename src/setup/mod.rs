//! The stages that apply a plan, in a fixed order. Each stage does one
//! thing with system calls and never parses; together they produce the
//! `Launch`: everything the spawn needs, already resolved.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::io::RawFd;

use crate::error::{Error, Result, Stage};
use crate::plan::{End, Plan};

pub mod console;
pub mod env;
pub mod helpers;
pub mod hostname;
pub mod modules;
pub mod mounts;
pub mod net;
pub mod root;
pub mod user;
pub mod workdir;

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
    /// Processes started by the helper stage and still running.
    pub helpers: Vec<i32>,
}

pub fn cstring(bytes: Vec<u8>, stage: Stage, what: &str) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::new(stage, format!("{} contains a NUL byte", what)))
}

/// Apply the plan, stage by stage, in the documented order.
pub fn prepare(plan: &Plan) -> Result<Launch> {
    if let Some(m) = &plan.machine {
        modules::load(&m.modules)?;
        if let Some(r) = &m.root {
            root::switch(r)?;
        }
    }
    hostname::apply(plan)?;
    let mut helpers = helpers::start(&plan.helpers, plan.log.file.as_deref())?;
    net::apply(&plan.network)?;
    if plan.helpers.kill_after_network {
        helpers::kill(&mut helpers);
    }
    let cred = user::resolve(plan.user.as_deref())?;
    let cwd = workdir::apply(plan, cred.as_ref())?;
    let env = env::build(plan, cred.as_ref());
    let stdio = console::open(plan.console.as_ref())?;
    if let Some(caps) = &plan.drop_caps {
        crate::caps::warn_kept(caps);
    }

    let argv = plan
        .command
        .iter()
        .map(|a| cstring(a.clone().into_vec(), Stage::Exec, "an argument"))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in plan.command.iter().enumerate() {
        log::info!("argv[{}] = {}", i, a.to_string_lossy());
    }
    Ok(Launch {
        argv,
        path: env::path_of(&env),
        env,
        cred,
        cwd,
        stdio,
        new_session: plan.signals.new_session || plan.console.as_ref().is_some_and(|c| c.tty),
        keep_group: plan.signals.keep_group,
        drop_caps: plan.drop_caps.clone(),
        close_fds: plan.close_fds,
        helpers,
    })
}

/// Process-wide settings, before anything is started: a subreaper when not
/// PID 1 (so orphans come to pidone even nested; not as dumb-init, which
/// leaves them to whoever reaps for its parent), and the parent-death
/// signal.
pub fn become_reaper(plan: &Plan) {
    let nested = std::process::id() != 1 && plan.end == End::Grace;
    if nested || plan.subreaper {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            log::warn!(
                "cannot become a child subreaper ({}): orphans will not be reaped by pidone",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(sig) = plan.pdeathsig {
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
            log::warn!(
                "cannot set the parent-death signal: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
