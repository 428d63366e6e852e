//! Property: tokens are conserved across random sequences of market operations
//! (place, cancel, open, quick-buy, bill, change, cancel change, close,
//! approvals, spending, oracle moves, time jumps). 1,000 sequences, each on a
//! fresh suite with randomly funded and approved actors: an opening book of
//! 2..8 orders, then 10..40 random operations. After every operation,
//! reverted or not:
//!
//! - the balances of every holder sum to the token's total supply;
//! - the market holds exactly the frozen sums of the active bids plus the
//!   blocked balances of the live deals (no stuck funds), and each live deal's
//!   terms are those its events announced;
//! - every balance moved exactly as the events say (a revert moves nothing);
//! - no bill pays more than price x seconds billed x oracle rate, billing never
//!   runs past a forward deal's end nor past now, and a deal's payouts sum to
//!   at most what its time served was worth.
//!
//! Each sequence ends, after a last time jump, by billing every live deal,
//! closing those still live and cancelling every active order: all must
//! succeed and leave the market empty.

use std::collections::HashMap;

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolEvent,
};
use fog_contracts::{
    bindings::{FogToken, Market, OracleUSD},
    deploy::TOKEN,
    sim::{Outcome, SimError},
};
use proptest::prelude::*;

use crate::harness::*;

const SEQUENCES: u32 = 1000;

/// S0, S1, S2 (suppliers; S0 works for M), M (a master that also trades),
/// C0, C1, C2 (consumers).
const ACTORS: usize = 7;
const M: usize = 3;
/// Asks come from S0..S2 and M, bids from M and C0..C2.
const ASK_AUTHORS: std::ops::Range<usize> = 0..4;
const BID_AUTHORS: std::ops::Range<usize> = 3..7;

fn actor(i: usize) -> Address {
    crate::backend::account(0x60 + i as u8)
}

const DURATIONS: [u64; 5] = [0, 600, 3600, 7200, 2 * 86400];

#[derive(Debug, Clone)]
enum Amount {
    Zero,
    Max,
    Some(u128),
}

#[derive(Debug, Clone)]
enum NewPrice {
    /// A percentage of the deal's current price.
    Relative(u64),
    Absolute(u128),
}

/// Indices (`pick`, `deal`, `ask`, `bid`) are taken modulo the length of the
/// list they choose from, so any sequence is valid and shrinks well.
/// `caller` of a deal operation: 0 consumer, 1 supplier, 2 the deal's master,
/// 3.. actor(caller - 3). `stale` picks among every order or deal ever seen,
/// live or not.
#[derive(Debug, Clone)]
enum Op {
    PlaceAsk {
        author: usize,
        price: u128,
        duration: u64,
    },
    PlaceBid {
        author: usize,
        price: u128,
        duration: u64,
    },
    Cancel {
        pick: usize,
        caller: usize,
        stale: bool,
    },
    /// caller: 0 bid author, 1 ask author, 2.. actor(caller - 2). `fit`
    /// picks among the pairs whose prices and durations match.
    Open {
        ask: usize,
        bid: usize,
        caller: usize,
        stale: bool,
        fit: bool,
    },
    QuickBuy {
        ask: usize,
        buyer: usize,
        duration: u64,
    },
    Bill {
        deal: usize,
        caller: usize,
        stale: bool,
    },
    Close {
        deal: usize,
        caller: usize,
        blacklist: u8,
        stale: bool,
    },
    /// duration: 0..5 DURATIONS[duration], 5 the deal's own, 6 one hour more.
    Change {
        deal: usize,
        caller: usize,
        price: NewPrice,
        duration: usize,
    },
    CancelChange {
        deal: usize,
        caller: usize,
    },
    /// who: 0..ACTORS actor(who), then the consumer of a live deal.
    Approve {
        who: usize,
        amount: Amount,
    },
    /// The holder (see `Approve`) gives `percent`% of its tokens to the
    /// deployer, so that consumers run dry.
    Spend {
        who: usize,
        percent: u64,
    },
    /// The oracle moves to `percent`% of its rate (proposed by the sole
    /// feeder, or by an actor, which is refused).
    Oracle {
        percent: u64,
        by_feeder: bool,
    },
    Warp {
        secs: u64,
    },
}

fn price() -> impl Strategy<Value = u128> {
    prop_oneof![
        1 => Just(0u128),
        2 => 1..=10u128,
        4 => proptest::sample::select(vec![
            1_000_000u128,
            1_000_000_000,
            2_000_000_000,
            100_000_000_000,
            1_000_000_000_000,
        ]),
        2 => 1..=1_000_000_000_000u128,
    ]
}

fn duration() -> impl Strategy<Value = u64> {
    proptest::sample::select(DURATIONS.to_vec())
}

/// Asks tend to last longer than bids need, so that they match.
fn ask_duration() -> impl Strategy<Value = u64> {
    prop_oneof![2 => duration(), 1 => Just(2 * 86400u64)]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        1 => Just(Amount::Zero),
        4 => Just(Amount::Max),
        2 => log_uniform().prop_map(Amount::Some),
    ]
}

fn place_ask() -> impl Strategy<Value = Op> {
    (ASK_AUTHORS, price(), ask_duration()).prop_map(|(author, price, duration)| Op::PlaceAsk {
        author,
        price,
        duration,
    })
}

fn place_bid() -> impl Strategy<Value = Op> {
    (BID_AUTHORS, price(), duration()).prop_map(|(author, price, duration)| Op::PlaceBid {
        author,
        price,
        duration,
    })
}

/// The orders a sequence starts from.
fn book() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(prop_oneof![place_ask(), place_bid()], 2..8)
}

fn op() -> impl Strategy<Value = Op> {
    let index = 0..64usize;
    // Mostly the deal's own parties, sometimes anyone.
    let deal_caller = prop_oneof![4 => 0..3usize, 1 => 3..(3 + ACTORS)];
    let change_price = prop_oneof![
        3 => proptest::sample::select(vec![50u64, 90, 100, 110, 200]).prop_map(NewPrice::Relative),
        1 => price().prop_map(NewPrice::Absolute),
    ];
    prop_oneof![
        5 => place_ask(),
        7 => place_bid(),
        1 => (
            index.clone(),
            prop_oneof![3 => Just(0usize), 1 => 1..(1 + ACTORS)],
            proptest::bool::weighted(0.2),
        )
            .prop_map(|(pick, caller, stale)| Op::Cancel { pick, caller, stale }),
        8 => (
            index.clone(),
            index.clone(),
            prop_oneof![4 => 0..2usize, 1 => 2..(2 + ACTORS)],
            proptest::bool::weighted(0.05),
            proptest::bool::weighted(0.8),
        )
            .prop_map(|(ask, bid, caller, stale, fit)| Op::Open { ask, bid, caller, stale, fit }),
        4 => (index.clone(), 0..ACTORS, duration())
            .prop_map(|(ask, buyer, duration)| Op::QuickBuy { ask, buyer, duration }),
        6 => (index.clone(), deal_caller.clone(), proptest::bool::weighted(0.05))
            .prop_map(|(deal, caller, stale)| Op::Bill { deal, caller, stale }),
        2 => (index.clone(), deal_caller.clone(), 0..4u8, proptest::bool::weighted(0.05))
            .prop_map(|(deal, caller, blacklist, stale)| Op::Close { deal, caller, blacklist, stale }),
        5 => (index.clone(), deal_caller.clone(), change_price, prop_oneof![Just(5usize), 0..7usize])
            .prop_map(|(deal, caller, price, duration)| Op::Change { deal, caller, price, duration }),
        1 => (index, deal_caller).prop_map(|(deal, caller)| Op::CancelChange { deal, caller }),
        2 => (0..2 * ACTORS, amount()).prop_map(|(who, amount)| Op::Approve { who, amount }),
        2 => (0..2 * ACTORS, prop_oneof![1 => 1..100u64, 1 => Just(100)])
            .prop_map(|(who, percent)| Op::Spend { who, percent }),
        2 => (45..=220u64, proptest::bool::weighted(0.9))
            .prop_map(|(percent, by_feeder)| Op::Oracle { percent, by_feeder }),
        4 => prop_oneof![6 => 0..=3 * 3600u64, 1 => 0..=2 * 86400u64]
            .prop_map(|secs| Op::Warp { secs }),
    ]
}

/// 1e10..1e21 token wei, spread evenly over the orders of magnitude: an hour
/// at the prices above costs up to 3.6e15 at the start rate.
fn log_uniform() -> impl Strategy<Value = u128> {
    (1..1000u128, 10..19u32).prop_map(|(m, e)| m * 10u128.pow(e))
}

/// Token balances: some nothing, most about what a few periods cost, some plenty.
fn balance() -> impl Strategy<Value = u128> {
    prop_oneof![
        1 => Just(0u128),
        5 => log_uniform(),
        2 => Just(100 * TOKEN),
    ]
}

/// A live deal as the events describe it.
#[derive(Debug, Clone)]
struct Deal {
    id: U256,
    parties: Market::DealParties,
    price: U256,
    end: u32,
    blocked: U256,
    last_bill: u32,
    paid: U256,
    /// Sum over its bills of price in force x seconds billed x rate / 1e18.
    max_pay: U256,
}

#[derive(Default)]
struct Model {
    rate: U256,
    /// Active orders, oldest first.
    orders: Vec<Placed>,
    /// Every order ever placed.
    placed: Vec<Placed>,
    deals: Vec<Deal>,
    /// Every deal ever opened, live or closed.
    opened: Vec<Opened>,
}

fn pick<T>(items: &[T], i: usize) -> Option<&T> {
    (!items.is_empty()).then(|| &items[i % items.len()])
}

fn amount_i128(v: U256) -> i128 {
    i128::try_from(v.to::<u128>()).expect("amount fits i128")
}

struct World {
    h: H,
    m: Model,
    holders: Vec<Address>,
    supply: U256,
    balances: Vec<U256>,
}

impl World {
    fn new(balances: &[u128], approvals: &[Amount]) -> Self {
        let mut h = H::new();
        for i in 0..ACTORS {
            if balances[i] > 0 {
                h.give(actor(i), U256::from(balances[i]));
            }
            h.approve(actor(i), approval(&approvals[i]));
        }
        h.bind_worker(actor(0), actor(M));
        let rate = h.oracle_price();
        let supply = h
            .sim
            .view(h.a.token, &FogToken::totalSupplyCall {})
            .expect("totalSupply");
        let mut holders: Vec<Address> = (0..ACTORS).map(actor).collect();
        holders.extend([DEPLOYER, SUPPLIER, CONSUMER, MASTER, STRANGER, VALIDATOR]);
        holders.extend([
            h.a.market,
            h.a.token,
            h.a.oracle,
            h.a.profiles,
            h.a.blacklist,
        ]);
        let mut w = Self {
            h,
            m: Model {
                rate,
                ..Model::default()
            },
            holders,
            supply,
            balances: Vec::new(),
        };
        w.balances = w.read_balances();
        w
    }

    fn read_balances(&mut self) -> Vec<U256> {
        self.holders
            .clone()
            .into_iter()
            .map(|a| self.h.balance(a))
            .collect()
    }

    fn holder(&self, a: Address) -> usize {
        self.holders
            .iter()
            .position(|&h| h == a)
            .unwrap_or_else(|| panic!("{a} is not a known holder"))
    }

    fn deal_caller(&self, parties: &Market::DealParties, caller: usize) -> Address {
        match caller {
            0 => parties.consumer,
            1 => parties.supplier,
            2 => parties.master,
            i => actor(i - 3),
        }
    }

    /// actor(i) for i < ACTORS, else the consumer of a live deal (if any).
    fn someone(&self, i: usize) -> Address {
        match pick(&self.m.deals, i) {
            Some(d) if i >= ACTORS => d.parties.consumer,
            _ => actor(i % ACTORS),
        }
    }

    fn live_deal(&self, i: usize, stale: bool) -> Option<Opened> {
        if stale {
            pick(&self.m.opened, i).cloned()
        } else {
            pick(&self.m.deals, i).map(|d| Opened {
                id: d.id,
                parties: d.parties.clone(),
                gas: 0,
            })
        }
    }

    /// Runs one operation and checks every invariant after it.
    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let market = self.h.a.market;
        match op {
            Op::PlaceAsk {
                author,
                price,
                duration,
            } => {
                let o = order(1, *price, *duration);
                let r = self
                    .h
                    .market_call(actor(*author), &Market::placeOrderCall { o });
                self.settle(r, HashMap::new())
            }
            Op::PlaceBid {
                author,
                price,
                duration,
            } => {
                let o = order(2, *price, *duration);
                let r = self
                    .h
                    .market_call(actor(*author), &Market::placeOrderCall { o });
                self.settle(r, HashMap::new())
            }
            Op::Cancel {
                pick: i,
                caller,
                stale,
            } => {
                let list = if *stale {
                    &self.m.placed
                } else {
                    &self.m.orders
                };
                let Some(p) = pick(list, *i).cloned() else {
                    return Ok(());
                };
                let from = if *caller == 0 {
                    p.order.author
                } else {
                    actor(caller - 1)
                };
                let call = Market::cancelOrderCall {
                    orderId: p.id,
                    o: p.order,
                };
                let r = self.h.market_call(from, &call);
                self.settle(r, HashMap::new())
            }
            Op::Open {
                ask,
                bid,
                caller,
                stale,
                fit,
            } => {
                let list = if *stale {
                    &self.m.placed
                } else {
                    &self.m.orders
                };
                let asks = list.iter().filter(|p| p.order.orderType == 1);
                let bids: Vec<&Placed> = list.iter().filter(|p| p.order.orderType == 2).collect();
                let pairs: Vec<(&Placed, &Placed)> = asks
                    .flat_map(|a| bids.iter().map(move |&b| (a, b)))
                    .filter(|(a, b)| {
                        !fit || (a.order.price <= b.order.price
                            && a.order.duration >= b.order.duration)
                    })
                    .collect();
                let Some(&(a, b)) = pick(&pairs, ask * 64 + bid) else {
                    return Ok(());
                };
                let from = match caller {
                    0 => b.order.author,
                    1 => a.order.author,
                    i => actor(i - 2),
                };
                let call = Market::openDealCall {
                    askId: a.id,
                    ask: a.order.clone(),
                    bidId: b.id,
                    bid: b.order.clone(),
                };
                let r = self.h.market_call(from, &call);
                self.settle(r, HashMap::new())
            }
            Op::QuickBuy {
                ask,
                buyer,
                duration,
            } => {
                let asks: Vec<&Placed> = self
                    .m
                    .orders
                    .iter()
                    .filter(|p| p.order.orderType == 1)
                    .collect();
                let Some(&a) = pick(&asks, *ask) else {
                    return Ok(());
                };
                let call = Market::quickBuyCall {
                    askId: a.id,
                    ask: a.order.clone(),
                    duration: *duration,
                };
                let r = self.h.market_call(actor(*buyer), &call);
                self.settle(r, HashMap::new())
            }
            Op::Bill {
                deal,
                caller,
                stale,
            } => {
                let Some(d) = self.live_deal(*deal, *stale) else {
                    return Ok(());
                };
                let from = self.deal_caller(&d.parties, *caller);
                let r = self.h.bill(from, &d);
                self.settle(r, HashMap::new())
            }
            Op::Close {
                deal,
                caller,
                blacklist,
                stale,
            } => {
                let Some(d) = self.live_deal(*deal, *stale) else {
                    return Ok(());
                };
                let from = self.deal_caller(&d.parties, *caller);
                let r = self.h.close(from, &d, *blacklist);
                self.settle(r, HashMap::new())
            }
            Op::Change {
                deal,
                caller,
                price,
                duration,
            } => {
                let Some(d) = pick(&self.m.deals, *deal).cloned() else {
                    return Ok(());
                };
                let own = if d.end == 0 {
                    0
                } else {
                    u64::from(d.end - d.parties.start)
                };
                let new_duration = match duration {
                    5 => own,
                    6 if own != 0 => own + 3600,
                    6 => 0,
                    i => DURATIONS[*i],
                };
                let new_price = match price {
                    NewPrice::Relative(pct) => d.price * U256::from(*pct) / U256::from(100),
                    NewPrice::Absolute(p) => U256::from(*p),
                };
                let from = self.deal_caller(&d.parties, *caller);
                let call = Market::requestChangeCall {
                    dealId: d.id,
                    parties: d.parties.clone(),
                    newPrice: new_price,
                    newDuration: new_duration,
                };
                let r = self.h.market_call(from, &call);
                self.settle(r, HashMap::new())
            }
            Op::CancelChange { deal, caller } => {
                let Some(d) = self.live_deal(*deal, false) else {
                    return Ok(());
                };
                let from = self.deal_caller(&d.parties, *caller);
                let call = Market::cancelChangeRequestCall {
                    dealId: d.id,
                    parties: d.parties,
                };
                let r = self.h.market_call(from, &call);
                self.settle(r, HashMap::new())
            }
            Op::Approve { who, amount } => {
                let call = FogToken::approveCall {
                    spender: market,
                    value: approval(amount),
                };
                let who = self.someone(*who);
                let r = self.h.sim.send(who, self.h.a.token, &call);
                self.settle(r, HashMap::new())
            }
            Op::Spend { who, percent } => {
                let from = self.someone(*who);
                let value =
                    self.balances[self.holder(from)] * U256::from(*percent) / U256::from(100);
                let call = FogToken::transferCall {
                    to: DEPLOYER,
                    value,
                };
                let r = self.h.sim.send(from, self.h.a.token, &call);
                let mut moved = HashMap::new();
                if r.is_ok() {
                    let v = amount_i128(value);
                    moved.insert(from, -v);
                    moved.insert(DEPLOYER, v);
                }
                self.settle(r, moved)
            }
            Op::Oracle { percent, by_feeder } => {
                let new_price = self.m.rate * U256::from(*percent) / U256::from(100);
                let from = if *by_feeder { DEPLOYER } else { actor(0) };
                let call = OracleUSD::proposePriceCall {
                    newPrice: new_price,
                };
                let r = self.h.sim.send(from, self.h.a.oracle, &call);
                if let Ok(out) = &r
                    && let Some(ev) = out.event::<OracleUSD::PriceChanged>()
                {
                    prop_assert_eq!(ev.price, new_price);
                    self.m.rate = new_price;
                }
                self.settle(r, HashMap::new())
            }
            Op::Warp { secs } => {
                self.h.sim.warp(*secs);
                self.check(&HashMap::new())
            }
        }
    }

    /// Applies a transaction's events to the model (nothing for a revert),
    /// then checks the invariants.
    fn settle<R>(
        &mut self,
        r: Result<Outcome<R>, SimError>,
        mut moved: HashMap<Address, i128>,
    ) -> Result<(), TestCaseError> {
        let out = match r {
            Ok(out) => out,
            Err(SimError::Reverted { .. }) => return self.check(&HashMap::new()),
            Err(other) => return Err(TestCaseError::fail(format!("not a revert: {other}"))),
        };
        let market = self.h.a.market;
        let now = self.h.sim.timestamp();
        let rate = self.m.rate;
        let mut flow = |from: Address, to: Address, v: U256| {
            let v = amount_i128(v);
            *moved.entry(from).or_default() -= v;
            *moved.entry(to).or_default() += v;
        };
        let out_of_funds: Vec<U256> = out
            .events::<Market::DealClosed>()
            .iter()
            .filter(|c| c.reason == 4)
            .map(|c| c.dealId)
            .collect();
        for log in &out.logs {
            if log.address != market {
                continue;
            }
            if let Ok(ev) = Market::OrderPlaced::decode_log(log).map(|l| l.data) {
                flow(ev.order.author, market, ev.order.frozenSum);
                let p = Placed {
                    id: ev.orderId,
                    order: ev.order,
                    gas: 0,
                };
                self.m.orders.push(p.clone());
                self.m.placed.push(p);
            } else if let Ok(ev) = Market::OrderCancelled::decode_log(log).map(|l| l.data) {
                let i = self.m.orders.iter().position(|p| p.id == ev.orderId);
                prop_assert!(i.is_some(), "cancelled order {} was not active", ev.orderId);
                let p = self.m.orders.remove(i.unwrap());
                prop_assert_eq!(ev.refund, p.order.frozenSum);
                flow(market, ev.author, ev.refund);
            } else if let Ok(ev) = Market::DealOpened::decode_log(log).map(|l| l.data) {
                let mut frozen = U256::ZERO;
                for id in [ev.askId, ev.bidId] {
                    let i = self.m.orders.iter().position(|p| p.id == id);
                    prop_assert!(i.is_some(), "deal {} took inactive order {}", ev.dealId, id);
                    frozen += self.m.orders.remove(i.unwrap()).order.frozenSum;
                }
                prop_assert_eq!(
                    ev.blockedBalance,
                    frozen,
                    "deal blocks its bid's frozen sum"
                );
                prop_assert_eq!(u64::from(ev.parties.start), now);
                let start = ev.parties.start;
                self.m.opened.push(Opened {
                    id: ev.dealId,
                    parties: ev.parties.clone(),
                    gas: 0,
                });
                self.m.deals.push(Deal {
                    id: ev.dealId,
                    parties: ev.parties,
                    price: ev.price,
                    end: if ev.duration == 0 {
                        0
                    } else {
                        start + ev.duration as u32
                    },
                    blocked: ev.blockedBalance,
                    last_bill: start,
                    paid: U256::ZERO,
                    max_pay: U256::ZERO,
                });
            } else if let Ok(ev) = Market::DealBilled::decode_log(log).map(|l| l.data) {
                let d = self.m.deals.iter_mut().find(|d| d.id == ev.dealId);
                prop_assert!(d.is_some(), "billed deal {} is not live", ev.dealId);
                let d = d.unwrap();
                let until = ev.billedUntil.to::<u64>();
                prop_assert!(
                    until >= u64::from(d.last_bill),
                    "billed backwards: {:?}",
                    ev
                );
                prop_assert!(until <= now, "billed into the future: {:?}", ev);
                prop_assert!(
                    d.end == 0 || until <= u64::from(d.end),
                    "billed past the end {}: {:?}",
                    d.end,
                    ev
                );
                let due =
                    d.price * U256::from(until - u64::from(d.last_bill)) * rate / U256::from(TOKEN);
                prop_assert!(
                    ev.paid <= due,
                    "deal {} paid {} > due {}",
                    d.id,
                    ev.paid,
                    due
                );
                if !out_of_funds.contains(&d.id) {
                    prop_assert_eq!(ev.paid, due, "deal {} paid short while solvent", d.id);
                }
                prop_assert_eq!(ev.blockedBalance, d.blocked + ev.toppedUp - ev.paid);
                d.paid += ev.paid;
                d.max_pay += due;
                prop_assert!(d.paid <= d.max_pay, "deal {} paid more than served", d.id);
                d.last_bill = until as u32;
                d.blocked = ev.blockedBalance;
                let (consumer, master) = (d.parties.consumer, d.parties.master);
                flow(consumer, market, ev.toppedUp);
                flow(market, master, ev.paid);
            } else if let Ok(ev) = Market::DealChanged::decode_log(log).map(|l| l.data) {
                let d = self.m.deals.iter_mut().find(|d| d.id == ev.dealId);
                prop_assert!(d.is_some(), "changed deal {} is not live", ev.dealId);
                let d = d.unwrap();
                d.price = ev.price;
                d.end = ev.end.to::<u32>();
            } else if let Ok(ev) = Market::DealClosed::decode_log(log).map(|l| l.data) {
                let i = self.m.deals.iter().position(|d| d.id == ev.dealId);
                prop_assert!(i.is_some(), "closed deal {} is not live", ev.dealId);
                let d = self.m.deals.remove(i.unwrap());
                prop_assert_eq!(ev.closedAt, U256::from(d.last_bill), "closed where billed");
                prop_assert_eq!(ev.refund, d.blocked, "refund is what stayed blocked");
                flow(market, d.parties.consumer, ev.refund);
            }
        }
        self.check(&moved)
    }

    /// The invariants, given how the last transaction's events say balances moved.
    fn check(&mut self, moved: &HashMap<Address, i128>) -> Result<(), TestCaseError> {
        for a in moved.keys() {
            self.holder(*a);
        }
        let balances = self.read_balances();
        for (i, (&before, &after)) in self.balances.iter().zip(&balances).enumerate() {
            let who = self.holders[i];
            let expected = amount_i128(before) + moved.get(&who).copied().unwrap_or_default();
            prop_assert_eq!(
                amount_i128(after),
                expected,
                "balance of {} moved other than the events say",
                who
            );
        }
        let total = balances.iter().fold(U256::ZERO, |s, b| s + b);
        prop_assert_eq!(total, self.supply, "balances do not add up to the supply");
        let supply: U256 = self
            .h
            .sim
            .view(self.h.a.token, &FogToken::totalSupplyCall {})
            .expect("totalSupply");
        prop_assert_eq!(supply, self.supply);
        self.balances = balances;

        let mut owed: U256 = self
            .m
            .orders
            .iter()
            .map(|p| p.order.frozenSum)
            .fold(U256::ZERO, |s, v| s + v);
        for d in self.m.deals.clone() {
            let opened = Opened {
                id: d.id,
                parties: d.parties.clone(),
                gas: 0,
            };
            let t = self.h.terms(&opened);
            prop_assert_eq!(U256::from(t.price), d.price, "deal {} price", d.id);
            prop_assert_eq!(
                U256::from(t.blockedBalance),
                d.blocked,
                "deal {} blocked",
                d.id
            );
            prop_assert_eq!(t.end, d.end, "deal {} end", d.id);
            prop_assert_eq!(t.lastBillTs, d.last_bill, "deal {} last bill", d.id);
            prop_assert!(d.paid <= d.max_pay);
            owed += U256::from(t.blockedBalance);
        }
        let held = self.balances[self.holder(self.h.a.market)];
        prop_assert_eq!(
            held,
            owed,
            "the market holds funds no order or deal accounts for"
        );
        Ok(())
    }

    /// After `secs`, bills every live deal, then closes those still live and
    /// cancels every active order: all must succeed and leave the market empty.
    fn wind_down(&mut self, secs: u64) -> Result<(), TestCaseError> {
        self.h.sim.warp(secs);
        for d in self.m.deals.clone() {
            let opened = Opened {
                id: d.id,
                parties: d.parties.clone(),
                gas: 0,
            };
            let r = self.h.bill(d.parties.consumer, &opened);
            prop_assert!(
                r.is_ok(),
                "consumer cannot bill deal {}: {:?}",
                d.id,
                r.err()
            );
            self.settle(r, HashMap::new())?;
        }
        while let Some(d) = self.m.deals.first().cloned() {
            let opened = Opened {
                id: d.id,
                parties: d.parties.clone(),
                gas: 0,
            };
            let r = self.h.close(d.parties.consumer, &opened, 0);
            prop_assert!(
                r.is_ok(),
                "consumer cannot close deal {}: {:?}",
                d.id,
                r.err()
            );
            self.settle(r, HashMap::new())?;
            prop_assert!(self.m.deals.iter().all(|x| x.id != d.id));
        }
        while let Some(p) = self.m.orders.first().cloned() {
            let call = Market::cancelOrderCall {
                orderId: p.id,
                o: p.order.clone(),
            };
            let r = self.h.market_call(p.order.author, &call);
            prop_assert!(
                r.is_ok(),
                "author cannot cancel order {}: {:?}",
                p.id,
                r.err()
            );
            self.settle(r, HashMap::new())?;
        }
        let market = self.h.a.market;
        prop_assert_eq!(
            self.h.balance(market),
            U256::ZERO,
            "tokens stuck in the market"
        );
        Ok(())
    }
}

fn approval(a: &Amount) -> U256 {
    match a {
        Amount::Zero => U256::ZERO,
        Amount::Max => U256::MAX,
        Amount::Some(v) => U256::from(*v),
    }
}

/// A plain order: no benchmarks, no counterparty, no requirements.
fn order(kind: u8, price: u128, duration: u64) -> Market::Order {
    Market::Order {
        orderType: kind,
        author: Address::ZERO,
        counterparty: Address::ZERO,
        duration,
        price: U256::from(price),
        netflags: if kind == 1 { 7 } else { 2 },
        identityLevel: 0,
        blacklist: Address::ZERO,
        tag: B256::ZERO,
        benchmarks: Vec::new(),
        frozenSum: U256::ZERO,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::harness::scaled(SEQUENCES), max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn tokens_are_conserved_across_random_market_operations(
        balances in proptest::collection::vec(balance(), ACTORS),
        approvals in proptest::collection::vec(amount(), ACTORS),
        book in book(),
        ops in proptest::collection::vec(op(), 10..40),
        last_warp in 0..=3 * 3600u64,
    ) {
        let mut w = World::new(&balances, &approvals);
        w.check(&HashMap::new())?;
        for (i, op) in book.iter().chain(&ops).enumerate() {
            w.step(op).map_err(|e| TestCaseError::fail(format!("after op {i} {op:?}: {e}")))?;
        }
        w.wind_down(last_warp)
            .map_err(|e| TestCaseError::fail(format!("winding down: {e}")))?;
    }
}
