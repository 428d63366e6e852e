//! Property: the off-chain match predicate (fog-primitives) and the market's
//! openDeal agree, rule for rule, on random ask/bid pairs in random worlds of
//! masters, identity levels and blacklists. 20 worlds x 500 pairs = 10,000.

use alloy::primitives::{Address, B256, U256};
use fog_contracts::{
    bindings::Market,
    convert::{match_error, pack_benchmarks},
    sim::SimError,
};
use fog_primitives::{Benchmarks, IdentityLevel, MatchError, Order, StaticContext, check_match};
use proptest::prelude::*;

use crate::harness::*;

/// Accounts 0..4 sell, 4..8 buy, 8 only keeps a blacklist.
const ACCOUNTS: usize = 9;
const WORLDS: u32 = 20;
const PAIRS_PER_WORLD: usize = 500;

fn scaled_pairs() -> usize {
    if crate::harness::on_chain() {
        100
    } else {
        PAIRS_PER_WORLD
    }
}

fn account(i: usize) -> Address {
    crate::backend::account(0x40 + i as u8)
}

#[derive(Debug, Clone)]
struct World {
    /// (worker in 0..4, master in 4..8)
    bindings: Vec<(usize, usize)>,
    /// certificate attribute per account (0 = none)
    levels: Vec<u32>,
    /// (who, whom)
    blacklist: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct RawOrder {
    author: usize,
    counterparty: Option<usize>,
    duration: u64,
    price: u64,
    netflags: u8,
    identity_level: u8,
    blacklist: Option<usize>,
    benchmarks: Vec<u64>,
}

fn world() -> impl Strategy<Value = World> {
    (
        proptest::collection::vec((0..4usize, 4..8usize), 0..3),
        proptest::collection::vec(
            prop_oneof![Just(0u32), Just(1201), Just(1301), Just(1401)],
            ACCOUNTS,
        ),
        proptest::collection::vec((0..ACCOUNTS, 0..ACCOUNTS), 0..8),
    )
        .prop_map(|(mut bindings, levels, blacklist)| {
            bindings.sort();
            bindings.dedup_by_key(|b| b.0);
            let mut blacklist: Vec<_> = blacklist.into_iter().filter(|(a, b)| a != b).collect();
            blacklist.sort();
            blacklist.dedup();
            World {
                bindings,
                levels,
                blacklist,
            }
        })
}

/// Asks lean generous and bids modest, so that most pairs get past the cheap
/// rules and the later ones (counterparty, identity, blacklist) are exercised.
fn raw_order(ask: bool) -> impl Strategy<Value = RawOrder> {
    let authors = if ask { 0..4usize } else { 4..8usize };
    let duration = if ask {
        prop_oneof![1 => Just(0u64), 3 => Just(3600)].boxed()
    } else {
        prop_oneof![3 => Just(0u64), 1 => Just(100), 1 => Just(7200)].boxed()
    };
    let price = if ask {
        (0..3u64).boxed()
    } else {
        (1..4u64).boxed()
    };
    let netflags = if ask {
        prop_oneof![3 => Just(7u8), 1 => 0..8u8].boxed()
    } else {
        prop_oneof![3 => Just(0u8), 1 => 0..8u8].boxed()
    };
    let benchmark = if ask {
        prop_oneof![3 => 1..4u64, 1 => Just(0), 1 => Just(u64::MAX)].boxed()
    } else {
        prop_oneof![20 => Just(0u64), 6 => 0..3u64, 1 => Just(u64::MAX)].boxed()
    };
    (
        authors,
        prop_oneof![4 => Just(None), 1 => (0..ACCOUNTS).prop_map(Some)],
        duration,
        price,
        netflags,
        prop_oneof![2 => Just(0u8), 1 => 1..5u8],
        prop_oneof![3 => Just(None), 1 => (0..ACCOUNTS).prop_map(Some)],
        proptest::collection::vec(benchmark, 0..10),
    )
        .prop_map(
            |(
                author,
                counterparty,
                duration,
                price,
                netflags,
                identity_level,
                blacklist,
                benchmarks,
            )| {
                RawOrder {
                    author,
                    counterparty,
                    duration,
                    price,
                    netflags,
                    identity_level,
                    blacklist,
                    benchmarks,
                }
            },
        )
}

fn wire(kind: u8, o: &RawOrder) -> Market::Order {
    Market::Order {
        orderType: kind,
        author: account(o.author),
        counterparty: o.counterparty.map(account).unwrap_or_default(),
        duration: o.duration,
        price: U256::from(o.price),
        netflags: o.netflags,
        identityLevel: o.identity_level,
        blacklist: o.blacklist.map(account).unwrap_or_default(),
        tag: B256::ZERO,
        benchmarks: pack_benchmarks(&Benchmarks::new(o.benchmarks.clone())),
        frozenSum: U256::ZERO,
    }
}

fn build(world: &World) -> (H, StaticContext) {
    let mut h = H::new();
    let mut ctx = StaticContext::new();
    for i in 0..ACCOUNTS {
        h.give(account(i), U256::from(10u64.pow(15)));
        h.approve(account(i), U256::MAX);
    }
    for &(worker, master) in &world.bindings {
        h.bind_worker(account(worker), account(master));
        ctx = ctx.with_master(account(worker), account(master));
    }
    for (i, &attr) in world.levels.iter().enumerate() {
        if attr != 0 {
            h.certify(account(i), attr);
            let level = match attr {
                1201 => IdentityLevel::Registered,
                1301 => IdentityLevel::Identified,
                _ => IdentityLevel::Professional,
            };
            ctx = ctx.with_level(account(i), level);
        }
    }
    for &(who, whom) in &world.blacklist {
        h.blacklist_add(account(who), account(whom));
        ctx = ctx.with_blacklisted(account(who), account(whom));
    }
    (h, ctx)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::harness::scaled(WORLDS), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn off_chain_predicate_agrees_with_open_deal(
        world in world(),
        pairs in proptest::collection::vec((raw_order(true), raw_order(false)), scaled_pairs()),
    ) {
        let (mut h, ctx) = build(&world);
        for (ask_raw, bid_raw) in &pairs {
            let ask = h.place_ok(account(ask_raw.author), wire(1, ask_raw));
            let bid = h.place_ok(account(bid_raw.author), wire(2, bid_raw));
            let expected = check_match(
                &Order::try_from(&ask.order).unwrap(),
                &Order::try_from(&bid.order).unwrap(),
                &ctx,
            );
            let actual: Result<(), MatchError> = match h.open(account(bid_raw.author), &ask, &bid) {
                Ok(_) => Ok(()),
                Err(SimError::Reverted { revert: fog_contracts::Revert::Market(e), .. }) => {
                    Err(match_error(&e).unwrap_or_else(|| panic!("not a match rule: {e:?}")))
                }
                Err(other) => panic!("openDeal failed outside the match rule: {other}"),
            };
            prop_assert_eq!(actual, expected, "ask {:?} bid {:?}", ask_raw, bid_raw);
        }
    }
}
