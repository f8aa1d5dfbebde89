//! The stages that apply a plan, in a fixed order. Each stage does one
//! thing with system calls and never parses; together they produce the
//! `Launch`: everything the spawn needs, already resolved.

use std::os::unix::ffi::OsStrExt;

use crate::error::{Result, Stage};
use crate::launch::{cstring, Launch};
use crate::plan::Plan;
use crate::sys;

pub mod cgroup;
pub mod console;
pub mod daemons;
pub mod env;
pub mod hostname;
pub mod net;
pub mod process;
pub mod user;
pub mod workdir;

/// The first stage of a machine, before its plan is known (the kernel
/// command line is read from the /proc this mounts): early mounts, then
/// the console as stdio. Its notes are logged once logging is up.
pub fn machine_start() -> Result<sys::mounts::Report> {
    let mounts = sys::mounts::apply();
    crate::log::mark("pidone: machine mode, early mounts done");
    console::machine_stdio();
    mounts
}

/// Apply the plan, stage by stage, in the documented order. Returns the
/// command's launch and the pids of the helper daemons still running.
pub fn prepare(plan: &Plan) -> Result<(Launch, Vec<i32>)> {
    if plan.machine.is_some() {
        process::disable_cad();
    }
    process::become_reaper(plan);
    if let Some(m) = &plan.machine {
        sys::modules::load(&m.modules)?;
        if let Some(r) = &m.root {
            sys::root::switch(r)?;
        }
    }
    hostname::apply(plan)?;
    // Before the helpers, so that with --cgroup-nest they share pidone's leaf.
    let cgroup = cgroup::apply(plan)?;
    let mut daemons = daemons::start(&plan.helpers, plan.log.file.as_deref())?;
    net::apply(&plan.network)?;
    if plan.helpers.kill_after_network {
        daemons::kill(&mut daemons);
    }
    let cred = user::resolve(plan.user.as_ref())?;
    let cwd = workdir::apply(plan, cred.as_ref())?;
    let env = env::build(plan, cred.as_ref())?;
    let stdio = console::open(plan.console.as_ref())?;
    if let Some(caps) = &plan.drop_caps {
        sys::caps::warn_kept(caps, crate::values::CAP_NAMES, plan.no_new_privs);
    }

    let argv = plan
        .command
        .iter()
        .map(|a| cstring(a.as_bytes().to_vec(), Stage::Exec, "an argument"))
        .collect::<Result<Vec<_>>>()?;
    for (i, a) in plan.command.iter().enumerate() {
        log::info!("argv[{}] = {}", i, a.to_string_lossy());
    }
    let launch = Launch {
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
        no_new_privs: plan.no_new_privs,
        cgroup,
    };
    Ok((launch, daemons))
}
