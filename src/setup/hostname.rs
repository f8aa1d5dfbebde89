//! Hostname stage: `sethostname`; /etc/hosts and /etc/resolv.conf are the
//! metadata init's (issue 3).

use crate::error::Result;
use crate::plan::Plan;

pub fn apply(plan: &Plan) -> Result<()> {
    if let Some(name) = &plan.hostname {
        match nix::unistd::sethostname(name) {
            Ok(()) => log::info!("hostname {}", name),
            Err(e) => log::warn!("stage=hostname: cannot set hostname {:?}: {}", name, e),
        }
    }
    Ok(())
}
