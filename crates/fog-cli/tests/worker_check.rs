//! `fog worker check`: a clean bill of health on a machine set up by
//! scripts/setup (as CI is, as root), and a machine missing pieces is told
//! what is missing and how to fix it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn fog() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fog"))
}

#[test]
fn this_machine_gets_a_clean_bill_of_health() {
    let out = fog().args(["worker", "check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("ok   container start"), "{text}");
    assert!(text.contains("healthy"), "{text}");
}

#[test]
fn missing_tools_are_named_with_how_to_install_them() {
    // No tools on PATH: as on a machine without iproute2, iptables, e2fsprogs.
    let out = fog()
        .args(["worker", "check"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    for hint in [
        "apt-get install iproute2",
        "apt-get install iptables",
        "apt-get install e2fsprogs",
    ] {
        assert!(text.contains(hint), "missing {hint:?} in {text}");
    }
    assert!(text.contains("FAIL container start: skipped"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("check(s) failed"));
}

#[test]
fn the_json_report_lists_every_check() {
    let out = fog().args(["worker", "check", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], true, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "namespaces",
        "cgroups",
        "seccomp",
        "iptables",
        "container start",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
}
