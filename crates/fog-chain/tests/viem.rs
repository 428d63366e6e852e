//! A client no one here wrote: viem (npm) reads, sends, waits, reads logs and decodes a revert from fog chain.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::{path::PathBuf, process::Stdio, time::Duration};

use fog_chain::NodeConfig;
use serde_json::Value;

/// The dev account `client.mjs` signs with (DEV_KEYS[0]).
const HOLDER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The recipient `client.mjs` sends to (the second dev account).
const RECIPIENT: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn viem_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/viem")
}

fn token_artifact() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts/out/FogToken.json")
}

/// A decimal string from the JSON line, as u128 (amounts here fit).
fn amount(v: &Value) -> u128 {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a decimal string, got {v}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn viem_reads_sends_waits_reads_logs_and_decodes_a_revert() {
    let dir = viem_dir();
    if !dir.join("node_modules").is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "viem is not installed in {}: run scripts/setup (it runs `npm ci` there)",
                dir.display()
            );
        }
        eprintln!(
            "skipping: viem is not installed in {} (run scripts/setup)",
            dir.display()
        );
        return;
    }
    let artifact = token_artifact();
    assert!(
        artifact.is_file(),
        "missing {}: build the contracts (npm run build in contracts/)",
        artifact.display()
    );

    let datadir = tempfile::tempdir().unwrap();
    let node = fog_chain::start(NodeConfig::dev(datadir.path()))
        .await
        .unwrap();
    let url = format!("http://{}", node.http);

    let child = tokio::process::Command::new("node")
        .arg("client.mjs")
        .arg(&url)
        .arg(&artifact)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (scripts/setup installs it): {e}"));
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("client.mjs did not finish within 60 s")
        .unwrap();
    node.stop().await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("client.mjs stdout: {stdout}");
    if !stderr.is_empty() {
        eprintln!("client.mjs stderr: {stderr}");
    }
    assert!(
        out.status.success(),
        "client.mjs failed ({}): {stderr}",
        out.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in client.mjs output: {stdout}"));
    let seen: Value = serde_json::from_str(line).unwrap();

    // Reads: the chain id and the prefunded dev balance.
    assert_eq!(seen["chainId"], 31337);
    assert!(amount(&seen["balance"]) > 0);

    // A plain transfer, waited for: one block under automine.
    let eth = &seen["ethTransfer"];
    assert_eq!(eth["status"], "success");
    assert_eq!(eth["gasUsed"], "21000");
    assert_eq!(amount(&eth["value"]), 1_500_000_000_000_000_000);
    assert_eq!(eth["blockNumber"], "1");

    // The token, deployed by viem.
    let token = &seen["token"];
    assert_eq!(token["symbol"], "FOG");
    let supply = amount(&token["supply"]);
    assert_eq!(supply, 1_000_000 * 10u128.pow(18));

    // transfer(): the Transfer event, decoded by viem from eth_getLogs.
    let tt = &seen["tokenTransfer"];
    assert_eq!(tt["status"], "success");
    assert_eq!(tt["getLogsCount"], 1);
    let ev = &tt["event"];
    assert_eq!(ev["eventName"], "Transfer");
    assert_eq!(ev["from"], HOLDER);
    assert_eq!(ev["to"], RECIPIENT);
    let sent = amount(&ev["value"]);
    assert_eq!(sent, 12_500_000_000_000_000_000);

    // A transfer beyond the balance: the custom error, decoded with its args.
    let revert = &seen["revert"];
    assert_eq!(revert["errorName"], "ERC20InsufficientBalance");
    assert_eq!(revert["sender"], HOLDER);
    assert_eq!(amount(&revert["balance"]), supply - sent);
    assert_eq!(amount(&revert["needed"]), supply - sent + 1);
    // The selector of ERC20InsufficientBalance(address,uint256,uint256).
    assert!(
        revert["raw"].as_str().unwrap().starts_with("0xe450d38c"),
        "raw revert data: {}",
        revert["raw"]
    );
}
