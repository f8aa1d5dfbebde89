//! Every input a fuzz target ever crashed on (`make fuzz` keeps them in
//! tests/fixtures/fuzz/TARGET/), and every seed in fuzz/seeds/TARGET/,
//! replayed through the same entry the target uses: a regression is a
//! panic here. Parsers make no system calls, so this runs in-process.

use std::path::Path;

fn replay(dir: &Path) -> usize {
    let mut n = 0;
    let Ok(targets) = std::fs::read_dir(dir) else {
        return 0;
    };
    for t in targets.map(|e| e.expect("entry")) {
        let name = t.file_name().into_string().expect("target name");
        assert!(
            pidone::fuzzing::TARGETS.contains(&name.as_str()),
            "{}: no fuzz target {}",
            dir.display(),
            name
        );
        for f in std::fs::read_dir(t.path()).expect("target dir") {
            let data = std::fs::read(f.expect("entry").path()).expect("fixture");
            assert!(pidone::fuzzing::run(&name, &data));
            n += 1;
        }
    }
    n
}

#[test]
fn crash_fixtures_and_seeds_replay_without_a_panic() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    replay(&top.join("tests/fixtures/fuzz"));
    let seeds = replay(&top.join("fuzz/seeds"));
    assert!(seeds >= pidone::fuzzing::TARGETS.len(), "a seed per target");
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(top.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    for t in pidone::fuzzing::TARGETS {
        assert!(toml.contains(&format!("name = \"{}\"", t)), "{}", t);
        assert!(
            top.join(format!("fuzz/fuzz_targets/{}.rs", t)).exists(),
            "{}",
            t
        );
    }
}
