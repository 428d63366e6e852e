//! One small helper per feature: a deployed suite in the in-process EVM with
//! named, funded accounts, and short verbs for the market's calls.

use alloy::primitives::{Address, B256, U256, address};
use fog_contracts::{
    Addresses, Revert, SuiteConfig,
    bindings::{Blacklist, FogToken, Market, OracleUSD, ProfileRegistry},
    deploy::{TOKEN, market_initcode},
    sim::{Outcome, SimError},
};

pub use crate::backend::Backend;

// The addresses of the test keys 0xd0d0.., 0x5151.., ... (see `account`).
pub const DEPLOYER: Address = address!("21595063f239a778f1BCa8AF17CC12930337ffb5");
pub const SUPPLIER: Address = address!("fA17c5B66A985F44Bc249C8E8faBD64767f414B1");
pub const CONSUMER: Address = address!("Eb3b580543341e68da1462eDCe4f168a9d6682CE");
pub const MASTER: Address = address!("6cEEE2D764EE8BdeE737e53e5F02a8275AFe0456");
pub const STRANGER: Address = address!("0D8e461687b7D06f86EC348E0c270b0F279855F0");
pub const VALIDATOR: Address = address!("3E20ab25eB721DD4B691516238Df14f0F5d3F7a3");

/// Whether the suite runs on a real `fog chain` (see `backend`).
pub fn on_chain() -> bool {
    std::env::var("FOG_SUITE_CHAIN").is_ok_and(|v| !v.is_empty())
}

/// Property-test cases: all of them in the simulator, a twentieth (at least
/// two) on a real chain, where every transaction is a sealed, durable block.
pub fn scaled(cases: u32) -> u32 {
    if on_chain() {
        (cases / 20).max(2)
    } else {
        cases
    }
}

/// Tokens each test account starts with.
pub const START_BALANCE: u128 = 1_000_000 * TOKEN;
/// 1 USD per hour, in USD-wei per second (rounded down).
pub const USD_PER_HOUR: u128 = TOKEN / 3600;

pub struct H {
    pub sim: Backend,
    pub a: Addresses,
}

/// Deploys and wires the suite as `fog_contracts::deploy` does, on any backend.
fn deploy_suite(sim: &mut Backend, deployer: Address, config: &SuiteConfig) -> Addresses {
    let [token, oracle, profiles, blacklist] = config
        .initcodes()
        .map(|code| sim.deploy(deployer, code).expect("deploy"));
    let market = sim
        .deploy(
            deployer,
            market_initcode(token, oracle, profiles, blacklist),
        )
        .expect("deploy market");
    sim.send(
        deployer,
        blacklist,
        &Blacklist::setMarketCall { market_: market },
    )
    .expect("setMarket");
    Addresses {
        token,
        oracle,
        profiles,
        blacklist,
        market,
    }
}

impl H {
    /// A fresh suite; SUPPLIER, CONSUMER, MASTER and STRANGER hold START_BALANCE
    /// each and have approved the market for everything they hold.
    pub fn new() -> Self {
        let mut sim = Backend::from_env();
        let a = deploy_suite(&mut sim, DEPLOYER, &SuiteConfig::dev(DEPLOYER));
        let mut h = Self { sim, a };
        for who in [SUPPLIER, CONSUMER, MASTER, STRANGER] {
            h.give(who, U256::from(START_BALANCE));
            h.approve(who, U256::MAX);
        }
        h
    }

    pub fn give(&mut self, to: Address, amount: U256) {
        self.sim
            .send(
                DEPLOYER,
                self.a.token,
                &FogToken::transferCall { to, value: amount },
            )
            .expect("transfer");
    }

    pub fn approve(&mut self, who: Address, amount: U256) {
        let call = FogToken::approveCall {
            spender: self.a.market,
            value: amount,
        };
        self.sim.send(who, self.a.token, &call).expect("approve");
    }

    pub fn balance(&mut self, who: Address) -> U256 {
        self.sim
            .view(self.a.token, &FogToken::balanceOfCall { account: who })
            .expect("balanceOf")
    }

    pub fn market_call<C: alloy::sol_types::SolCall>(
        &mut self,
        from: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        self.sim.send(from, self.a.market, call)
    }

    pub fn market_view<C: alloy::sol_types::SolCall>(&mut self, call: &C) -> C::Return {
        self.sim.view(self.a.market, call).expect("market view")
    }

    /// Places `order` as `author`; returns its id and the order as stored.
    pub fn place(&mut self, author: Address, order: Market::Order) -> Result<Placed, SimError> {
        let out = self.market_call(author, &Market::placeOrderCall { o: order })?;
        let ev = out.event::<Market::OrderPlaced>().expect("OrderPlaced");
        Ok(Placed {
            id: ev.orderId,
            order: ev.order,
            gas: out.gas_used,
        })
    }

    pub fn place_ok(&mut self, author: Address, order: Market::Order) -> Placed {
        self.place(author, order).expect("placeOrder")
    }

    pub fn open(
        &mut self,
        caller: Address,
        ask: &Placed,
        bid: &Placed,
    ) -> Result<Opened, SimError> {
        let call = Market::openDealCall {
            askId: ask.id,
            ask: ask.order.clone(),
            bidId: bid.id,
            bid: bid.order.clone(),
        };
        let out = self.market_call(caller, &call)?;
        Ok(Opened::from_outcome(&out))
    }

    /// Places a default spot ask (SUPPLIER) and bid (CONSUMER) at `price` and opens the deal.
    pub fn spot_deal(&mut self, price: u128) -> Opened {
        let ask = self.place_ok(SUPPLIER, ask(price, 0));
        let bid = self.place_ok(CONSUMER, bid(price, 0));
        self.open(CONSUMER, &ask, &bid).expect("openDeal")
    }

    /// Places a forward ask and bid of `duration` seconds and opens the deal.
    pub fn forward_deal(&mut self, price: u128, duration: u64) -> Opened {
        let ask = self.place_ok(SUPPLIER, ask(price, duration));
        let bid = self.place_ok(CONSUMER, bid(price, duration));
        self.open(CONSUMER, &ask, &bid).expect("openDeal")
    }

    pub fn bill(&mut self, caller: Address, deal: &Opened) -> Result<Outcome<()>, SimError> {
        let call = Market::billCall {
            dealId: deal.id,
            parties: deal.parties.clone(),
        };
        self.market_call(caller, &call).map(unit)
    }

    pub fn close(
        &mut self,
        caller: Address,
        deal: &Opened,
        blacklist: u8,
    ) -> Result<Outcome<()>, SimError> {
        let call = Market::closeDealCall {
            dealId: deal.id,
            parties: deal.parties.clone(),
            blacklistChoice: blacklist,
        };
        self.market_call(caller, &call).map(unit)
    }

    pub fn request_change(
        &mut self,
        caller: Address,
        deal: &Opened,
        price: u128,
        duration: u64,
    ) -> Result<Outcome<()>, SimError> {
        let call = Market::requestChangeCall {
            dealId: deal.id,
            parties: deal.parties.clone(),
            newPrice: U256::from(price),
            newDuration: duration,
        };
        self.market_call(caller, &call).map(unit)
    }

    pub fn terms(&mut self, deal: &Opened) -> Market::DealTerms {
        self.market_view(&Market::dealTermsOfCall { dealId: deal.id })
    }

    pub fn deal_status(&mut self, id: U256) -> u8 {
        self.market_view(&Market::dealStatusCall { dealId: id })
    }

    pub fn is_blacklisted(&mut self, who: Address, whom: Address) -> bool {
        self.sim
            .view(
                self.a.blacklist,
                &Blacklist::isBlacklistedCall { who, whom },
            )
            .expect("isBlacklisted")
    }

    pub fn blacklist_add(&mut self, who: Address, whom: Address) {
        self.sim
            .send(who, self.a.blacklist, &Blacklist::addCall { whom })
            .expect("blacklist add");
    }

    pub fn blacklist_remove(&mut self, who: Address, whom: Address) {
        self.sim
            .send(who, self.a.blacklist, &Blacklist::removeCall { whom })
            .expect("blacklist remove");
    }

    pub fn set_validator(&mut self, validator: Address, level: u8) {
        let call = ProfileRegistry::setValidatorCall { validator, level };
        self.sim
            .send(DEPLOYER, self.a.profiles, &call)
            .expect("setValidator");
    }

    /// Gives `owner` a certificate for `attribute`, issued by a level-9 validator.
    pub fn certify(&mut self, owner: Address, attribute: u32) {
        self.set_validator(VALIDATOR, 9);
        let call = ProfileRegistry::createCertificateCall {
            owner,
            attribute,
            value: b"yes".to_vec().into(),
        };
        self.sim
            .send(VALIDATOR, self.a.profiles, &call)
            .expect("createCertificate");
    }

    pub fn bind_worker(&mut self, worker: Address, master: Address) {
        self.market_call(worker, &Market::registerWorkerCall { master })
            .expect("registerWorker");
        self.market_call(master, &Market::confirmWorkerCall { worker })
            .expect("confirmWorker");
    }

    pub fn oracle_price(&mut self) -> U256 {
        self.sim
            .view(self.a.oracle, &OracleUSD::priceCall {})
            .expect("price")
    }

    /// Tokens owed for `secs` at `price` USD-wei/s at the current oracle rate.
    pub fn cost(&mut self, price: u128, secs: u64) -> U256 {
        U256::from(price) * U256::from(secs) * self.oracle_price() / U256::from(TOKEN)
    }
}

fn unit<T>(o: Outcome<T>) -> Outcome<()> {
    Outcome {
        ret: (),
        gas_used: o.gas_used,
        logs: o.logs,
    }
}

/// A deal as opened: its id and the parties to pass back.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: U256,
    pub parties: Market::DealParties,
    pub gas: u64,
}

impl Opened {
    pub fn from_outcome<T>(out: &Outcome<T>) -> Self {
        let ev = out.event::<Market::DealOpened>().expect("DealOpened");
        Self {
            id: ev.dealId,
            parties: ev.parties,
            gas: out.gas_used,
        }
    }
}

/// An order as placed: its id and the exact fields the market hashed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub id: U256,
    pub order: Market::Order,
    pub gas: u64,
}

/// The v1 benchmark vector of a small machine (14 entries).
pub fn machine() -> Vec<u64> {
    vec![
        120_000_000, // cpu-multi
        30_000_000,  // cpu-single
        4,           // cpu-cores
        8 << 30,     // ram-size
        100 << 30,   // storage-size
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

pub fn pack(benchmarks: &[u64]) -> Vec<U256> {
    fog_contracts::convert::pack_benchmarks(&fog_primitives::Benchmarks::new(benchmarks.to_vec()))
}

pub fn ask(price: u128, duration: u64) -> Market::Order {
    Market::Order {
        orderType: 1,
        author: Address::ZERO,
        counterparty: Address::ZERO,
        duration,
        price: U256::from(price),
        netflags: 7,
        identityLevel: 0,
        blacklist: Address::ZERO,
        tag: B256::ZERO,
        benchmarks: pack(&machine()),
        frozenSum: U256::ZERO,
    }
}

pub fn bid(price: u128, duration: u64) -> Market::Order {
    let mut benchmarks = machine();
    benchmarks.iter_mut().for_each(|b| *b /= 2);
    Market::Order {
        orderType: 2,
        netflags: 2,
        benchmarks: pack(&benchmarks),
        ..ask(price, duration)
    }
}

/// The market error a failed call raised; panics on success or another failure.
pub fn market_err<T: std::fmt::Debug>(r: Result<T, SimError>) -> Market::MarketErrors {
    match r {
        Err(SimError::Reverted {
            revert: Revert::Market(e),
            ..
        }) => e,
        other => panic!("expected a market error, got {other:?}"),
    }
}

/// The revert a failed call raised; panics on success or a non-revert failure.
pub fn revert<T: std::fmt::Debug>(r: Result<T, SimError>) -> Revert {
    match r {
        Err(SimError::Reverted { revert, .. }) => revert,
        other => panic!("expected a revert, got {other:?}"),
    }
}
