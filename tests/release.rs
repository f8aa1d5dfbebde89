//! What a user downloads: `make dist` (binaries, tarballs, SHA256SUMS, the
//! SBOM), builds that give the same bytes from another directory, the man
//! page (lint-clean, and listing what `--help` lists), and `make deb`
//! (lintian-clean, installed into a fresh root, the binary where the
//! README's engine recipes point).
mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A build from scratch on 2 busy cores takes minutes.
const BUILD_DEADLINE: Duration = Duration::from_secs(1800);
const DEADLINE: Duration = Duration::from_secs(300);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn sh_in(dir: &Path, script: &str, deadline: Duration) -> std::process::Output {
    let mut c = Command::new("sh");
    c.args(["-c", script]).current_dir(dir);
    run(c, deadline)
}

fn ok(o: &std::process::Output, what: &str) {
    assert!(
        o.status.success(),
        "{} failed ({:?})\nstdout: {}\nstderr: {}",
        what,
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {}", p.display(), e))
}

// ------------------------------------------------------------ man page

fn man_page() -> String {
    std::fs::read_to_string(root().join("man/pidone.8")).expect("man/pidone.8")
}

/// The roff between `.SH NAME` and the next `.SH`.
fn man_section(man: &str, name: &str) -> String {
    let head = format!(".SH {}\n", name);
    let after = man
        .split_once(&head)
        .unwrap_or_else(|| panic!("man/pidone.8 has no section {}", name))
        .1;
    after.split("\n.SH ").next().unwrap_or("").to_string()
}

/// The options the man page documents: every `-x`/`--word` in bold on
/// the term line of a `.TP` item of OPTIONS.
fn man_options() -> BTreeSet<String> {
    let man = man_page();
    let sect = man_section(&man, "OPTIONS");
    let mut opts = BTreeSet::new();
    let mut lines = sect.lines();
    while let Some(l) = lines.next() {
        if l.trim() != ".TP" {
            continue;
        }
        let term = lines.next().unwrap_or("").replace("\\-", "-");
        for bold in term.split("\\fB").skip(1) {
            let word = bold.split("\\fR").next().unwrap_or("");
            if word.starts_with('-') {
                opts.insert(word.to_string());
            }
        }
    }
    opts
}

fn help() -> String {
    let o = run(
        {
            let mut c = Command::new(pidone());
            c.arg("--help");
            c
        },
        DEADLINE,
    );
    assert_eq!(o.status.code(), Some(0), "pidone --help: {}", stderr(&o));
    stdout(&o)
}

/// The options `--help` lists: the words starting with `-` in the first
/// column of its option lines (`  -s, --subreaper   text`).
fn help_options() -> BTreeSet<String> {
    let mut opts = BTreeSet::new();
    for l in help().lines() {
        let t = l.trim_start();
        if !l.starts_with(' ') || !t.starts_with('-') {
            continue;
        }
        let column = t.split("  ").next().unwrap_or("");
        for w in column.split([',', ' ']) {
            if w.starts_with('-') && w.len() > 1 {
                opts.insert(w.to_string());
            }
        }
    }
    opts
}

#[test]
fn man_page_is_clean_under_mandoc_lint_and_groff() {
    require("mandoc", "mandoc");
    require("groff", "groff-base");
    let page = root().join("man/pidone.8");
    let mut c = Command::new("mandoc");
    c.args(["-T", "lint"]).arg(&page);
    let o = run(c, DEADLINE);
    assert!(
        o.status.success() && o.stdout.is_empty() && o.stderr.is_empty(),
        "mandoc -T lint man/pidone.8:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    let mut c = Command::new("groff");
    c.args(["-ww", "-man", "-z"]).arg(&page);
    let o = run(c, DEADLINE);
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "groff -ww -man -z man/pidone.8:\n{}",
        stderr(&o)
    );
}

#[test]
fn man_page_lists_exactly_the_options_of_help() {
    let man = man_options();
    let help = help_options();
    assert!(
        help.contains("--grace") && help.contains("-V"),
        "could not read the options of --help: {:?}",
        help
    );
    let missing: Vec<_> = help.difference(&man).collect();
    let extra: Vec<_> = man.difference(&help).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "man/pidone.8 and `pidone --help` disagree:\n\
         in --help but missing from man/pidone.8 (section OPTIONS, a .TP item): {:?}\n\
         in man/pidone.8 (OPTIONS) but not in --help: {:?}",
        missing,
        extra
    );
}

#[test]
fn man_page_lists_every_environment_variable_of_help() {
    let text = help();
    let env = text
        .split_once("Environment:")
        .expect("--help has an Environment: paragraph")
        .1
        .split("\n\n")
        .next()
        .unwrap_or("");
    let names: BTreeSet<String> = env
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
        .filter(|w| w.len() > 3 && w.contains('_'))
        .map(str::to_string)
        .collect();
    assert!(names.contains("PIDONE_GRACE"), "{:?}", names);
    let man = man_section(&man_page(), "ENVIRONMENT").replace("\\-", "-");
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !man.contains(&format!("\\fB{}", n)))
        .collect();
    assert!(
        missing.is_empty(),
        "in `pidone --help` but missing from man/pidone.8 (section ENVIRONMENT): {:?}",
        missing
    );
}

// ---------------------------------------------------------------- dist

/// `make dist DIST=dir` in the checkout, one at a time: `make` replaces
/// target/pidone through one temporary name.
fn make_dist(target: &str, dir: &Path) {
    static MAKE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    require("make", "make");
    let o = sh_in(
        &root(),
        &format!("make -s {} DIST={}", target, dir.display()),
        BUILD_DEADLINE,
    );
    ok(&o, &format!("make {}", target));
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("dist dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The architectures dist packages: this machine's and every
/// target/cross/pidone-ARCH.
fn arches() -> BTreeSet<String> {
    let mut a = BTreeSet::new();
    a.insert(std::env::consts::ARCH.to_string());
    if let Ok(d) = std::fs::read_dir(root().join("target/cross")) {
        for e in d.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            // Not cross.sh's pidone-ARCH.tmp while it copies.
            if let Some(arch) = name.strip_prefix("pidone-").filter(|a| !a.contains('.')) {
                a.insert(arch.to_string());
            }
        }
    }
    a
}

#[test]
fn dist_has_binaries_tarballs_sums_and_an_sbom() {
    require("sha256sum", "coreutils");
    let s = Scratch::new("dist");
    let dist = s.path("dist");
    make_dist("dist", &dist);
    let v = version();

    let files = files_in(&dist);
    let mut want = BTreeSet::new();
    for a in arches() {
        want.insert(format!("pidone-{}", a));
        want.insert(format!("pidone-{}-{}.tar.gz", v, a));
    }
    want.insert(format!("pidone-{}.cdx.json", v));
    want.insert("SHA256SUMS".to_string());
    assert_eq!(files, want, "the files of dist/");

    // The sums cover every other file, and check.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).expect("SHA256SUMS");
    let listed: BTreeSet<String> = sums
        .lines()
        .map(|l| l.split_once("  ").expect("sha256sum line").1.to_string())
        .collect();
    let mut others = files.clone();
    others.remove("SHA256SUMS");
    assert_eq!(listed, others, "SHA256SUMS lists every other file");
    let o = sh_in(&dist, "sha256sum -c SHA256SUMS", DEADLINE);
    ok(&o, "sha256sum -c SHA256SUMS");

    // This machine's binary is the one `make` built; the tarball holds it
    // with the man page, README and LICENSE, owned by root.
    let host = std::env::consts::ARCH;
    assert!(read(&dist.join(format!("pidone-{}", host))) == read(&pidone()));
    let tgz = dist.join(format!("pidone-{}-{}.tar.gz", v, host));
    let o = sh_in(
        &dist,
        &format!("tar -tvzf {} --numeric-owner", tgz.display()),
        DEADLINE,
    );
    ok(&o, "tar -t");
    let listing = stdout(&o);
    let mut names = BTreeSet::new();
    for l in listing.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.get(1), Some(&"0/0"), "owner root: {}", l);
        names.insert(f.last().copied().unwrap_or("").to_string());
    }
    let d = format!("pidone-{}-{}", v, host);
    let want: BTreeSet<String> = ["", "/pidone", "/pidone.8", "/README.md", "/LICENSE"]
        .iter()
        .map(|f| format!("{}{}", d, if f.is_empty() { "/" } else { f }))
        .collect();
    assert_eq!(names, want, "tarball contents");
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("/pidone")),
        "{}",
        listing
    );
    let o = sh_in(
        &dist,
        &format!(
            "tar -xzf {} && cmp {}/pidone {}",
            tgz.display(),
            d,
            pidone().display()
        ),
        DEADLINE,
    );
    ok(&o, "the tarball's binary is the built one");
    let o = sh_in(
        &dist,
        &format!("cmp {}/pidone.8 {}/man/pidone.8", d, root().display()),
        DEADLINE,
    );
    ok(&o, "the tarball's man page");

    check_sbom(&dist.join(format!("pidone-{}.cdx.json", v)));

    // A second run gives the same files, byte for byte (dates from the
    // commit, sorted archives, no random serial number).
    let again = s.path("again");
    make_dist("dist", &again);
    assert_eq!(
        std::fs::read_to_string(again.join("SHA256SUMS")).expect("SHA256SUMS"),
        sums,
        "two `make dist` runs differ"
    );
}

/// The packages of Cargo.lock, name -> version.
fn cargo_lock() -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).expect("Cargo.lock");
    let mut out = Vec::new();
    for pkg in lock.split("[[package]]").skip(1) {
        let field = |k: &str| {
            pkg.lines()
                .find_map(|l| l.strip_prefix(&format!("{} = \"", k)))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        out.push((field("name"), field("version")));
    }
    out
}

fn check_sbom(path: &Path) {
    let doc: serde_json::Value =
        serde_json::from_slice(&read(path)).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
    assert_eq!(doc["bomFormat"], "CycloneDX", "{}", path.display());
    let comps = doc["components"].as_array().expect("components");
    let has = |name: &str, version: &str| {
        comps
            .iter()
            .any(|c| c["name"] == name && c["version"] == version)
    };
    let lock = cargo_lock();
    for dep in ["libc", "log", "nix", "serde_json"] {
        let (_, v) = lock
            .iter()
            .find(|(n, _)| n == dep)
            .unwrap_or_else(|| panic!("{} in Cargo.lock", dep));
        assert!(has(dep, v), "the SBOM lists {} {}", dep, v);
    }
    // Every crate it names is one Cargo.lock pins, at that version.
    for c in comps {
        let (n, v) = (
            c["name"].as_str().unwrap_or(""),
            c["version"].as_str().unwrap_or(""),
        );
        if ["musl", "rust-std", "rustc", "zig"].contains(&n) {
            continue;
        }
        assert!(
            lock.iter().any(|(ln, lv)| ln == n && lv == v),
            "SBOM component {} {} is not in Cargo.lock",
            n,
            v
        );
    }
    // The toolchain: rustc and its std, and the musl linked in.
    let o = run(
        {
            let mut c = Command::new("rustc");
            c.arg("--version");
            c
        },
        DEADLINE,
    );
    let rustc = stdout(&o)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    assert!(has("rustc", &rustc), "the SBOM names rustc {}", rustc);
    assert!(has("rust-std", &rustc), "the SBOM names rust-std {}", rustc);
    let musl = comps
        .iter()
        .find(|c| c["name"] == "musl")
        .expect("the SBOM names musl");
    let mv = musl["version"].as_str().unwrap_or("");
    assert!(
        mv.split('.').count() == 3 && mv.split('.').all(|p| p.parse::<u32>().is_ok()),
        "musl version {:?}",
        mv
    );
}

/// HEAD built by `make` in a clone elsewhere (another directory name and
/// length, its own target directory) gives the same bytes as the
/// checkout's target/pidone, and holds no path of the build machine. When
/// target/pidone is not HEAD's (a changed tree), two clones are built.
#[test]
fn the_binary_is_reproducible_from_another_directory() {
    require("git", "git");
    let s = Scratch::new("repro");
    let head = sh_in(&root(), "git rev-parse HEAD", DEADLINE);
    ok(&head, "git rev-parse HEAD");
    let head = stdout(&head).trim().to_string();
    let clean = stdout(&sh_in(
        &root(),
        "git status --porcelain --untracked-files=no",
        DEADLINE,
    ))
    .is_empty();
    let version = stdout(&run(
        {
            let mut c = Command::new(pidone());
            c.arg("--version");
            c
        },
        DEADLINE,
    ));
    let mut bins = Vec::new();
    let mut clones = vec!["a-longer-directory/b"];
    if clean && version.contains(&format!("git.{}", &head[..12])) {
        bins.push(pidone());
    } else {
        clones.push("a");
    }
    for dir in clones {
        let d = s.path(dir);
        std::fs::create_dir_all(d.parent().expect("parent")).expect("mkdir");
        let o = sh_in(
            &root(),
            &format!(
                "git clone -q --no-hardlinks . {0} && cd {0} && git checkout -q {1} && nice -n 10 make -s build",
                d.display(),
                head
            ),
            BUILD_DEADLINE,
        );
        ok(&o, &format!("make in a clone at {}", d.display()));
        bins.push(d.join("target/pidone"));
    }
    let (a, b) = (read(&bins[0]), read(&bins[1]));
    assert!(
        a == b,
        "{} and {} differ: the build is not reproducible (compare `strings` of both)",
        bins[0].display(),
        bins[1].display()
    );
    let home = std::env::var("HOME").unwrap_or_default();
    let text = String::from_utf8_lossy(&a);
    for p in [
        s.0.display().to_string(),
        root().display().to_string(),
        format!("{}/.cargo", home),
        format!("{}/.rustup", home),
    ] {
        assert!(!text.contains(&p), "the binary holds the build path {}", p);
    }
}

// ----------------------------------------------------------------- deb

/// The paths the README's Docker and podman recipes give the engine.
fn recipe_paths() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let json = readme_recipe("docker-daemon-json");
    let p = json
        .split("\"init-path\": \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("daemon.json recipe has init-path");
    out.push(("docker-daemon-json init-path".into(), p.to_string()));
    let conf = readme_recipe("podman-containers-conf");
    let p = conf
        .split("init_path = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("containers.conf recipe has init_path");
    out.push(("podman-containers-conf init_path".into(), p.to_string()));
    let run = readme_recipe("podman-init-path");
    let p = run
        .split("--init-path ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("podman recipe has --init-path");
    out.push(("podman-init-path --init-path".into(), p.to_string()));
    out
}

#[test]
fn deb_is_lintian_clean_and_installs_into_a_fresh_root() {
    require_root();
    require("dpkg-deb", "dpkg");
    require("lintian", "lintian");
    require("unshare", "util-linux");
    let s = Scratch::new("deb");
    let dist = s.path("dist");
    make_dist("deb", &dist);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let deb = dist.join(format!("pidone_{}_{}.deb", version(), arch));
    assert!(deb.exists(), "make deb made no {}", deb.display());
    let o = sh_in(&dist, "sha256sum -c SHA256SUMS", DEADLINE);
    ok(&o, "sha256sum -c SHA256SUMS after make deb");

    // Every package make deb wrote passes lintian without an error.
    for f in files_in(&dist).iter().filter(|f| f.ends_with(".deb")) {
        let mut c = Command::new("lintian");
        c.args(["--fail-on", "error", "--tag-display-limit", "0"])
            .arg(dist.join(f));
        let o = run(c, DEADLINE);
        assert!(
            o.status.success() && !stdout(&o).lines().any(|l| l.starts_with("E:")),
            "lintian {}:\n{}{}",
            f,
            stdout(&o),
            stderr(&o)
        );
    }

    // A fresh root with an empty dpkg database.
    let r = s.path("root");
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(r.join(d)).expect("mkdir");
    }
    std::fs::write(r.join("var/lib/dpkg/status"), "").expect("status");
    std::fs::write(r.join("var/lib/dpkg/available"), "").expect("available");
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", r.display()))
        .args(["--force-bad-path", "--force-script-chrootless", "-i"])
        .arg(&deb);
    let o = run(c, DEADLINE);
    ok(&o, "dpkg --root -i");
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", r.display()))
        .args(["-L", "pidone"]);
    let listed = stdout(&run(c, DEADLINE));
    for f in ["/usr/bin/pidone", "/usr/share/man/man8/pidone.8.gz"] {
        assert!(
            listed.lines().any(|l| l == f),
            "dpkg -L pidone: no {}\n{}",
            f,
            listed
        );
    }

    // Where the engine recipes point, the package put the binary.
    for (what, path) in recipe_paths() {
        let installed = r.join(path.trim_start_matches('/'));
        assert!(
            installed.exists(),
            "the README's {} points at {}, which the .deb does not install",
            what,
            path
        );
    }

    // It runs there, as PID 1 of a new pid namespace, chrooted.
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--kill-child", "chroot"])
        .arg(&r)
        .args(["/usr/bin/pidone", "--version"]);
    let o = run(c, DEADLINE);
    ok(&o, "pidone --version in the fresh root");
    let want = stdout(&run(
        {
            let mut c = Command::new(pidone());
            c.arg("--version");
            c
        },
        DEADLINE,
    ));
    assert!(
        stdout(&o).starts_with(&format!("pidone version {} - git.", version())),
        "{}",
        stdout(&o)
    );
    assert_eq!(stdout(&o), want);
}
