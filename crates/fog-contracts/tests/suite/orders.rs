//! Placing and cancelling orders.

use alloy::primitives::{Address, U256};
use fog_contracts::{
    Revert,
    bindings::{FogToken::FogTokenErrors, Market, Market::MarketErrors as E},
};

use crate::harness::*;

const P: u128 = 3 * USD_PER_HOUR;

#[test]
fn spot_bid_blocks_one_hour_from_the_consumer() {
    let mut h = H::new();
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    assert_eq!(bid.order.frozenSum, U256::from(P * 3600));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 3600));
    assert_eq!(h.balance(h.a.market), U256::from(P * 3600));
}

#[test]
fn forward_bid_blocks_its_duration_up_to_one_day() {
    let mut h = H::new();
    let short = h.place_ok(CONSUMER, bid(P, 1800));
    assert_eq!(short.order.frozenSum, U256::from(P * 1800));
    let long = h.place_ok(CONSUMER, bid(P, 7 * 86400));
    assert_eq!(long.order.frozenSum, U256::from(P * 86400));
}

#[test]
fn ask_blocks_nothing() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    assert_eq!(ask.order.frozenSum, U256::ZERO);
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE));
}

#[test]
fn market_fills_in_author_and_frozen_sum_whatever_the_caller_sent() {
    let mut h = H::new();
    let forged = Market::Order {
        author: STRANGER,
        frozenSum: U256::from(1),
        ..bid(P, 0)
    };
    let placed = h.place_ok(CONSUMER, forged);
    assert_eq!(placed.order.author, CONSUMER);
    assert_eq!(placed.order.frozenSum, U256::from(P * 3600));
}

#[test]
fn order_ids_count_up_from_one() {
    let mut h = H::new();
    assert_eq!(h.place_ok(SUPPLIER, ask(P, 0)).id, U256::from(1));
    assert_eq!(h.place_ok(CONSUMER, bid(P, 0)).id, U256::from(2));
}

#[test]
fn order_type_other_than_ask_or_bid_is_refused() {
    let mut h = H::new();
    let r = h.place(
        SUPPLIER,
        Market::Order {
            orderType: 3,
            ..ask(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::InvalidOrderType(e) if e.orderType == 3));
}

#[test]
fn more_than_64_benchmarks_are_refused() {
    let mut h = H::new();
    let r = h.place(
        SUPPLIER,
        Market::Order {
            benchmarks: vec![U256::from(1); 17],
            ..ask(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::TooManyBenchmarks(e) if e.words == U256::from(17)));
}

#[test]
fn price_above_the_96_bit_cap_is_refused() {
    let mut h = H::new();
    let r = h.place(
        SUPPLIER,
        Market::Order {
            price: U256::from(1) << 96,
            ..ask(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::PriceTooHigh(_)));
}

#[test]
fn duration_above_ten_years_is_refused() {
    let mut h = H::new();
    let r = h.place(SUPPLIER, ask(P, 10 * 365 * 86400 + 1));
    assert!(matches!(market_err(r), E::DurationTooLong(_)));
}

#[test]
fn unknown_netflags_bits_are_refused() {
    let mut h = H::new();
    let r = h.place(
        SUPPLIER,
        Market::Order {
            netflags: 8,
            ..ask(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::InvalidNetflags(e) if e.netflags == 8));
}

#[test]
fn identity_level_above_professional_is_refused() {
    let mut h = H::new();
    let r = h.place(
        SUPPLIER,
        Market::Order {
            identityLevel: 5,
            ..ask(P, 0)
        },
    );
    assert!(matches!(market_err(r), E::InvalidIdentityLevel(e) if e.level == 5));
}

#[test]
fn bid_without_allowance_fails_with_the_tokens_reason_and_places_nothing() {
    let mut h = H::new();
    h.approve(CONSUMER, U256::ZERO);
    let r = h.place(CONSUMER, bid(P, 0));
    let why = revert(r);
    assert!(matches!(
        why,
        Revert::Token(FogTokenErrors::ERC20InsufficientAllowance(_))
    ));
    assert!(why.to_string().contains("approve the market"), "{why}");
    assert_eq!(h.market_view(&Market::orderCountCall {}), 0);
}

#[test]
fn cancelling_a_bid_refunds_its_blocked_sum() {
    let mut h = H::new();
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    let out = h
        .market_call(
            CONSUMER,
            &Market::cancelOrderCall {
                orderId: bid.id,
                o: bid.order.clone(),
            },
        )
        .unwrap();
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE));
    let ev = out.event::<Market::OrderCancelled>().unwrap();
    assert_eq!(ev.refund, U256::from(P * 3600));
    assert_eq!(
        h.market_view(&Market::orderHashCall { orderId: bid.id }),
        alloy::primitives::B256::ZERO
    );
}

#[test]
fn only_the_author_cancels_an_order() {
    let mut h = H::new();
    let ask = h.place_ok(SUPPLIER, ask(P, 0));
    let r = h.market_call(
        STRANGER,
        &Market::cancelOrderCall {
            orderId: ask.id,
            o: ask.order.clone(),
        },
    );
    assert!(matches!(market_err(r), E::NotOrderAuthor(e) if e.caller == STRANGER));
}

#[test]
fn a_cancelled_order_cannot_be_cancelled_again() {
    let mut h = H::new();
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    let call = Market::cancelOrderCall {
        orderId: bid.id,
        o: bid.order.clone(),
    };
    h.market_call(CONSUMER, &call).unwrap();
    assert!(matches!(
        market_err(h.market_call(CONSUMER, &call)),
        E::OrderNotActive(_)
    ));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE));
}

#[test]
fn an_order_passed_back_with_altered_fields_is_not_active() {
    let mut h = H::new();
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    let altered = Market::Order {
        frozenSum: bid.order.frozenSum * U256::from(2),
        ..bid.order.clone()
    };
    let r = h.market_call(
        CONSUMER,
        &Market::cancelOrderCall {
            orderId: bid.id,
            o: altered,
        },
    );
    assert!(matches!(market_err(r), E::OrderNotActive(_)));
}

#[test]
fn order_placed_event_carries_the_whole_order() {
    let mut h = H::new();
    let mut order = ask(P, 3600);
    order.counterparty = Address::repeat_byte(0x42);
    order.tag = alloy::primitives::B256::repeat_byte(7);
    let placed = h.place_ok(SUPPLIER, order.clone());
    assert_eq!(
        placed.order,
        Market::Order {
            author: SUPPLIER,
            ..order
        }
    );
}
