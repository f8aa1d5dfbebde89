//! The PID-1 core: exit statuses, reaping, forwarding, shutdown.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn exit_code_of_the_command_is_pidones() {
    let o = run(as_pid1(&[], &["--", "sh", "-c", "exit 7"]), Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[test]
fn orphans_are_reaped_as_pid1() {
    let tk = testkit();
    let script = format!("{} orphans 2000; sleep 0.3; grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l", tk.display());
    let o = run(as_pid1(&[], &["sh", "-c", &script]), Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "0", "zombies left");
}
