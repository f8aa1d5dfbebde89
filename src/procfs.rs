//! Readers of /proc shared by the supervisor, the daemon stage and the
//! machine's end: the process table from `/proc/N/stat`, and /proc/mounts.

/// One line of `/proc/N/stat`: the fields after the command name, which
/// may itself hold spaces and parentheses.
fn after_name(stat: &str) -> Option<&str> {
    stat.get(stat.rfind(')')? + 1..)
}

/// The parent pid from `/proc/N/stat` text.
pub fn parent_of(stat: &str) -> Option<i32> {
    after_name(stat)?.split_whitespace().nth(1)?.parse().ok()
}

/// The state letter (`R`, `S`, `Z`, ...) from `/proc/N/stat` text.
pub fn state_of(stat: &str) -> Option<char> {
    after_name(stat)?.trim_start().chars().next()
}

fn stat(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()
}

/// Every process with its parent: (pid, ppid).
pub fn parents() -> Vec<(i32, i32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        Some((pid, parent_of(&stat(pid)?)?))
    })
    .collect()
}

/// The children of `parent`.
pub fn children_of(parent: i32) -> Vec<i32> {
    parents()
        .into_iter()
        .filter_map(|(pid, ppid)| (ppid == parent).then_some(pid))
        .collect()
}

/// Every descendant of `root`, from the parent links.
pub fn descendants(root: i32) -> Vec<i32> {
    let links = parents();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(links.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// A zombie: exited, not yet reaped by its parent.
pub fn is_zombie(pid: i32) -> bool {
    stat(pid).is_some_and(|s| state_of(&s) == Some('Z'))
}

/// The mount table.
pub fn mounts() -> Option<String> {
    std::fs::read_to_string("/proc/mounts").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_from_stat_with_odd_names() {
        assert_eq!(parent_of("12 (a b) c) S 7 12 12 0"), Some(7));
        assert_eq!(parent_of("12 (x) R 1 1"), Some(1));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn state_from_stat() {
        assert_eq!(state_of("12 (a) b) Z 7"), Some('Z'));
        assert_eq!(state_of("garbage"), None);
    }
}
