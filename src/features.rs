//! The supervisor's optional duties (issue 19), kept out of its loop:
//! signals held before forwarding (`delay`), paths watched (`watch`), the
//! readiness relay (`notify`). With none of them asked for, this holds
//! nothing, watches no descriptor and sets no timeout, so the loop stays
//! one plain `sigtimedwait`.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::delay::{Delays, Hold};
use crate::launch::Launch;
use crate::notify::Proxy;
use crate::plan::Plan;
use crate::watch::Watcher;

pub struct Features {
    delays: Delays,
    watch: Option<Watcher>,
    notify: Option<Proxy>,
}

/// A signal for the command whose time has come.
pub enum Due {
    /// A held signal: forwarded as if it had just come (rewrites apply).
    Forward(i32),
    /// An on-change signal: sent as given.
    Send(i32),
}

impl Features {
    pub fn start(plan: &Plan) -> Features {
        Features {
            delays: Delays::new(&plan.delays),
            watch: Watcher::open(&plan.on_change),
            notify: plan.notify_socket.as_deref().and_then(Proxy::open),
        }
    }

    /// The descriptors for the one wait.
    pub fn fds(&self) -> Vec<RawFd> {
        self.watch
            .as_ref()
            .map(Watcher::fd)
            .into_iter()
            .chain(self.notify.as_ref().map(Proxy::fd))
            .collect()
    }

    /// The command's launch changed for these features (its NOTIFY_SOCKET).
    pub fn launch(&self, launch: &Launch) -> Option<Launch> {
        self.notify.as_ref().map(|n| n.launch(launch))
    }

    /// True when `sig` is held rather than forwarded now.
    #[link_section = ".text_hot"]
    pub fn hold(&mut self, sig: i32) -> bool {
        match self.delays.arrive(sig, Instant::now()) {
            Hold::Forward => false,
            Hold::Until(d) => {
                log::info!(
                    "holding {} for {} ms before forwarding it",
                    crate::sys::signals::name(sig),
                    d.as_millis()
                );
                true
            }
        }
    }

    /// The command ended: signals held for it are dropped.
    #[link_section = ".text_hot"]
    pub fn command_ended(&mut self) {
        self.delays.clear();
    }

    /// A watched descriptor is readable; false when it is none of ours.
    #[link_section = ".text_hot"]
    pub fn ready(&mut self, fd: RawFd) -> bool {
        if let Some(w) = self.watch.as_mut().filter(|w| w.fd() == fd) {
            w.read(Instant::now());
            return true;
        }
        if let Some(n) = self.notify.as_ref().filter(|n| n.fd() == fd) {
            n.relay();
            return true;
        }
        false
    }

    /// How long the wait may last: until the earliest deadline.
    #[link_section = ".text_hot"]
    pub fn timeout(&self) -> Option<Duration> {
        let next = [
            self.delays.next(),
            self.watch.as_ref().and_then(Watcher::next),
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// What is due now (nothing, at no cost, when nothing is pending).
    #[link_section = ".text_hot"]
    pub fn due(&mut self) -> Vec<Due> {
        if self.timeout().is_none() {
            return Vec::new();
        }
        let now = Instant::now();
        let mut out: Vec<Due> = self.delays.due(now).into_iter().map(Due::Forward).collect();
        if let Some(w) = self.watch.as_mut() {
            out.extend(w.due(now).into_iter().map(Due::Send));
        }
        out
    }
}
