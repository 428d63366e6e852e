//! The suite on a real reference node (anvil from npm): deploy, a whole deal lifecycle over JSON-RPC, and the same gas as the in-process EVM.
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
    time::{Duration, Instant},
};

use alloy::{
    network::Ethereum,
    primitives::{Address, B256, U256, address},
    providers::{DynProvider, PendingTransactionBuilder, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
};
use fog_contracts::{
    Addresses, Revert, SuiteConfig,
    bindings::{FogToken, Market, OracleUSD},
    convert::pack_benchmarks,
    deploy::{TOKEN, deploy_suite, deploy_suite_sim},
    sim::{SIM_CHAIN_ID, Sim, SimError},
};
use fog_primitives::Benchmarks;

// ------------------------------------------------------------------ anvil

/// anvil's well-known dev accounts (mnemonic "test test ... junk"), as its
/// start-up banner lists them: (private key, address).
const DEV_KEYS: [(&str, Address); 4] = [
    (
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    ),
    (
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    ),
    (
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
    ),
    (
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
    ),
];

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
    /// `eth_chainId`. Retries on another port if anvil exits early (the port
    /// was taken between picking and binding).
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
                    assert_eq!(id, SIM_CHAIN_ID, "anvil's default chain id");
                    return anvil;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("anvil did not answer eth_chainId on 127.0.0.1");
    }

    /// A provider whose wallet signs with dev account `i`.
    fn wallet(&self, i: usize) -> (Address, DynProvider) {
        let (key, addr) = DEV_KEYS[i];
        let signer: PrivateKeySigner = key.parse().unwrap();
        assert_eq!(signer.address(), addr, "dev key {i} derives its address");
        let provider = ProviderBuilder::new()
            .wallet(signer)
            .connect_http(self.url.parse().unwrap())
            .erased();
        (addr, provider)
    }
}

/// Waits for a transaction's receipt and checks that it succeeded.
async fn mined(what: &str, pending: PendingTransactionBuilder<Ethereum>) -> TransactionReceipt {
    let receipt = pending.get_receipt().await.expect(what);
    assert!(receipt.status(), "{what} failed on anvil: {receipt:?}");
    receipt
}

/// The timestamp of the block that holds `receipt`.
async fn block_time(p: &DynProvider, receipt: &TransactionReceipt) -> u64 {
    let n = receipt.block_number.expect("mined receipt has a block");
    p.get_block_by_number(n.into())
        .await
        .unwrap()
        .expect("block")
        .header
        .timestamp
}

/// Moves anvil's clock forward by `secs` and mines a block.
async fn advance(p: &DynProvider, secs: u64) {
    let _: serde_json::Value = p
        .raw_request("evm_increaseTime".into(), (secs,))
        .await
        .unwrap();
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
}

// ------------------------------------------------------------------ the deal

/// Tokens the consumer gets from the deployer.
const GIVEN: u128 = 1_000 * TOKEN;
/// 2 USD per hour, in USD-wei per second.
const PRICE: u128 = 2 * TOKEN / 3600;
/// Seconds before the bill, then before the close.
const SERVED: [u64; 2] = [600, 60];

const STEPS: [&str; 7] = [
    "transfer",
    "approve",
    "placeOrder(ask)",
    "placeOrder(bid)",
    "openDeal",
    "bill",
    "closeDeal",
];

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

/// Token wei for `secs` at `PRICE` and oracle `rate`, as the market rounds.
fn cost(secs: u64, rate: U256) -> U256 {
    U256::from(PRICE) * U256::from(secs) * rate / U256::from(TOKEN)
}

/// What one run of the lifecycle observed, on either chain.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    suite: Addresses,
    /// Block timestamp of each step.
    times: [u64; 7],
    /// Gas used by each step.
    gas: [u64; 7],
    ask: Market::Order,
    bid: Market::Order,
    parties: Market::DealParties,
    deal_id: U256,
    billed: Market::DealBilled,
    closed: Market::DealClosed,
    stranger: Market::MarketErrors,
    /// Token balances of supplier, consumer and market after the close.
    balances: [U256; 3],
    rate: U256,
}

fn event<E: alloy::sol_types::SolEvent>(r: &TransactionReceipt) -> E {
    r.decoded_log::<E>()
        .unwrap_or_else(|| panic!("{} in the receipt", E::SIGNATURE))
        .data
}

async fn on_anvil(anvil: &Anvil) -> Run {
    let (deployer, dp) = anvil.wallet(0);
    let (supplier, sp) = anvil.wallet(1);
    let (consumer, cp) = anvil.wallet(2);
    let (stranger, xp) = anvil.wallet(3);

    let suite = deploy_suite(&dp, &SuiteConfig::dev(deployer))
        .await
        .expect("deploy the suite on anvil");
    let rate = OracleUSD::new(suite.oracle, &dp)
        .price()
        .call()
        .await
        .unwrap();
    let mut receipts = Vec::new();

    let token = FogToken::new(suite.token, &dp);
    let pending = token
        .transfer(consumer, U256::from(GIVEN))
        .send()
        .await
        .unwrap();
    receipts.push(mined("transfer", pending).await);
    let pending = FogToken::new(suite.token, &cp)
        .approve(suite.market, U256::MAX)
        .send()
        .await
        .unwrap();
    receipts.push(mined("approve", pending).await);

    let pending = Market::new(suite.market, &sp)
        .placeOrder(ask())
        .send()
        .await
        .unwrap();
    receipts.push(mined("placeOrder(ask)", pending).await);
    let placed_ask: Market::OrderPlaced = event(receipts.last().unwrap());
    let market = Market::new(suite.market, &cp);
    let pending = market.placeOrder(bid()).send().await.unwrap();
    receipts.push(mined("placeOrder(bid)", pending).await);
    let placed_bid: Market::OrderPlaced = event(receipts.last().unwrap());
    assert_eq!(placed_ask.author, supplier);
    assert_eq!(placed_bid.author, consumer);

    let pending = market
        .openDeal(
            placed_ask.orderId,
            placed_ask.order.clone(),
            placed_bid.orderId,
            placed_bid.order.clone(),
        )
        .send()
        .await
        .unwrap();
    receipts.push(mined("openDeal", pending).await);
    let opened: Market::DealOpened = event(receipts.last().unwrap());
    let (deal_id, parties) = (opened.dealId, opened.parties);

    advance(&dp, SERVED[0]).await;
    let pending = Market::new(suite.market, &sp)
        .bill(deal_id, parties.clone())
        .send()
        .await
        .unwrap();
    receipts.push(mined("bill", pending).await);
    let billed: Market::DealBilled = event(receipts.last().unwrap());

    advance(&dp, SERVED[1]).await;
    // A stranger may not close the deal: the node refuses it (at gas
    // estimation) with the market's custom error as JSON-RPC revert data.
    let err = Market::new(suite.market, &xp)
        .closeDeal(deal_id, parties.clone(), 0)
        .send()
        .await
        .expect_err("a stranger's closeDeal must revert");
    let data = err
        .as_revert_data()
        .unwrap_or_else(|| panic!("no revert data in {err:?}"));
    let stranger_err = match Revert::decode(&data) {
        Revert::Market(e @ Market::MarketErrors::NotDealParty(_)) => e,
        other => panic!("expected NotDealParty, got {other:?} ({other})"),
    };
    assert_eq!(
        err.as_decoded_interface_error::<Market::MarketErrors>(),
        Some(stranger_err.clone())
    );
    let Market::MarketErrors::NotDealParty(e) = &stranger_err else {
        unreachable!()
    };
    assert_eq!((e.dealId, e.caller), (deal_id, stranger));

    let pending = market
        .closeDeal(deal_id, parties.clone(), 0)
        .send()
        .await
        .unwrap();
    receipts.push(mined("closeDeal", pending).await);
    let closed: Market::DealClosed = event(receipts.last().unwrap());

    let mut times = [0; 7];
    for (t, r) in times.iter_mut().zip(&receipts) {
        *t = block_time(&dp, r).await;
    }
    let mut balances = [U256::ZERO; 3];
    for (b, who) in balances.iter_mut().zip([supplier, consumer, suite.market]) {
        *b = token.balanceOf(who).call().await.unwrap();
    }
    Run {
        suite,
        times,
        gas: std::array::from_fn(|i| receipts[i].gas_used),
        ask: placed_ask.order,
        bid: placed_bid.order,
        parties,
        deal_id,
        billed,
        closed,
        stranger: stranger_err,
        balances,
        rate,
    }
}

/// Moves the Sim's clock to `t`, a timestamp taken from anvil.
fn at(sim: &mut Sim, t: u64) {
    assert!(t >= sim.timestamp(), "anvil's clock is behind the Sim's");
    sim.warp(t - sim.timestamp());
}

/// The same sequence, from the same accounts, at the same block timestamps,
/// in the in-process EVM.
fn in_sim(times: &[u64; 7], deploy_time: u64) -> Run {
    let [deployer, supplier, consumer, stranger] = DEV_KEYS.map(|(_, a)| a);
    let mut sim = Sim::new();
    at(&mut sim, deploy_time);
    let suite = deploy_suite_sim(&mut sim, deployer, &SuiteConfig::dev(deployer))
        .expect("deploy the suite in the Sim");
    let rate = sim.view(suite.oracle, &OracleUSD::priceCall {}).unwrap();
    let mut gas = [0; 7];

    at(&mut sim, times[0]);
    let transfer = FogToken::transferCall {
        to: consumer,
        value: U256::from(GIVEN),
    };
    gas[0] = sim.send(deployer, suite.token, &transfer).unwrap().gas_used;
    at(&mut sim, times[1]);
    let approve = FogToken::approveCall {
        spender: suite.market,
        value: U256::MAX,
    };
    gas[1] = sim.send(consumer, suite.token, &approve).unwrap().gas_used;

    at(&mut sim, times[2]);
    let out = sim
        .send(supplier, suite.market, &Market::placeOrderCall { o: ask() })
        .unwrap();
    gas[2] = out.gas_used;
    let placed_ask = out.event::<Market::OrderPlaced>().unwrap();
    at(&mut sim, times[3]);
    let out = sim
        .send(consumer, suite.market, &Market::placeOrderCall { o: bid() })
        .unwrap();
    gas[3] = out.gas_used;
    let placed_bid = out.event::<Market::OrderPlaced>().unwrap();

    at(&mut sim, times[4]);
    let open = Market::openDealCall {
        askId: placed_ask.orderId,
        ask: placed_ask.order.clone(),
        bidId: placed_bid.orderId,
        bid: placed_bid.order.clone(),
    };
    let out = sim.send(consumer, suite.market, &open).unwrap();
    gas[4] = out.gas_used;
    let opened = out.event::<Market::DealOpened>().unwrap();
    let (deal_id, parties) = (opened.dealId, opened.parties);

    at(&mut sim, times[5]);
    let bill = Market::billCall {
        dealId: deal_id,
        parties: parties.clone(),
    };
    let out = sim.send(supplier, suite.market, &bill).unwrap();
    gas[5] = out.gas_used;
    let billed = out.event::<Market::DealBilled>().unwrap();

    at(&mut sim, times[6]);
    let close = Market::closeDealCall {
        dealId: deal_id,
        parties: parties.clone(),
        blacklistChoice: 0,
    };
    // Reverted transactions change no storage, so this one leaves the
    // sequence identical to anvil's (where it never reached a block).
    let stranger_err = match sim.send(stranger, suite.market, &close) {
        Err(SimError::Reverted {
            revert: Revert::Market(e),
            ..
        }) => e,
        other => panic!("expected a market revert in the Sim, got {other:?}"),
    };
    let out = sim.send(consumer, suite.market, &close).unwrap();
    gas[6] = out.gas_used;
    let closed = out.event::<Market::DealClosed>().unwrap();

    let balances = [supplier, consumer, suite.market].map(|who| {
        sim.view(suite.token, &FogToken::balanceOfCall { account: who })
            .unwrap()
    });
    Run {
        suite,
        times: *times,
        gas,
        ask: placed_ask.order,
        bid: placed_bid.order,
        parties,
        deal_id,
        billed,
        closed,
        stranger: stranger_err,
        balances,
        rate,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn suite_runs_a_deal_lifecycle_on_anvil_with_the_sims_gas() {
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
    let (_, dp) = anvil.wallet(0);

    let real = on_anvil(&anvil).await;
    let deploy_time = dp.get_block_by_number(1u64.into()).await.unwrap().unwrap();

    // Balances move as DESIGN says: the supplier (its own master) is paid
    // price x seconds x rate / 1e18 per bill, the consumer gets the rest back.
    let [t_open, t_bill, t_close] = [real.times[4], real.times[5], real.times[6]];
    assert_eq!(u64::from(real.parties.start), t_open);
    assert!(t_bill - t_open >= SERVED[0] && t_close - t_bill >= SERVED[1]);
    let (due_bill, due_close) = (
        cost(t_bill - t_open, real.rate),
        cost(t_close - t_bill, real.rate),
    );
    assert_eq!(real.billed.paid, due_bill);
    assert_eq!(real.closed.refund, cost(3600, real.rate) - due_close);
    assert_eq!(real.closed.reason, 1, "closed by the consumer");
    let paid = due_bill + due_close;
    assert_eq!(
        real.balances,
        [paid, U256::from(GIVEN) - paid, U256::ZERO],
        "supplier, consumer, market"
    );
    assert!(paid > U256::ZERO);

    // The same sequence in the in-process EVM.
    let sim = in_sim(&real.times, deploy_time.header.timestamp);
    println!("{:<16} {:>9} {:>9}", "step", "anvil", "sim");
    for ((step, a), s) in STEPS.iter().zip(real.gas).zip(sim.gas) {
        let mark = if a == s { "" } else { "  <- differs" };
        println!("{step:<16} {a:>9} {s:>9}{mark}");
    }
    println!(
        "timestamps {:?}; paid {paid}; took {:.1?}",
        real.times,
        started.elapsed()
    );
    assert_eq!(real.gas, sim.gas, "gas used per step: anvil vs Sim");
    assert_eq!(real, sim, "the whole run: anvil vs Sim");
}
