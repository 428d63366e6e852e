//! Change requests: new price or duration for a live deal.

use alloy::primitives::U256;
use fog_contracts::bindings::{Market, Market::MarketErrors as E};

use crate::harness::*;

const P: u128 = 6 * USD_PER_HOUR;

fn pending(h: &mut H, deal: &Opened, side: u8) -> Market::ChangeRequest {
    h.market_view(&Market::changeRequestCall {
        dealId: deal.id,
        side,
    })
}

#[test]
fn consumer_raising_the_price_takes_effect_at_once_after_billing() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.sim.warp(600);
    let out = h.request_change(CONSUMER, &deal, 2 * P, 0).unwrap();
    assert_eq!(
        out.event::<Market::DealBilled>().unwrap().paid,
        U256::from(P * 600)
    );
    assert_eq!(
        out.event::<Market::DealChanged>().unwrap().price,
        U256::from(2 * P)
    );
    assert_eq!(h.terms(&deal).price, alloy::primitives::Uint::from(2 * P));
    h.sim.warp(100);
    h.close(CONSUMER, &deal, 0).unwrap();
    assert_eq!(
        h.balance(SUPPLIER),
        U256::from(START_BALANCE + P * 600 + 2 * P * 100)
    );
}

#[test]
fn supplier_lowering_the_price_takes_effect_at_once() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    let out = h.request_change(SUPPLIER, &deal, P / 2, 0).unwrap();
    assert!(out.event::<Market::DealChanged>().is_some());
    assert_eq!(h.terms(&deal).price, alloy::primitives::Uint::from(P / 2));
}

#[test]
fn consumer_lowering_the_price_waits_for_the_supplier() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    let out = h.request_change(CONSUMER, &deal, P / 2, 0).unwrap();
    assert!(out.event::<Market::DealChanged>().is_none());
    assert!(out.event::<Market::ChangeRequestCreated>().is_some());
    assert!(pending(&mut h, &deal, 2).pending);
    assert_eq!(h.terms(&deal).price, alloy::primitives::Uint::from(P));
}

#[test]
fn supplier_raising_the_price_waits_for_the_consumer() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.request_change(SUPPLIER, &deal, 2 * P, 0).unwrap();
    assert!(pending(&mut h, &deal, 1).pending);
    assert_eq!(h.terms(&deal).price, alloy::primitives::Uint::from(P));
}

#[test]
fn compatible_requests_from_both_sides_accept_at_the_suppliers_price_and_clear_both() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.request_change(CONSUMER, &deal, 2 * P, 10800).unwrap();
    let out = h.request_change(SUPPLIER, &deal, P + P / 2, 10800).unwrap();
    let changed = out.event::<Market::DealChanged>().unwrap();
    assert_eq!(
        (changed.price, changed.duration),
        (U256::from(P + P / 2), 10800)
    );
    assert_eq!(h.terms(&deal).end, deal.parties.start + 10800);
    assert!(!pending(&mut h, &deal, 1).pending);
    assert!(
        !pending(&mut h, &deal, 2).pending,
        "the other side's request is marked done too"
    );
}

#[test]
fn incompatible_requests_both_wait() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.request_change(CONSUMER, &deal, P, 10800).unwrap();
    h.request_change(SUPPLIER, &deal, 2 * P, 10800).unwrap();
    assert!(pending(&mut h, &deal, 1).pending && pending(&mut h, &deal, 2).pending);
    assert_eq!(h.terms(&deal).end, deal.parties.start + 7200);
}

#[test]
fn a_new_request_replaces_the_sides_previous_one() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.request_change(CONSUMER, &deal, P / 2, 0).unwrap();
    h.request_change(CONSUMER, &deal, P / 3, 0).unwrap();
    assert_eq!(
        pending(&mut h, &deal, 2).price,
        alloy::primitives::Uint::from(P / 3)
    );
}

#[test]
fn spot_deals_keep_duration_zero() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    assert!(matches!(
        market_err(h.request_change(CONSUMER, &deal, P, 3600)),
        E::InvalidChangeDuration(_)
    ));
}

#[test]
fn forward_duration_ending_in_the_past_is_refused() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.sim.warp(5000);
    assert!(matches!(
        market_err(h.request_change(CONSUMER, &deal, P, 3600)),
        E::InvalidChangeDuration(_)
    ));
    assert!(matches!(
        market_err(h.request_change(CONSUMER, &deal, P, 0)),
        E::InvalidChangeDuration(_)
    ));
}

#[test]
fn price_above_the_cap_is_refused_in_a_change() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    let call = Market::requestChangeCall {
        dealId: deal.id,
        parties: deal.parties.clone(),
        newPrice: U256::from(1) << 96,
        newDuration: 0,
    };
    assert!(matches!(
        market_err(h.market_call(CONSUMER, &call)),
        E::PriceTooHigh(_)
    ));
}

#[test]
fn a_stranger_cannot_request_a_change() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    assert!(matches!(
        market_err(h.request_change(STRANGER, &deal, 2 * P, 0)),
        E::NotDealParty(_)
    ));
}

#[test]
fn a_side_withdraws_its_pending_request() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.request_change(CONSUMER, &deal, P / 2, 0).unwrap();
    let call = Market::cancelChangeRequestCall {
        dealId: deal.id,
        parties: deal.parties.clone(),
    };
    let out = h.market_call(CONSUMER, &call).unwrap();
    assert!(out.event::<Market::ChangeRequestCancelled>().is_some());
    assert!(!pending(&mut h, &deal, 2).pending);
    assert!(matches!(
        market_err(h.market_call(CONSUMER, &call)),
        E::NoChangeRequest(_)
    ));
}

#[test]
fn a_change_on_a_consumer_who_cannot_pay_closes_the_deal_instead() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.approve(CONSUMER, U256::ZERO);
    h.sim.warp(600);
    let out = h.request_change(CONSUMER, &deal, 2 * P, 0).unwrap();
    assert_eq!(out.event::<Market::DealClosed>().unwrap().reason, 4);
    assert!(out.event::<Market::DealChanged>().is_none());
}

#[test]
fn a_forward_deal_past_its_end_cannot_change() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 3600);
    h.sim.warp(4000);
    assert!(matches!(
        market_err(h.request_change(CONSUMER, &deal, 2 * P, 7200)),
        E::ForwardDealEnded(_)
    ));
}
