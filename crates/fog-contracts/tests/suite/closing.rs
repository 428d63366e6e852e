//! Closing deals: who may close when, refunds, blacklisting.

use alloy::primitives::U256;
use fog_contracts::bindings::{Market, Market::MarketErrors as E};

use crate::harness::*;

const P: u128 = 4 * USD_PER_HOUR;

fn closed(out: &fog_contracts::sim::Outcome<()>) -> Market::DealClosed {
    out.event::<Market::DealClosed>().expect("DealClosed")
}

#[test]
fn consumer_closing_a_spot_deal_pays_the_time_served_and_gets_the_rest_back() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.sim.warp(900);
    let ev = closed(&h.close(CONSUMER, &deal, 0).unwrap());
    assert_eq!((ev.reason, ev.refund), (1, U256::from(P * 2700)));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 900));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 900));
    assert_eq!(h.balance(h.a.market), U256::ZERO);
}

#[test]
fn supplier_or_master_may_close_a_spot_deal_at_any_time() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    for closer in [SUPPLIER, MASTER] {
        let deal = h.spot_deal(P);
        h.sim.warp(10);
        assert_eq!(closed(&h.close(closer, &deal, 0).unwrap()).reason, 2);
    }
}

#[test]
fn a_stranger_cannot_close_a_deal() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    assert!(matches!(
        market_err(h.close(STRANGER, &deal, 0)),
        E::NotDealParty(_)
    ));
}

#[test]
fn supplier_cannot_close_a_forward_deal_before_its_end() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let deal = h.forward_deal(P, 7200);
    h.sim.warp(100);
    for who in [SUPPLIER, MASTER] {
        assert!(matches!(
            market_err(h.close(who, &deal, 0)),
            E::ForwardDealNotEnded(_)
        ));
    }
}

#[test]
fn consumer_may_close_a_forward_deal_early_and_pays_only_the_time_served() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.sim.warp(1000);
    let ev = closed(&h.close(CONSUMER, &deal, 0).unwrap());
    assert_eq!((ev.reason, ev.refund), (1, U256::from(P * 6200)));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 1000));
}

#[test]
fn supplier_may_close_a_forward_deal_after_its_end() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.sim.warp(8000);
    let ev = closed(&h.close(SUPPLIER, &deal, 0).unwrap());
    assert_eq!((ev.reason, ev.refund), (3, U256::ZERO));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 7200));
}

#[test]
fn the_refund_goes_to_the_consumer_and_not_to_the_master() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let deal = h.spot_deal(P);
    h.sim.warp(100);
    h.close(SUPPLIER, &deal, 0).unwrap();
    assert_eq!(h.balance(MASTER), U256::from(START_BALANCE + P * 100));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 100));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE));
}

#[test]
fn consumer_may_blacklist_the_worker_on_close() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let deal = h.spot_deal(P);
    assert_eq!(closed(&h.close(CONSUMER, &deal, 1).unwrap()).blacklisted, 1);
    assert!(h.is_blacklisted(CONSUMER, SUPPLIER));
    assert!(!h.is_blacklisted(CONSUMER, MASTER));
}

#[test]
fn consumer_may_blacklist_the_master_on_close() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let deal = h.spot_deal(P);
    h.close(CONSUMER, &deal, 2).unwrap();
    assert!(h.is_blacklisted(CONSUMER, MASTER));
    assert!(!h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn blacklisting_on_close_someone_already_blacklisted_still_closes() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.blacklist_add(CONSUMER, SUPPLIER);
    assert_eq!(closed(&h.close(CONSUMER, &deal, 1).unwrap()).reason, 1);
    assert!(h.is_blacklisted(CONSUMER, SUPPLIER));
}

#[test]
fn only_the_consumer_may_blacklist_on_close() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    assert!(matches!(
        market_err(h.close(SUPPLIER, &deal, 1)),
        E::OnlyConsumerMayBlacklist(_)
    ));
}

#[test]
fn unknown_blacklist_choice_is_refused() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    assert!(matches!(
        market_err(h.close(CONSUMER, &deal, 3)),
        E::InvalidBlacklistChoice(_)
    ));
}

#[test]
fn a_closed_deal_cannot_be_closed_again() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.close(CONSUMER, &deal, 0).unwrap();
    assert!(matches!(
        market_err(h.close(CONSUMER, &deal, 0)),
        E::DealNotOpen(_)
    ));
}

#[test]
fn deal_status_moves_from_none_to_accepted_to_closed() {
    let mut h = H::new();
    assert_eq!(h.deal_status(U256::from(1)), 0);
    let deal = h.spot_deal(P);
    assert_eq!(h.deal_status(deal.id), 1);
    h.close(CONSUMER, &deal, 0).unwrap();
    assert_eq!(h.deal_status(deal.id), 2);
    assert_eq!(h.terms(&deal).price, alloy::primitives::Uint::ZERO);
}

#[test]
fn a_consumer_who_dealt_with_itself_may_still_close_with_blacklist() {
    let mut h = H::new();
    let ask = h.place_ok(CONSUMER, ask(P, 0));
    let bid = h.place_ok(CONSUMER, bid(P, 0));
    let deal = h.open(CONSUMER, &ask, &bid).unwrap();
    assert_eq!(closed(&h.close(CONSUMER, &deal, 1).unwrap()).reason, 1);
    assert!(!h.is_blacklisted(CONSUMER, CONSUMER));
}
