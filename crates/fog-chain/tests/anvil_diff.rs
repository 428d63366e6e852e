//! fog chain against a real reference node (anvil from npm): the same signed transactions, the same results.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::TxSignerSync,
    primitives::{Address, B256, Bytes, TxKind, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolConstructor, SolError, SolEvent},
};
use fog_chain::{
    NodeConfig, RunningNode,
    genesis::{DEV_ACCOUNTS, DEV_KEYS},
};
use fog_contracts::{
    SuiteConfig,
    bindings::{Blacklist, FogToken, Market, OracleUSD, ProfileRegistry},
    convert::pack_benchmarks,
    deploy::TOKEN,
};
use fog_primitives::Benchmarks;
use serde_json::{Value, json};

/// The gas limit of every transaction of the sequence (except the one meant
/// to run out of gas): the same on both nodes, so gas used is what is compared.
const GAS: u64 = 5_000_000;
const CHAIN_ID: u64 = 31337;

// ------------------------------------------------------------------ anvil

/// The anvil binary the npm package `@foundry-rs/anvil` installs.
fn anvil_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
}

/// A running anvil on loopback; killed (and reaped) when dropped.
struct Anvil {
    child: Child,
    url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil on a free loopback port and waits until it answers
    /// `eth_chainId`; retries on another port if anvil exits early.
    async fn start(bin: &Path) -> Self {
        for attempt in 1..=3 {
            let port = {
                let l = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
                l.local_addr().unwrap().port()
            };
            let child = Command::new(bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--quiet", "--hardfork", "prague"])
                .args(["--gas-price", "0", "--base-fee", "0"])
                .args(["--chain-id", &CHAIN_ID.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn anvil");
            let mut anvil = Self {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let probe = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
            for _ in 0..200 {
                if let Some(status) = anvil.child.try_wait().unwrap() {
                    eprintln!("anvil exited early ({status}) on port {port}, attempt {attempt}");
                    break;
                }
                if let Ok(id) = probe.get_chain_id().await {
                    assert_eq!(id, CHAIN_ID, "anvil's chain id");
                    return anvil;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("anvil did not answer eth_chainId on 127.0.0.1");
    }
}

async fn start_fog(datadir: &Path) -> RunningNode {
    fog_chain::start(NodeConfig::dev(datadir)).await.unwrap()
}

// ------------------------------------------------------------------ JSON-RPC

/// A JSON-RPC error answer.
#[derive(Debug, Clone, PartialEq)]
struct RpcFailure {
    code: i64,
    message: String,
    data: Option<Value>,
}

type Answer = Result<Value, RpcFailure>;

async fn rpc(p: &DynProvider, method: &str, params: Value) -> Answer {
    match p
        .raw_request::<_, Value>(method.to_owned().into(), params)
        .await
    {
        Ok(v) => Ok(v),
        Err(e) => match e.as_error_resp() {
            Some(payload) => Err(RpcFailure {
                code: payload.code,
                message: payload.message.to_string(),
                data: payload
                    .data
                    .as_ref()
                    .map(|d| serde_json::from_str(d.get()).unwrap()),
            }),
            None => panic!("{method}: transport error {e}"),
        },
    }
}

/// Where the JSON values `fog` and `anvil` differ, as "path: fog=.. anvil=..".
/// An `ignore` entry starting with "." is a path (".blockTimestamp": that key
/// of the top object only); otherwise a key skipped at any depth.
fn diff(path: &str, fog: &Value, anvil: &Value, ignore: &[&str], out: &mut Vec<String>) {
    match (fog, anvil) {
        (Value::Object(f), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = f.keys().chain(a.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                if ignore.contains(&k.as_str()) || ignore.contains(&p.as_str()) {
                    continue;
                }
                match (f.get(k), a.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, ignore, out),
                    (x, y) => out.push(format!(
                        "{p}: fog={} anvil={}",
                        x.map_or("<absent>".into(), Value::to_string),
                        y.map_or("<absent>".into(), Value::to_string)
                    )),
                }
            }
        }
        (Value::Array(f), Value::Array(a)) if f.len() == a.len() => {
            for (i, (x, y)) in f.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, ignore, out);
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(format!("{path}: fog={x} anvil={y}")),
    }
}

/// Receipt, transaction and log fields that legitimately differ:
/// - `blockHash` (anywhere): fog chain seals with a Clique-style signature in
///   `extraData`, has a zero `stateRoot` and its own beneficiary, so every
///   block hash differs;
/// - a receipt's `blobGasPrice`: anvil reports the blob base fee ("0x1") even
///   for transactions without blobs; fog chain has no blobs and, as geth,
///   omits it;
/// - a receipt's `blockTimestamp`: an anvil extension (a JSON number) that is
///   not in the standard receipt; the logs' `blockTimestamp` is compared.
const NOT_COMPARED: &[&str] = &["blockHash", ".blobGasPrice", ".blockTimestamp"];

/// Block header fields compared; the rest (hash, parentHash, stateRoot,
/// miner, extraData, mixHash, nonce, difficulty, size and the post-merge
/// fields fog chain does not produce) differ by design.
const HEADER_FIELDS: &[&str] = &[
    "number",
    "timestamp",
    "gasLimit",
    "gasUsed",
    "baseFeePerGas",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "transactions",
];

// ------------------------------------------------------------------ the pair

/// Both nodes in lockstep: every step goes to both with the same timestamp.
struct Pair {
    fog: DynProvider,
    anvil: DynProvider,
    keys: Vec<PrivateKeySigner>,
    nonces: [u64; 10],
    clock: u64,
    steps: usize,
    /// Every difference found, by step.
    mismatches: Vec<String>,
    /// (step, gas used, status) for the report.
    gas: Vec<(String, u64, bool)>,
    estimates: Vec<String>,
}

impl Pair {
    async fn both(&self, method: &str, params: Value) -> (Answer, Answer) {
        let fog = rpc(&self.fog, method, params.clone()).await;
        let anvil = rpc(&self.anvil, method, params).await;
        (fog, anvil)
    }

    /// Records a difference; the test fails at the end, listing all of them.
    fn mismatch(&mut self, what: String) {
        eprintln!("MISMATCH {what}");
        self.mismatches.push(what);
    }

    fn compare(&mut self, step: &str, fog: &Value, anvil: &Value, ignore: &[&str]) {
        let mut out = Vec::new();
        diff("", fog, anvil, ignore, &mut out);
        for d in out {
            self.mismatch(format!("{step}: {d}"));
        }
    }

    /// Both answers must be equal, results or errors (error messages aside).
    fn same_answer(&mut self, step: &str, fog: &Answer, anvil: &Answer) {
        match (fog, anvil) {
            (Ok(f), Ok(a)) => self.compare(step, f, a, &[]),
            (Err(f), Err(a)) if f.code == a.code && f.data == a.data => {}
            _ => self.mismatch(format!("{step}: fog={fog:?} anvil={anvil:?}")),
        }
    }

    /// Signs an EIP-1559 transaction of dev account `who` with its next nonce.
    fn sign(&mut self, who: usize, to: TxKind, input: Bytes, value: U256, gas: u64) -> Bytes {
        let mut tx = TxEip1559 {
            chain_id: CHAIN_ID,
            nonce: self.nonces[who],
            gas_limit: gas,
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
            to,
            value,
            input,
            ..Default::default()
        };
        self.nonces[who] += 1;
        let sig = self.keys[who].sign_transaction_sync(&mut tx).unwrap();
        let env: TxEnvelope = tx.into_signed(sig).into();
        env.encoded_2718().into()
    }

    /// The next block's timestamp, on both nodes: 1..600 s after the last.
    async fn tick(&mut self, secs: Option<u64>) {
        let secs = secs.unwrap_or(1 + (self.steps as u64 * 137 + 11) % 600);
        self.clock += secs;
        let (f, a) = self
            .both(
                "evm_setNextBlockTimestamp",
                json!([format!("{:#x}", self.clock)]),
            )
            .await;
        f.expect("fog chain evm_setNextBlockTimestamp");
        a.expect("anvil evm_setNextBlockTimestamp");
    }

    /// Sends `raw` to both nodes, waits for both receipts, compares the
    /// receipts, the transactions and the blocks; returns fog chain's receipt.
    async fn send(&mut self, step: &str, raw: Bytes, secs: Option<u64>) -> TransactionReceipt {
        self.steps += 1;
        self.tick(secs).await;
        let hash = keccak256(&raw);
        let (f, a) = self.both("eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(
            f,
            Ok(json!(hash)),
            "{step}: fog chain eth_sendRawTransaction"
        );
        assert_eq!(a, Ok(json!(hash)), "{step}: anvil eth_sendRawTransaction");
        let fog = receipt(&self.fog, hash, step).await;
        let anvil = receipt(&self.anvil, hash, step).await;
        self.compare(&format!("{step} receipt"), &fog, &anvil, NOT_COMPARED);

        let (ft, at) = self.both("eth_getTransactionByHash", json!([hash])).await;
        self.compare(
            &format!("{step} transaction"),
            &ft.unwrap(),
            &at.unwrap(),
            NOT_COMPARED,
        );

        let number = fog["blockNumber"].clone();
        let (fb, ab) = self
            .both("eth_getBlockByNumber", json!([number, false]))
            .await;
        let (fb, ab) = (fb.unwrap(), ab.unwrap());
        for field in HEADER_FIELDS {
            self.compare(
                &format!("{step} block.{field}"),
                &fb[field],
                &ab[field],
                &[],
            );
        }
        assert_eq!(
            fb["timestamp"],
            json!(format!("{:#x}", self.clock)),
            "{step}: fog chain block timestamp"
        );

        let r: TransactionReceipt = serde_json::from_value(fog).unwrap();
        self.gas.push((step.to_owned(), r.gas_used, r.status()));
        r
    }

    /// Signs and sends a call of `who` to `to`.
    async fn call<C: SolCall>(
        &mut self,
        step: &str,
        who: usize,
        to: Address,
        call: &C,
    ) -> TransactionReceipt {
        let raw = self.sign(
            who,
            TxKind::Call(to),
            call.abi_encode().into(),
            U256::ZERO,
            GAS,
        );
        self.send(step, raw, None).await
    }

    /// Like [`Pair::call`], and the transaction must succeed (on fog chain;
    /// its status is compared with anvil's).
    async fn ok<C: SolCall>(
        &mut self,
        step: &str,
        who: usize,
        to: Address,
        call: &C,
    ) -> TransactionReceipt {
        let r = self.call(step, who, to, call).await;
        assert!(r.status(), "{step} failed on fog chain: {r:?}");
        r
    }

    /// Like [`Pair::call`], and the transaction must revert.
    async fn reverts<C: SolCall>(&mut self, step: &str, who: usize, to: Address, call: &C) {
        let r = self.call(step, who, to, call).await;
        assert!(!r.status(), "{step} should have reverted on fog chain");
    }

    /// Deploys `initcode` from dev account 0 and returns the new address.
    async fn deploy(&mut self, step: &str, initcode: Bytes) -> Address {
        let expected = DEV_ACCOUNTS[0].create(self.nonces[0]);
        let raw = self.sign(0, TxKind::Create, initcode, U256::ZERO, GAS);
        let r = self.send(step, raw, None).await;
        assert!(r.status(), "{step} failed on fog chain");
        assert_eq!(r.contract_address, Some(expected), "{step}: address");
        expected
    }

    /// `eth_call` of a view on both nodes: the same return data.
    async fn view<C: SolCall>(&mut self, what: &str, to: Address, call: &C) -> C::Return {
        let req = json!([{"to": to, "input": Bytes::from(call.abi_encode())}, "latest"]);
        let (f, a) = self.both("eth_call", req).await;
        self.same_answer(&format!("eth_call {what}"), &f, &a);
        let data: Bytes = serde_json::from_value(f.unwrap()).unwrap();
        C::abi_decode_returns(&data).unwrap()
    }

    /// `eth_call` and `eth_estimateGas` of a reverting call: code 3 and the
    /// same revert data on both; returns the data.
    async fn call_reverts<C: SolCall>(
        &mut self,
        what: &str,
        who: usize,
        to: Address,
        call: &C,
    ) -> Bytes {
        let tx =
            json!({"from": DEV_ACCOUNTS[who], "to": to, "input": Bytes::from(call.abi_encode())});
        let (f, a) = self.both("eth_call", json!([tx, "latest"])).await;
        println!(
            "eth_call {what}: fog {:?} | anvil {:?}",
            f.as_ref().err().map(|e| &e.message),
            a.as_ref().err().map(|e| &e.message)
        );
        let fe = f.expect_err("fog chain eth_call should revert");
        let ae = a.expect_err("anvil eth_call should revert");
        assert_eq!(fe.code, 3, "{what}: fog chain's revert code");
        if (fe.code, &fe.data) != (ae.code, &ae.data) {
            self.mismatch(format!("eth_call {what}: fog={fe:?} anvil={ae:?}"));
        }
        let (f, a) = self.both("eth_estimateGas", json!([tx])).await;
        let (fe2, ae2) = (
            f.expect_err("fog chain eth_estimateGas should revert"),
            a.expect_err("anvil eth_estimateGas should revert"),
        );
        if (fe2.code, &fe2.data) != (ae2.code, &ae2.data) {
            self.mismatch(format!("eth_estimateGas {what}: fog={fe2:?} anvil={ae2:?}"));
        }
        serde_json::from_value(fe.data.unwrap()).unwrap()
    }

    /// `eth_estimateGas` on both; if the estimates differ, each must still be
    /// enough on both nodes (an `eth_call` with that gas succeeds).
    async fn estimate<C: SolCall>(&mut self, what: &str, who: usize, to: Address, call: &C) {
        let tx =
            json!({"from": DEV_ACCOUNTS[who], "to": to, "input": Bytes::from(call.abi_encode())});
        let (f, a) = self.both("eth_estimateGas", json!([tx])).await;
        let fog: u64 = serde_json::from_value::<alloy::primitives::U64>(f.unwrap())
            .unwrap()
            .to();
        let anvil: u64 = serde_json::from_value::<alloy::primitives::U64>(a.unwrap())
            .unwrap()
            .to();
        let line = format!(
            "{what:<16} fog {fog:>8}  anvil {anvil:>8}  {}",
            if fog == anvil { "same" } else { "DIFFER" }
        );
        self.estimates.push(line);
        for gas in [fog, anvil] {
            let mut with_gas = tx.clone();
            with_gas["gas"] = json!(format!("{gas:#x}"));
            let (f, a) = self.both("eth_call", json!([with_gas, "latest"])).await;
            assert!(f.is_ok(), "{what}: fog chain fails with {gas} gas: {f:?}");
            assert!(a.is_ok(), "{what}: anvil fails with {gas} gas: {a:?}");
            self.same_answer(&format!("eth_call {what} with {gas} gas"), &f, &a);
        }
    }
}

/// Polls for a receipt for up to 10 s.
async fn receipt(p: &DynProvider, hash: B256, step: &str) -> Value {
    for _ in 0..1000 {
        let r = rpc(p, "eth_getTransactionReceipt", json!([hash]))
            .await
            .unwrap();
        if !r.is_null() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{step}: no receipt for {hash}");
}

// ------------------------------------------------------------------ the market

const PRICE: u128 = 2 * TOKEN / 3600;

fn initcode<C: SolConstructor>(bytecode: &Bytes, args: C) -> Bytes {
    let mut code = bytecode.to_vec();
    code.extend(args.abi_encode());
    code.into()
}

fn machine() -> Vec<u64> {
    vec![
        120_000_000,
        30_000_000,
        4,
        8 << 30,
        100 << 30,
        1_000_000_000,
        500_000_000,
        0,
        0,
        0,
        0,
        0,
        0,
        800,
    ]
}

fn ask() -> Market::Order {
    Market::Order {
        orderType: 1,
        author: Address::ZERO,
        counterparty: Address::ZERO,
        duration: 0,
        price: U256::from(PRICE),
        netflags: 7,
        identityLevel: 0,
        blacklist: Address::ZERO,
        tag: B256::ZERO,
        benchmarks: pack_benchmarks(&Benchmarks::new(machine())),
        frozenSum: U256::ZERO,
    }
}

fn bid() -> Market::Order {
    let half = machine().into_iter().map(|b| b / 2).collect();
    Market::Order {
        orderType: 2,
        netflags: 2,
        benchmarks: pack_benchmarks(&Benchmarks::new(half)),
        ..ask()
    }
}

fn event<E: SolEvent>(r: &TransactionReceipt) -> E {
    r.decoded_log::<E>()
        .unwrap_or_else(|| panic!("{} in the receipt", E::SIGNATURE))
        .data
}

// Dev accounts by role.
const DEPLOYER: usize = 0;
const SUPPLIER: usize = 1;
const CONSUMER: usize = 2;
const STRANGER: usize = 3;
const BUYER: usize = 4;
const NO_ALLOWANCE: usize = 5;
const SPENDER: usize = 6;
const CREATOR: usize = 7;

#[tokio::test(flavor = "multi_thread")]
async fn fog_chain_matches_anvil_on_the_same_signed_transactions() {
    let started = Instant::now();
    let bin = anvil_bin();
    if !bin.exists() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "anvil is missing at {}: run `npm ci` in contracts/ (scripts/setup does)",
                bin.display()
            );
        }
        eprintln!(
            "skipping: anvil is missing at {} (run `npm ci` in contracts/)",
            bin.display()
        );
        return;
    }
    let anvil = Anvil::start(&bin).await;
    let dir = tempfile::tempdir().unwrap();
    let node = start_fog(dir.path()).await;
    let connect = |url: String| {
        ProviderBuilder::new()
            .connect_http(url.parse().unwrap())
            .erased()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut p = Pair {
        fog: connect(format!("http://{}", node.http)),
        anvil: connect(anvil.url.clone()),
        keys: DEV_KEYS.iter().map(|k| k.parse().unwrap()).collect(),
        nonces: [0; 10],
        clock: now + 100,
        steps: 0,
        mismatches: Vec::new(),
        gas: Vec::new(),
        estimates: Vec::new(),
    };
    for (who, account) in DEV_ACCOUNTS.iter().enumerate() {
        assert_eq!(p.keys[who].address(), *account);
    }
    let (f, a) = p.both("eth_blockNumber", json!([])).await;
    assert_eq!(f, a, "both start at genesis");

    // ---- deploy the suite, as fog_contracts::deploy_suite does
    let deployer = DEV_ACCOUNTS[DEPLOYER];
    let config = SuiteConfig::dev(deployer);
    let token = p
        .deploy(
            "deploy FogToken",
            initcode(
                &FogToken::BYTECODE,
                FogToken::constructorCall {
                    holder: config.token_holder,
                    supply: config.token_supply,
                },
            ),
        )
        .await;
    let oracle = p
        .deploy(
            "deploy OracleUSD",
            initcode(
                &OracleUSD::BYTECODE,
                OracleUSD::constructorCall {
                    feeders_: config.oracle_feeders.clone(),
                    threshold_: U256::from(config.oracle_threshold),
                    initialPrice: config.oracle_price,
                    minPrice_: config.oracle_min_price,
                    maxPrice_: config.oracle_max_price,
                },
            ),
        )
        .await;
    let profiles = p
        .deploy(
            "deploy ProfileRegistry",
            initcode(
                &ProfileRegistry::BYTECODE,
                ProfileRegistry::constructorCall {
                    admin_: config.profiles_admin,
                },
            ),
        )
        .await;
    let blacklist = p
        .deploy(
            "deploy Blacklist",
            initcode(&Blacklist::BYTECODE, Blacklist::constructorCall {}),
        )
        .await;
    let market = p
        .deploy(
            "deploy Market",
            initcode(
                &Market::BYTECODE,
                Market::constructorCall {
                    token_: token,
                    oracle_: oracle,
                    profiles_: profiles,
                    blacklist_: blacklist,
                },
            ),
        )
        .await;
    p.ok(
        "Blacklist.setMarket",
        DEPLOYER,
        blacklist,
        &Blacklist::setMarketCall { market_: market },
    )
    .await;
    for (name, address) in [
        ("FogToken", token),
        ("OracleUSD", oracle),
        ("ProfileRegistry", profiles),
        ("Blacklist", blacklist),
        ("Market", market),
    ] {
        let (f, a) = p.both("eth_getCode", json!([address, "latest"])).await;
        assert_ne!(f, Ok(json!("0x")), "{name} has code on fog chain");
        p.same_answer(&format!("eth_getCode {name}"), &f, &a);
    }

    // ---- tokens and plain value transfers
    let who = |i: usize| DEV_ACCOUNTS[i];
    for (i, amount) in [(CONSUMER, 1_000), (BUYER, 1_000), (NO_ALLOWANCE, 10)] {
        let call = FogToken::transferCall {
            to: who(i),
            value: U256::from(amount * TOKEN),
        };
        p.ok(&format!("transfer to {i}"), DEPLOYER, token, &call)
            .await;
    }
    let approve = FogToken::approveCall {
        spender: market,
        value: U256::MAX,
    };
    p.ok("approve (consumer)", CONSUMER, token, &approve).await;
    p.ok("approve (buyer)", BUYER, token, &approve).await;
    let raw = p.sign(
        DEPLOYER,
        TxKind::Call(who(SPENDER)),
        Bytes::new(),
        U256::from(TOKEN),
        GAS,
    );
    p.send("send 1 ether", raw, None).await;
    // FogToken has no receive function: sending it ether reverts, empty data.
    let raw = p.sign(
        SPENDER,
        TxKind::Call(token),
        Bytes::new(),
        U256::from(1),
        GAS,
    );
    let r = p.send("ether to FogToken (reverts)", raw, None).await;
    assert!(!r.status());

    // ---- orders
    p.estimate(
        "placeOrder(ask)",
        SUPPLIER,
        market,
        &Market::placeOrderCall { o: ask() },
    )
    .await;
    let r = p
        .ok(
            "placeOrder(ask)",
            SUPPLIER,
            market,
            &Market::placeOrderCall { o: ask() },
        )
        .await;
    let placed_ask: Market::OrderPlaced = event(&r);
    p.estimate(
        "placeOrder(bid)",
        CONSUMER,
        market,
        &Market::placeOrderCall { o: bid() },
    )
    .await;
    let r = p
        .ok(
            "placeOrder(bid)",
            CONSUMER,
            market,
            &Market::placeOrderCall { o: bid() },
        )
        .await;
    let placed_bid: Market::OrderPlaced = event(&r);

    let bad_type = Market::placeOrderCall {
        o: Market::Order {
            orderType: 3,
            ..ask()
        },
    };
    p.call_reverts("placeOrder(type 3)", STRANGER, market, &bad_type)
        .await;
    p.reverts("placeOrder(type 3) (reverts)", STRANGER, market, &bad_type)
        .await;
    let no_allowance = Market::placeOrderCall { o: bid() };
    p.call_reverts(
        "placeOrder(no allowance)",
        NO_ALLOWANCE,
        market,
        &no_allowance,
    )
    .await;
    p.reverts(
        "placeOrder(no allowance) (reverts)",
        NO_ALLOWANCE,
        market,
        &no_allowance,
    )
    .await;
    // Out of gas: the whole limit is used on both.
    let raw = p.sign(
        SUPPLIER,
        TxKind::Call(market),
        Market::placeOrderCall { o: ask() }.abi_encode().into(),
        U256::ZERO,
        50_000,
    );
    let r = p.send("placeOrder out of gas", raw, None).await;
    assert!(!r.status());
    assert_eq!(r.gas_used, 50_000, "out of gas uses the whole limit");

    // ---- a deal: open, bill, close
    let open = Market::openDealCall {
        askId: placed_ask.orderId,
        ask: placed_ask.order.clone(),
        bidId: placed_bid.orderId,
        bid: placed_bid.order.clone(),
    };
    p.estimate("openDeal", CONSUMER, market, &open).await;
    let r = p.ok("openDeal", CONSUMER, market, &open).await;
    let opened: Market::DealOpened = event(&r);
    let (deal_id, parties) = (opened.dealId, opened.parties);
    assert_eq!(u64::from(parties.start), p.clock);
    for id in [placed_ask.orderId, placed_bid.orderId] {
        p.view(
            &format!("orderHash({id})"),
            market,
            &Market::orderHashCall { orderId: id },
        )
        .await;
    }
    let status = p
        .view(
            "dealStatus(open)",
            market,
            &Market::dealStatusCall { dealId: deal_id },
        )
        .await;
    assert_eq!(status, 1, "DEAL_ACCEPTED");

    let bill = Market::billCall {
        dealId: deal_id,
        parties: parties.clone(),
    };
    p.estimate("bill", SUPPLIER, market, &bill).await;
    let raw = p.sign(
        SUPPLIER,
        TxKind::Call(market),
        bill.abi_encode().into(),
        U256::ZERO,
        GAS,
    );
    let r = p.send("bill", raw, Some(600)).await;
    assert!(r.status());
    let billed: Market::DealBilled = event(&r);
    assert!(billed.paid > U256::ZERO);

    let close = Market::closeDealCall {
        dealId: deal_id,
        parties: parties.clone(),
        blacklistChoice: 0,
    };
    let data = p
        .call_reverts("closeDeal(stranger)", STRANGER, market, &close)
        .await;
    assert_eq!(
        &data[..4],
        Market::NotDealParty::SELECTOR.as_slice(),
        "NotDealParty"
    );
    p.reverts("closeDeal(stranger) (reverts)", STRANGER, market, &close)
        .await;
    let raw = p.sign(
        CONSUMER,
        TxKind::Call(market),
        close.abi_encode().into(),
        U256::ZERO,
        GAS,
    );
    let r = p.send("closeDeal", raw, Some(60)).await;
    assert!(r.status());
    let closed: Market::DealClosed = event(&r);
    assert_eq!(closed.reason, 1, "closed by the consumer");
    p.reverts("closeDeal again (reverts)", CONSUMER, market, &close)
        .await;

    // ---- QuickBuy, then a close that blacklists the worker
    let r = p
        .ok(
            "placeOrder(ask 2)",
            SUPPLIER,
            market,
            &Market::placeOrderCall { o: ask() },
        )
        .await;
    let ask2: Market::OrderPlaced = event(&r);
    let quick = Market::quickBuyCall {
        askId: ask2.orderId,
        ask: ask2.order.clone(),
        duration: 0,
    };
    p.estimate("quickBuy", BUYER, market, &quick).await;
    let r = p.ok("quickBuy", BUYER, market, &quick).await;
    let quick_deal: Market::DealOpened = event(&r);
    let close2 = Market::closeDealCall {
        dealId: quick_deal.dealId,
        parties: quick_deal.parties.clone(),
        blacklistChoice: 1,
    };
    p.estimate("closeDeal(bl)", BUYER, market, &close2).await;
    p.ok("closeDeal(blacklist worker)", BUYER, market, &close2)
        .await;

    // ---- a bid placed and cancelled (refund)
    let r = p
        .ok(
            "placeOrder(bid 2)",
            BUYER,
            market,
            &Market::placeOrderCall { o: bid() },
        )
        .await;
    let bid2: Market::OrderPlaced = event(&r);
    let cancel = Market::cancelOrderCall {
        orderId: bid2.orderId,
        o: bid2.order.clone(),
    };
    p.ok("cancelOrder(bid 2)", BUYER, market, &cancel).await;

    // ---- creations that fail: a revert and an invalid opcode
    let raw = p.sign(
        CREATOR,
        TxKind::Create,
        Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xfd]),
        U256::ZERO,
        GAS,
    );
    let r = p.send("create (reverts)", raw, None).await;
    assert!(!r.status());
    let raw = p.sign(
        CREATOR,
        TxKind::Create,
        Bytes::from_static(&[0xfe]),
        U256::ZERO,
        GAS,
    );
    let r = p.send("create (invalid opcode)", raw.clone(), None).await;
    assert!(!r.status());
    assert_eq!(r.gas_used, GAS, "an invalid opcode uses the whole limit");

    // ---- the state both nodes end in
    for i in 0..8 {
        p.view(
            &format!("balanceOf({i})"),
            token,
            &FogToken::balanceOfCall { account: who(i) },
        )
        .await;
        let (f, a) = p.both("eth_getBalance", json!([who(i), "latest"])).await;
        p.same_answer(&format!("eth_getBalance({i})"), &f, &a);
        let (f, a) = p
            .both("eth_getTransactionCount", json!([who(i), "latest"]))
            .await;
        p.same_answer(&format!("eth_getTransactionCount({i})"), &f, &a);
    }
    p.view(
        "balanceOf(market)",
        token,
        &FogToken::balanceOfCall { account: market },
    )
    .await;
    for id in 1..=5u64 {
        p.view(
            &format!("orderHash({id})"),
            market,
            &Market::orderHashCall {
                orderId: U256::from(id),
            },
        )
        .await;
    }
    for id in [deal_id, quick_deal.dealId, U256::from(99)] {
        p.view(
            &format!("dealStatus({id})"),
            market,
            &Market::dealStatusCall { dealId: id },
        )
        .await;
    }
    let listed = p
        .view(
            "isBlacklisted(buyer, supplier)",
            blacklist,
            &Blacklist::isBlacklistedCall {
                who: who(BUYER),
                whom: who(SUPPLIER),
            },
        )
        .await;
    assert!(listed, "the buyer blacklisted the supplier");
    p.view("OracleUSD.price", oracle, &OracleUSD::priceCall {})
        .await;
    let (f, a) = p
        .both(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest"}]),
        )
        .await;
    let logs = f.as_ref().unwrap().as_array().unwrap().len();
    let (f, a) = (f.unwrap(), a.unwrap());
    p.compare("eth_getLogs(all)", &f, &a, NOT_COMPARED);
    let (f, a) = p.both("eth_blockNumber", json!([])).await;
    p.same_answer("eth_blockNumber", &f, &a);
    // A mined transaction sent again is refused by both.
    let (f, a) = p.both("eth_sendRawTransaction", json!([raw])).await;
    println!(
        "resent transaction: fog {:?} | anvil {:?}",
        f.as_ref().map_err(|e| &e.message),
        a.as_ref().map_err(|e| &e.message)
    );
    assert!(f.is_err() && a.is_err(), "a replay must be refused by both");

    println!("{:<40} {:>9} status", "step", "gas used");
    for (step, gas, ok) in &p.gas {
        println!(
            "{step:<40} {gas:>9} {}",
            if *ok { "ok" } else { "reverted" }
        );
    }
    println!("eth_estimateGas:");
    for line in &p.estimates {
        println!("  {line}");
    }
    println!(
        "{} transactions, {logs} logs, {} mismatches; took {:.1?}",
        p.gas.len(),
        p.mismatches.len(),
        started.elapsed()
    );
    node.stop().await;
    assert!(
        p.mismatches.is_empty(),
        "fog chain differs from anvil:\n{}",
        p.mismatches.join("\n")
    );
}
