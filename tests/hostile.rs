//! Hostile images: real runc bundles whose root file system was built by
//! someone who wants pidone to write through a link, hang, die or take the
//! container for a machine. Each test is the exploit it prevents, and
//! checks the victim is unchanged.
//!
//! Every root is on a scratch tmpfs mounted for the test (so a regression
//! that remounts or writes where it should not cannot reach the machine's
//! own file systems), and the containers get Docker's default
//! capabilities: no CAP_SYS_ADMIN, no CAP_SYS_BOOT. Resources are named
//! with the `pdh` prefix and the test's pid.
mod common;
use common::bundle::*;
use common::*;

use std::process::{Output, Stdio};

// ------------------------------------------------------- planted links

#[test]
fn a_link_at_the_log_file_is_not_written_through() {
    // The helper's output goes to the log file too.
    let mut b = metadata_bundle(
        "loglink",
        serde_json::json!({"Cmd": ["echo", "ran"],
            "pidone:helpers": [{"argv": ["sh", "-c", "echo HELPER-OUT"]}]}),
    );
    b.victim("etc/victim");
    b.link("var/log/pidone.log", "/etc/victim");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "ran\n");
    b.assert_victim("etc/victim");
    assert!(
        stderr(&o).contains("/var/log/pidone.log"),
        "the refused log file is named:\n{}",
        show(&o)
    );
}

#[test]
fn a_link_in_the_log_directory_is_not_followed() {
    let mut b = dockerinit_bundle("logdir", &[], "echo ran");
    b.victim("etc/pidone.log");
    std::fs::remove_dir(b.path("var/log")).expect("rmdir");
    b.link("var/log", "/etc");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    b.assert_victim("etc/pidone.log");
}

#[test]
fn the_unprivileged_command_cannot_plant_the_status_temp_file() {
    // The command's user owns /var/log and plants links at every name
    // the status file was ever written through.
    let plant = "for n in pidone.status.tmp1 pidone.status; do ln -sf /etc/victim /var/log/$n; done; echo planted";
    let mut b = metadata_bundle(
        "status",
        serde_json::json!({"Cmd": ["sh", "-c", plant], "User": "app"}),
    );
    b.victim("etc/victim");
    must(&format!("chown 1000:1000 {}", b.path("var/log").display()));
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "planted\n");
    b.assert_victim("etc/victim");
    let status = b.read("var/log/pidone.status");
    assert!(status.contains("\"exit_code\":0"), "status: {:?}", status);
    let meta = std::fs::symlink_metadata(b.path("var/log/pidone.status")).expect("status");
    assert!(meta.file_type().is_file(), "the planted link was replaced");
}

#[test]
fn links_at_the_hosts_and_resolv_conf_temp_names_are_not_followed() {
    let mut b = metadata_bundle(
        "hosts",
        serde_json::json!({"docker:cmd": ["cat", "/etc/hosts", "/etc/resolv.conf"],
            "sdc:hostname": "web1", "sdc:resolvers": ["192.0.2.53"]}),
    );
    b.victim("etc/victim");
    for n in ["hosts", "resolv.conf"] {
        b.link(&format!("etc/{}.tmp1", n), "/etc/victim");
    }
    b.link("etc/resolv.conf", "/etc/victim");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    b.assert_victim("etc/victim");
    assert!(stdout(&o).contains("web1"), "{}", show(&o));
    assert!(stdout(&o).contains("nameserver 192.0.2.53"), "{}", show(&o));
}

#[test]
fn a_link_in_the_workdir_path_is_refused_naming_it() {
    let mut b = metadata_bundle(
        "workdir",
        serde_json::json!({"Cmd": ["pwd"], "User": "app", "WorkingDir": "/srv/link/data"}),
    );
    b.link("srv/link", "/etc");
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("/srv/link"), "{}", show(&o));
    assert!(
        !b.path("etc/data").exists(),
        "a directory was made through the link"
    );
}

// ---------------------------------------------------------------- FIFOs

#[test]
fn a_fifo_at_dockerenv_is_refused_not_waited_on() {
    let mut b = dockerinit_bundle("fifoenv", &[], "echo ran");
    b.fifo(".dockerenv");
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("/.dockerenv"), "{}", show(&o));
}

#[test]
fn a_fifo_at_the_log_file_costs_the_log_only() {
    let mut b = dockerinit_bundle("fifolog", &[], "echo ran");
    b.fifo("var/log/pidone.log");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "ran\n");
    assert!(stderr(&o).contains("not a regular file"), "{}", show(&o));
}

#[test]
fn a_fifo_at_the_status_temp_name_is_no_hang() {
    let mut b = metadata_bundle("fifostatus", serde_json::json!({"Cmd": ["true"]}));
    b.fifo("var/log/pidone.status.tmp1");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(b.read("var/log/pidone.status").contains("\"exit_code\":0"));
}

#[test]
fn a_fifo_at_the_metadata_document_is_refused() {
    let mut b = metadata_bundle("fifomd", serde_json::json!({}));
    b.fifo("etc/pidone/metadata.json");
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", show(&o));
}

#[test]
fn a_fifo_at_etc_passwd_is_refused() {
    // Planted by a helper: runc reads /etc/passwd itself before pidone
    // starts.
    let mut b = metadata_bundle(
        "fifopw",
        serde_json::json!({"Cmd": ["id"], "User": "app",
            "pidone:helpers": [{"argv": ["sh", "-c", "rm /etc/passwd; mkfifo /etc/passwd"]}]}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("/etc/passwd"), "{}", show(&o));
}

// ------------------------------------------------- huge inputs, 64 MiB

#[test]
fn a_huge_dockerenv_is_refused_not_read() {
    let mut b = dockerinit_bundle("hugeenv", &[], "echo ran");
    b.huge(".dockerenv");
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("larger than"), "{}", show(&o));
}

#[test]
fn a_huge_etc_passwd_is_refused_not_read() {
    // Planted by a helper, as above.
    let mut b = metadata_bundle(
        "hugepw",
        serde_json::json!({"Cmd": ["id"], "User": "app",
            "pidone:helpers": [{"argv": ["truncate", "-s", "1G", "/etc/passwd"]}]}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("larger than"), "{}", show(&o));
}

#[test]
fn a_helper_pidfile_pointing_at_dev_zero_is_not_read() {
    let mut b = metadata_bundle(
        "zeropid",
        serde_json::json!({"Cmd": ["echo", "ran"],
            "pidone:helpers": [{"argv": ["sleep", "1000"], "pidfile": "/run/h.pid"}]}),
    );
    b.link("run/h.pid", "/dev/zero");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "ran\n");
}

// ------------------------------------------------------ a dying pidone

fn usage_error_with_stderr(stderr: Stdio) -> Output {
    let mut c = as_pid1(&[], &["--bogus", "x"]);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
    wait_output(c.spawn().expect("spawn"), DEADLINE)
}

#[test]
fn a_full_stderr_is_no_crash() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let o = usage_error_with_stderr(Stdio::from(full));
    assert_eq!(code(&o), Some(2), "exit status {:?}", o.status);
}

#[test]
fn a_closed_stderr_pipe_is_no_crash() {
    // The test harness ignores SIGPIPE, and pidone keeps the disposition
    // it was given: the write fails with EPIPE.
    let (r, w) = std::io::pipe().expect("pipe");
    drop(r);
    let o = usage_error_with_stderr(Stdio::from(w));
    assert_eq!(code(&o), Some(2), "exit status {:?}", o.status);
}

// ------------------------------------------- a container, not a machine

#[test]
fn a_container_without_proc_runs_its_argv() {
    // runc needs /proc to start the container, so its first process
    // unmounts it and execs pidone as PID 1. That takes CAP_SYS_ADMIN
    // (a regression could remount): every mount here is a tmpfs, a
    // read-only one, or volatile, and pidone is a copy on the tmpfs, not
    // a bind mount of the machine's file system. No CAP_SYS_BOOT.
    let script =
        "umount -l /proc && exec /bin/pidone-copy -- sh -c 'echo argv-ran; ls /proc | wc -l'";
    let mut b = Bundle::new("noproc", &["/bin/sh", "-c", script]);
    std::fs::copy(pidone(), b.path("bin/pidone-copy")).expect("copy pidone");
    let p = &mut b.config["process"]["capabilities"];
    for set in ["bounding", "effective", "permitted"] {
        p[set]
            .as_array_mut()
            .expect("caps")
            .push("CAP_SYS_ADMIN".into());
    }
    // runc's masks are mounts on /proc's files, in the way of the umount.
    let linux = b.config["linux"].as_object_mut().expect("linux");
    linux.remove("maskedPaths");
    linux.remove("readonlyPaths");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "argv-ran\n0\n", "{}", show(&o));
    assert!(!stderr(&o).contains("machine"), "{}", show(&o));
}

// ---------------------------------------------------- a stale pidfile

#[test]
fn a_stale_helper_pidfile_naming_pid_1_is_ignored() {
    // Left by an earlier start: it names pidone itself. The helper writes
    // its own after a while; `docker:noipmgmtd` then kills the helpers.
    let mut b = metadata_bundle(
        "stalepid",
        serde_json::json!({"docker:cmd": ["sh", "-c", "sleep 0.2; echo ran"],
            "docker:noipmgmtd": true,
            "pidone:helpers": [{"argv": ["sh", "-c", "sleep 0.3; echo $$ > /run/h.pid; exec sleep 1000"],
                "pidfile": "/run/h.pid"}]}),
    );
    b.write("run/h.pid", "1\n");
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "ran\n", "{}", show(&o));
    let log = b.read("var/log/pidone.log");
    assert!(
        !log.contains("helper pid 1:"),
        "pidone signalled itself:\n{}",
        log
    );
}

// ------------------------------------------------------------- leaks

#[test]
fn a_newline_in_an_argument_forges_no_log_line() {
    let mut b = metadata_bundle(
        "argnl",
        serde_json::json!({"Cmd": ["true", "x\n2026-01-01T00:00:00.000Z FATAL FORGED"]}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let log = b.read("var/log/pidone.log");
    assert!(
        log.contains("x\\n2026"),
        "the argument is logged escaped:\n{}",
        log
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("FATAL FORGED") && l.starts_with("2026-01-01")),
        "a forged line:\n{}",
        log
    );
}

#[test]
fn a_newline_in_the_hostname_is_refused_naming_the_key() {
    let mut b = metadata_bundle(
        "hostnl",
        serde_json::json!({"docker:cmd": ["true"], "sdc:hostname": "web1\n192.0.2.66 evil.example"}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("sdc:hostname"), "{}", show(&o));
    assert!(!b.read("etc/hosts").contains("evil"));
}

#[test]
fn a_newline_in_a_search_domain_is_refused_naming_the_key() {
    let mut b = metadata_bundle(
        "searchnl",
        serde_json::json!({"docker:cmd": ["true"], "sdc:resolvers": ["192.0.2.53"],
            "docker:dnssearch": ["a.example\nnameserver 192.0.2.66"]}),
    );
    let o = b.run();
    assert_eq!(code(&o), Some(125), "{}", show(&o));
    assert!(stderr(&o).contains("docker:dnssearch"), "{}", show(&o));
    assert!(!b.read("etc/resolv.conf").contains("192.0.2.66"));
}

#[test]
fn a_dockerenv_entry_without_equals_and_hostname_values_are_not_logged() {
    let mut b = dockerinit_bundle("envleak", &["-e", "HOSTNAME=hs-secret-42"], "echo ran");
    b.write(".dockerenv", r#"["PATH=/bin","TOPSECRET-no-equals-sign"]"#);
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let all = format!("{}{}", stderr(&o), b.read("var/log/pidone.log"));
    assert!(
        all.contains("entry 2"),
        "the bad entry is named by index:\n{}",
        all
    );
    assert!(!all.contains("TOPSECRET"), "{}", all);
    assert!(!all.contains("hs-secret-42"), "{}", all);
}

/// `ls -l /proc/self/fd/` as a metadata-flow command (`doc` adds keys),
/// with a marker file open as descriptor 3 when runc starts pidone
/// (`--preserve-fds 1`): the output, and whether the marker showed.
fn list_fds_with_a_marker_on_fd3(name: &str, extra: serde_json::Value) -> (Output, bool) {
    let marker = format!("/tmp/pdh-{}-marker-{}", name, std::process::id());
    std::fs::write(&marker, "").expect("marker");
    let mut doc = serde_json::json!({"Cmd": ["ls", "-l", "/proc/self/fd/"]});
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    let mut b = metadata_bundle(name, doc);
    b.preserve_fds = 1;
    let mut cmd = b.command();
    let f = std::fs::File::open(&marker).expect("marker");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: dup2 and fcntl in the child before exec; the descriptor is open.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // When the marker already is fd 3, dup2 does nothing and its
            // close-on-exec flag stays: clear it in both cases.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = run(cmd, DEADLINE);
    let _ = std::fs::remove_file(&marker);
    let shown = stdout(&o).contains(&format!("pdh-{}-marker", name));
    (o, shown)
}

#[test]
fn the_metadata_flow_closes_inherited_descriptors() {
    let (o, marker_shown) = list_fds_with_a_marker_on_fd3("fdleak", serde_json::json!({}));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(!marker_shown, "{}", show(&o));
}

#[test]
fn keep_fds_hands_the_inherited_descriptors_on() {
    let (o, marker_shown) =
        list_fds_with_a_marker_on_fd3("fdkeep", serde_json::json!({"pidone:keep_fds": true}));
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    assert!(marker_shown, "{}", show(&o));
}

#[test]
fn no_new_privileges_on_request_only() {
    for (doc_value, want) in [(None, "NoNewPrivs:\t0"), (Some(true), "NoNewPrivs:\t1")] {
        let mut doc = serde_json::json!({"Cmd": ["grep", "NoNewPrivs", "/proc/self/status"]});
        if let Some(v) = doc_value {
            doc["pidone:no_new_privileges"] = v.into();
        }
        let mut b = metadata_bundle("nnp", doc);
        b.config["process"]["noNewPrivileges"] = false.into();
        let o = b.run();
        assert_eq!(code(&o), Some(0), "{}", show(&o));
        assert_eq!(stdout(&o).trim(), want, "{}", show(&o));
    }
}

// ------------------------------------------- output that blocks PID 1

/// Everything the program side writes to the terminal, read in a thread
/// until every holder of the slave side has closed it.
fn drain(master: std::fs::File) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        use std::io::Read;
        let mut m = master;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // EIO once the slave side is closed for good.
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    })
}

#[test]
fn a_terminal_the_command_stopped_blocks_no_log_line() {
    // The command stops the terminal's output (tcflow TCOOFF) and leaves
    // an orphan for pidone to reap, whose -w line cannot be written then
    // (before: PID 1 waited in write(2) for ever, every signal blocked).
    // PID 1 must not wait for the terminal: SIGTERM still reaches the
    // command (which turns the output back on and exits 3), and pidone's
    // next line says how many it dropped.
    let sc = Scratch::new("pdh-tcoff");
    let (ready, orphan) = (sc.path("ready"), sc.path("orphan"));
    let script = format!(
        "tk={tk}; $tk tcflow off; ( sleep 0.2 & echo $! >{orphan} ); \
         while [ -e /proc/$(cat {orphan}) ]; do sleep 0.05; done; sleep 0.3; \
         : >{ready}; trap '$tk tcflow on; exit 3' TERM; sleep 600 & wait",
        tk = testkit().display(),
        orphan = orphan.display(),
        ready = ready.display(),
    );
    let cmd = as_pid1(&[], &["-v", "-w", "--", "sh", "-c", &script]);
    let (child, master) = Pty::new().spawn(cmd);
    let out = drain(master);
    wait_for_file(&ready, DEADLINE);
    kill(pid1_of(child.id()), libc::SIGTERM);
    let o = wait_output(child, DEADLINE);
    let text = out.join().expect("reader");
    assert_eq!(o.status.code(), Some(3), "terminal:\n{}", text);
    let dropped = text
        .lines()
        .position(|l| l.contains(" log lines dropped: stderr was not writable"));
    let exited = text
        .lines()
        .position(|l| l.contains("exited with status 3"));
    assert!(
        dropped.is_some() && dropped < exited,
        "the count comes before the next line written:\n{}",
        text
    );
}

// ------------------------------------------------ secrets in PID 1's argv

#[test]
fn classic_env_values_are_gone_from_pid_1s_cmdline() {
    // /proc/1/cmdline is readable by every uid: the command's own user
    // (app) reads it. The values reach the command all the same.
    let mut b = dockerinit_bundle(
        "argvsecret",
        &[
            "-u",
            "app",
            "-e",
            "DB_PASSWORD=hunter2-pw",
            "--e=TOKEN=tok-77",
        ],
        "tr '\\0' ' ' </proc/1/cmdline; echo; echo \"$DB_PASSWORD $TOKEN\"; id -u",
    );
    let o = b.run();
    assert_eq!(code(&o), Some(0), "{}", show(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{}", show(&o));
    assert!(
        lines[0].starts_with("/.dockerinit -u app -e DB_PASSWORD=")
            && lines[0].contains("--e=TOKEN="),
        "names stay: {}",
        lines[0]
    );
    for secret in ["hunter2-pw", "tok-77"] {
        assert!(
            !lines[0].contains(secret),
            "{} in /proc/1/cmdline: {}",
            secret,
            lines[0]
        );
    }
    assert_eq!(lines[1], "hunter2-pw tok-77");
    assert_eq!(lines[2], "1000");
}

#[test]
fn a_full_stderr_pipe_nobody_reads_blocks_no_log_line() {
    // The same with the pipe Docker gives a container without -t, filled
    // by the command while nobody reads it: the -w line for the orphan
    // and every line after it are dropped; SIGTERM still reaches the
    // command, and pidone exits on time with its status.
    let sc = Scratch::new("pdh-fullpipe");
    let (ready, orphan) = (sc.path("ready"), sc.path("orphan"));
    let script = format!(
        "( head -c 200000 /dev/zero >&2 & ); ( sleep 0.2 & echo $! >{orphan} ); \
         while [ -e /proc/$(cat {orphan}) ]; do sleep 0.05; done; sleep 0.3; \
         : >{ready}; trap 'exit 3' TERM; sleep 600 & wait",
        orphan = orphan.display(),
        ready = ready.display(),
    );
    // Nobody reads stdout or stderr until pidone has exited.
    let child = spawn(as_pid1(&[], &["-w", "--", "sh", "-c", &script]));
    wait_for_file(&ready, DEADLINE);
    kill(pid1_of(child.id()), libc::SIGTERM);
    let o = wait_output(child, DEADLINE);
    assert_eq!(code(&o), Some(3), "status {:?}", o.status);
}
