//! A small program the integration tests run under pidone:
//!   testkit orphans N         leave N zombies to be re-parented, then exit
//!   testkit status            print this process's /proc/self/status lines
//!                             SigBlk, SigIgn and the pgid/sid/tty
fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("orphans") => {
            let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
            // A middle process forks N children that exit at once and
            // leaves without waiting: N zombies go to the reaper.
            // SAFETY: single-threaded fork/_exit.
            unsafe {
                if libc::fork() == 0 {
                    for _ in 0..n {
                        if libc::fork() == 0 {
                            libc::_exit(0);
                        }
                    }
                    libc::_exit(0);
                }
                let mut st = 0;
                libc::wait(&mut st);
            }
        }
        Some("status") => {
            let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            for l in s.lines().filter(|l| l.starts_with("SigBlk") || l.starts_with("SigIgn")) {
                println!("{}", l);
            }
            // SAFETY: plain queries.
            unsafe {
                println!("pid {} pgid {} sid {} tpgid {}", libc::getpid(), libc::getpgrp(), libc::getsid(0), libc::tcgetpgrp(0));
            }
        }
        _ => {
            eprintln!("usage: testkit orphans N | status");
            std::process::exit(2);
        }
    }
}
