//! `--delay SIG:SECONDS`: drain before forwarding. A held signal is
//! forwarded when its time is up; a second one of the same signal while
//! it is held goes at once (an operator's "now"), and the held one with
//! it, so the command sees it once. Pure bookkeeping: the supervisor's one
//! wait takes `next()` as its timeout.

use std::time::{Duration, Instant};

pub struct Delays {
    rules: Vec<(i32, Duration)>,
    /// Signals held and when they are due, in arrival order.
    pending: Vec<(i32, Instant)>,
}

/// What to do with a signal that just came.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// No delay for it, or a second one: forward it now.
    Forward,
    /// Held until the given time.
    Until(Duration),
}

impl Delays {
    pub fn new(rules: &[(i32, Duration)]) -> Delays {
        Delays {
            rules: rules.to_vec(),
            pending: Vec::new(),
        }
    }

    /// Note a signal that came at `now`.
    pub fn arrive(&mut self, sig: i32, now: Instant) -> Hold {
        // The last rule for a signal wins, as with rewrites.
        let Some(&(_, d)) = self.rules.iter().rev().find(|(s, _)| *s == sig) else {
            return Hold::Forward;
        };
        if let Some(i) = self.pending.iter().position(|(s, _)| *s == sig) {
            self.pending.remove(i);
            return Hold::Forward;
        }
        self.pending.push((sig, now + d));
        Hold::Until(d)
    }

    /// The signals whose time has come, removed from the held ones.
    pub fn due(&mut self, now: Instant) -> Vec<i32> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let (due, held): (Vec<_>, Vec<_>) = self.pending.iter().partition(|(_, t)| *t <= now);
        self.pending = held;
        due.into_iter().map(|(s, _)| s).collect()
    }

    /// The command ended: what was held for it goes.
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// The earliest time something held is due.
    pub fn next(&self) -> Option<Instant> {
        self.pending.iter().map(|(_, t)| *t).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_then_due_and_a_second_one_goes_at_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut d = Delays::new(&[(15, 10 * s), (3, 2 * s)]);
        assert_eq!(d.arrive(1, t0), Hold::Forward);
        assert_eq!(d.arrive(15, t0), Hold::Until(10 * s));
        assert_eq!(d.arrive(3, t0 + s), Hold::Until(2 * s));
        assert_eq!(d.next(), Some(t0 + 3 * s));
        assert!(d.due(t0 + 2 * s).is_empty());
        assert_eq!(d.due(t0 + 3 * s), [3]);
        // A second SIGTERM: now, once.
        assert_eq!(d.arrive(15, t0 + 4 * s), Hold::Forward);
        assert_eq!(d.next(), None);
        assert!(d.due(t0 + 20 * s).is_empty());
        // And a third starts a new delay.
        assert_eq!(d.arrive(15, t0 + 21 * s), Hold::Until(10 * s));
    }
}
