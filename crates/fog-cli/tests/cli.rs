//! The `fog` binary as a user runs it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn fog(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fog"))
        .args(args)
        .output()
        .expect("run fog")
}

#[test]
fn bench_gas_json_prints_every_call_and_a_lifecycle_within_400k() {
    let out = fog(&["bench", "gas", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for call in [
        "place_ask",
        "place_bid",
        "open_deal",
        "bill",
        "close_deal",
        "quick_buy",
    ] {
        assert!(v["calls"][call].as_u64().unwrap() > 21_000, "{call}: {v}");
    }
    assert!(v["lifecycle_total"].as_u64().unwrap() <= 400_000, "{v}");
}

#[test]
fn unknown_subcommand_says_what_is_wrong_and_exits_non_zero() {
    let out = fog(&["bench", "nonsense"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unrecognized subcommand"), "{err}");
}

/// ARCHITECTURE.md's code map names every crate under crates/, and no other.
#[test]
fn architecture_code_map_matches_the_crates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mapped: std::collections::BTreeSet<String> = map
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("fog-"))
        .map(str::to_owned)
        .collect();
    let crates: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        mapped, crates,
        "ARCHITECTURE.md's code map and crates/ disagree"
    );
}
