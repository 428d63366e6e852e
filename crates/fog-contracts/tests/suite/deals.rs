//! Opening deals: the match rule, who may open, QuickBuy.

use alloy::primitives::{Address, U256};
use fog_contracts::bindings::{Market, Market::MarketErrors as E};

use crate::harness::*;

const P: u128 = 2 * USD_PER_HOUR;

fn try_open(
    h: &mut H,
    ask_order: Market::Order,
    bid_order: Market::Order,
) -> Result<Opened, fog_contracts::sim::SimError> {
    let ask = h.place_ok(SUPPLIER, ask_order);
    let bid = h.place_ok(CONSUMER, bid_order);
    h.open(CONSUMER, &ask, &bid)
}

#[test]
fn deal_takes_price_and_benchmarks_from_the_ask_and_duration_from_the_bid() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 7200));
    let bid = h.place_ok(CONSUMER, bid(2 * P, 3600));
    let call = Market::openDealCall {
        askId: ask.id,
        ask: ask.order.clone(),
        bidId: bid.id,
        bid: bid.order.clone(),
    };
    let out = h.market_call(CONSUMER, &call).unwrap();
    let ev = out.event::<Market::DealOpened>().unwrap();
    assert_eq!(ev.price, U256::from(P));
    assert_eq!(ev.duration, 3600);
    assert_eq!(ev.askId, ask.id);
    assert_eq!(ev.bidId, bid.id);
    assert_eq!(ev.blockedBalance, bid.order.frozenSum);
    assert_eq!(ev.parties.supplier, SUPPLIER);
    assert_eq!(ev.parties.consumer, CONSUMER);
    assert_eq!(ev.parties.master, SUPPLIER);
    let terms = h.market_view(&Market::dealTermsOfCall { dealId: ev.dealId });
    assert_eq!(u64::from(terms.end), u64::from(ev.parties.start) + 3600);
}

#[test]
fn opening_a_deal_makes_both_orders_inactive() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    h.open(CONSUMER, &ask, &bid).unwrap();
    let bid2 = h.place_ok(CONSUMER, crate::harness::bid(P, 0));
    assert!(
        matches!(market_err(h.open(CONSUMER, &ask, &bid2)), E::OrderNotActive(e) if e.orderId == ask.id)
    );
}

#[test]
fn ask_and_bid_swapped_are_refused() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    assert!(matches!(
        market_err(h.open(CONSUMER, &bid, &ask)),
        E::OrderTypeMismatch(_)
    ));
}

#[test]
fn a_stranger_cannot_open_a_deal_between_others() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    assert!(matches!(
        market_err(h.open(STRANGER, &ask, &bid)),
        E::NotOrderParty(_)
    ));
}

#[test]
fn the_supplier_and_its_master_may_open_a_deal() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    for opener in [SUPPLIER, MASTER] {
        let ask = h.place_ok(SUPPLIER, ask(P, 0));
        let bid = h.place_ok(CONSUMER, bid(P, 0));
        let deal = h.open(opener, &ask, &bid).unwrap();
        assert_eq!(deal.parties.master, MASTER);
    }
}

#[test]
fn ask_dearer_than_bid_does_not_match() {
    let mut h = H::new();
    let r = try_open(&mut h, ask(2 * P, 0), bid(P, 0));
    assert!(matches!(market_err(r), E::PriceMismatch(_)));
}

#[test]
fn ask_shorter_than_bid_does_not_match() {
    let mut h = H::new();
    let r = try_open(&mut h, ask(P, 3600), bid(P, 7200));
    assert!(
        matches!(market_err(r), E::DurationMismatch(e) if e.askDuration == 3600 && e.bidDuration == 7200)
    );
}

#[test]
fn spot_bid_matches_a_forward_ask_and_makes_a_spot_deal() {
    let mut h = H::new();
    let deal = try_open(&mut h, ask(P, 3600), bid(P, 0)).unwrap();
    assert_eq!(h.terms(&deal).end, 0);
}

#[test]
fn bid_needing_a_netflag_the_ask_lacks_does_not_match() {
    let mut h = H::new();
    let r = try_open(
        &mut h,
        Market::Order {
            netflags: 0b011,
            ..ask(P, 0)
        },
        Market::Order {
            netflags: 0b100,
            ..bid(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::NetflagsMismatch(_)));
}

#[test]
fn ask_benchmark_below_the_bids_does_not_match_and_names_the_index() {
    let mut h = H::new();
    let mut need = machine();
    need[5] += 1;
    let r = try_open(
        &mut h,
        ask(P, 0),
        Market::Order {
            benchmarks: pack(&need),
            ..bid(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::BenchmarkTooLow(e) if e.index == U256::from(5)));
}

#[test]
fn benchmarks_missing_from_the_ask_count_as_zero() {
    let mut h = H::new();
    let mut need = vec![0u64; 16];
    need[15] = 1;
    let r = try_open(
        &mut h,
        ask(P, 0),
        Market::Order {
            benchmarks: pack(&need),
            ..bid(P, 0)
        },
    );
    assert!(
        matches!(market_err(r), E::BenchmarkTooLow(e) if e.index == U256::from(15) && e.ask == 0)
    );
    let mut h = H::new();
    let short_ask = Market::Order {
        benchmarks: pack(&[10]),
        ..ask(P, 0)
    };
    let r = try_open(
        &mut h,
        short_ask,
        Market::Order {
            benchmarks: pack(&[10, 0, 0, 0, 0]),
            ..bid(P, 0)
        },
    );
    assert!(r.is_ok());
}

#[test]
fn ask_reserved_for_another_counterparty_does_not_match() {
    let mut h = H::new();
    let r = try_open(
        &mut h,
        Market::Order {
            counterparty: STRANGER,
            ..ask(P, 0)
        },
        bid(P, 0),
    );
    assert!(
        matches!(market_err(r), E::CounterpartyMismatch(e) if e.required == STRANGER && e.actual == CONSUMER)
    );
}

#[test]
fn bid_reserved_for_another_master_does_not_match() {
    let mut h = H::new();
    let r = try_open(
        &mut h,
        ask(P, 0),
        Market::Order {
            counterparty: STRANGER,
            ..bid(P, 0)
        },
    );
    assert!(
        matches!(market_err(r), E::CounterpartyMismatch(e) if e.required == STRANGER && e.actual == SUPPLIER)
    );
}

#[test]
fn bid_reserved_for_the_suppliers_master_matches() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    assert!(
        try_open(
            &mut h,
            ask(P, 0),
            Market::Order {
                counterparty: MASTER,
                ..bid(P, 0)
            }
        )
        .is_ok()
    );
}

#[test]
fn consumer_below_the_asks_identity_level_does_not_match() {
    let mut h = H::new();
    let r = try_open(
        &mut h,
        Market::Order {
            identityLevel: 2,
            ..ask(P, 0)
        },
        bid(P, 0),
    );
    assert!(
        matches!(market_err(r), E::IdentityLevelTooLow(e) if e.account == CONSUMER && e.level == 1 && e.required == 2)
    );
}

#[test]
fn supplier_below_the_bids_identity_level_does_not_match_until_certified() {
    let mut h = H::new();
    let r = try_open(
        &mut h,
        ask(P, 0),
        Market::Order {
            identityLevel: 3,
            ..bid(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::IdentityLevelTooLow(e) if e.account == SUPPLIER));
    h.certify(SUPPLIER, 1301);
    assert!(
        try_open(
            &mut h,
            ask(P, 0),
            Market::Order {
                identityLevel: 3,
                ..bid(P, 0)
            }
        )
        .is_ok()
    );
}

/// The seven blacklist directions of DESIGN.md, each alone blocking the deal.
#[test]
fn every_blacklist_direction_blocks_the_deal() {
    let list_owner = crate::backend::account(0x1b);
    // (who, whom, ask.blacklist, bid.blacklist)
    let cases = [
        (list_owner, MASTER, Address::ZERO, list_owner), // bid.blacklist -> ask master
        (list_owner, SUPPLIER, Address::ZERO, list_owner), // bid.blacklist -> ask author
        (CONSUMER, MASTER, Address::ZERO, Address::ZERO), // bid author -> ask master
        (CONSUMER, SUPPLIER, Address::ZERO, Address::ZERO), // bid author -> ask author
        (list_owner, CONSUMER, list_owner, Address::ZERO), // ask.blacklist -> bid author
        (MASTER, CONSUMER, Address::ZERO, Address::ZERO), // ask master -> bid author
        (SUPPLIER, CONSUMER, Address::ZERO, Address::ZERO), // ask author -> bid author
    ];
    for (who, whom, ask_list, bid_list) in cases {
        let mut h = H::new();
        h.bind_worker(SUPPLIER, MASTER);
        h.blacklist_add(who, whom);
        let r = try_open(
            &mut h,
            Market::Order {
                blacklist: ask_list,
                ..ask(P, 0)
            },
            Market::Order {
                blacklist: bid_list,
                ..bid(P, 0)
            },
        );
        assert!(
            matches!(market_err(r), E::Blacklisted(e) if e.who == who && e.whom == whom),
            "{who} -> {whom}"
        );
    }
}

#[test]
fn a_blacklist_entry_between_unrelated_accounts_does_not_block() {
    let mut h = H::new();
    h.blacklist_add(STRANGER, SUPPLIER);
    assert!(try_open(&mut h, ask(P, 0), bid(P, 0)).is_ok());
}

#[test]
fn check_match_reports_the_same_rule_as_open_deal() {
    let mut h = H::new();
    let ask_order = Market::Order {
        author: SUPPLIER,
        ..ask(2 * P, 0)
    };
    let bid_order = Market::Order {
        author: CONSUMER,
        ..bid(P, 0)
    };
    let r = h.sim.view(
        h.a.market,
        &Market::checkMatchCall {
            ask: ask_order,
            bid: bid_order,
        },
    );
    assert!(matches!(market_err(r), E::PriceMismatch(_)));
}

#[test]
fn quick_buy_opens_a_deal_at_the_asks_price_for_the_chosen_duration() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 86400));
    let call = Market::quickBuyCall {
        askId: ask.id,
        ask: ask.order.clone(),
        duration: 3600,
    };
    let out = h.market_call(CONSUMER, &call).unwrap();
    let placed = out.event::<Market::OrderPlaced>().unwrap();
    assert_eq!(placed.order.orderType, 2);
    assert_eq!(placed.order.counterparty, SUPPLIER);
    assert_eq!(placed.order.frozenSum, U256::from(P * 3600));
    let opened = out.event::<Market::DealOpened>().unwrap();
    assert_eq!(opened.price, U256::from(P));
    assert_eq!(opened.duration, 3600);
    assert_eq!(opened.bidId, placed.orderId);
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 3600));
    let again = h.market_call(CONSUMER, &call);
    assert!(matches!(market_err(again), E::OrderNotActive(_)));
}

#[test]
fn quick_buy_longer_than_the_ask_is_refused() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 3600));
    let r = h.market_call(
        CONSUMER,
        &Market::quickBuyCall {
            askId: ask.id,
            ask: ask.order.clone(),
            duration: 7200,
        },
    );
    assert!(matches!(market_err(r), E::DurationMismatch(_)));
}

#[test]
fn quick_buy_honours_the_suppliers_blacklist() {
    let mut h = H::new();
    h.blacklist_add(SUPPLIER, CONSUMER);
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    let r = h.market_call(
        CONSUMER,
        &Market::quickBuyCall {
            askId: ask.id,
            ask: ask.order.clone(),
            duration: 0,
        },
    );
    assert!(matches!(market_err(r), E::Blacklisted(_)));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE));
}

#[test]
fn quick_buy_of_a_bid_is_refused() {
    let mut h = H::new();
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    let r = h.market_call(
        STRANGER,
        &Market::quickBuyCall {
            askId: bid.id,
            ask: bid.order.clone(),
            duration: 0,
        },
    );
    assert!(matches!(market_err(r), E::InvalidOrderType(_)));
}
