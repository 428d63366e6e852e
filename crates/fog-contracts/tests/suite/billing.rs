//! Billing: paying the master per second, topping up, running out of funds.

use alloy::primitives::U256;
use fog_contracts::bindings::{Market, Market::MarketErrors as E, OracleUSD};

use crate::harness::*;

const P: u128 = 5 * USD_PER_HOUR;

fn billed(out: &fog_contracts::sim::Outcome<()>) -> Market::DealBilled {
    out.event::<Market::DealBilled>().expect("DealBilled")
}

#[test]
fn bill_pays_the_time_served_and_tops_up_the_next_hour() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.sim.warp(600);
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!(ev.paid, U256::from(P * 600));
    assert_eq!(ev.toppedUp, U256::from(P * 600));
    assert_eq!(ev.blockedBalance, U256::from(P * 3600));
    assert_eq!(
        ev.billedUntil,
        U256::from(deal.parties.start) + U256::from(600)
    );
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 600));
    assert_eq!(h.terms(&deal).lastBillTs, deal.parties.start + 600);
}

#[test]
fn consumer_supplier_and_master_may_bill_but_nobody_else() {
    let mut h = H::new();
    h.bind_worker(SUPPLIER, MASTER);
    let deal = h.spot_deal(P);
    for who in [CONSUMER, SUPPLIER, MASTER] {
        h.sim.warp(10);
        h.bill(who, &deal).unwrap();
    }
    assert!(matches!(
        market_err(h.bill(STRANGER, &deal)),
        E::NotDealParty(_)
    ));
}

#[test]
fn billing_twice_in_the_same_second_pays_nothing_more() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.sim.warp(100);
    h.bill(SUPPLIER, &deal).unwrap();
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!(ev.paid, U256::ZERO);
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 100));
}

#[test]
fn payment_follows_the_oracle_rate_at_billing_time() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    let doubled = U256::from(2) * h.oracle_price();
    h.sim
        .send(
            DEPLOYER,
            h.a.oracle,
            &OracleUSD::proposePriceCall { newPrice: doubled },
        )
        .unwrap();
    h.sim.warp(600);
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!(ev.paid, U256::from(2 * P * 600));
}

#[test]
fn consumer_unable_to_top_up_gets_the_deal_closed_and_the_rest_refunded() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.approve(CONSUMER, U256::ZERO);
    h.sim.warp(600);
    let out = h.bill(SUPPLIER, &deal).unwrap();
    let closed = out.event::<Market::DealClosed>().expect("DealClosed");
    assert_eq!(closed.reason, 4);
    assert_eq!(closed.refund, U256::from(P * 3000));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 600));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 600));
    assert_eq!(h.deal_status(deal.id), 2);
}

#[test]
fn late_bill_pulls_the_shortfall_from_the_consumer_when_it_can_pay() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.sim.warp(5000);
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!(ev.paid, U256::from(P * 5000));
    assert_eq!(ev.blockedBalance, U256::from(P * 3600));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 5000));
}

#[test]
fn late_bill_pays_what_is_blocked_and_closes_when_the_consumer_cannot_pay() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.approve(CONSUMER, U256::ZERO);
    h.sim.warp(5000);
    let out = h.bill(SUPPLIER, &deal).unwrap();
    assert_eq!(billed(&out).paid, U256::from(P * 3600));
    let closed = out.event::<Market::DealClosed>().unwrap();
    assert_eq!((closed.reason, closed.refund), (4, U256::ZERO));
    assert_eq!(h.balance(h.a.market), U256::ZERO);
}

#[test]
fn forward_deal_is_billed_no_further_than_its_end_and_closes_as_expired() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 7200);
    h.sim.warp(3000);
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!((ev.paid, ev.toppedUp), (U256::from(P * 3000), U256::ZERO));
    h.sim.warp(9000);
    let out = h.bill(SUPPLIER, &deal).unwrap();
    assert_eq!(billed(&out).paid, U256::from(P * 4200));
    let closed = out.event::<Market::DealClosed>().unwrap();
    assert_eq!(closed.reason, 3);
    assert_eq!(closed.closedAt, U256::from(deal.parties.start + 7200));
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE + P * 7200));
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE - P * 7200));
}

#[test]
fn forward_deal_longer_than_a_day_tops_up_a_day_at_a_time() {
    let mut h = H::new();
    let deal = h.forward_deal(P, 3 * 86400);
    assert_eq!(
        h.terms(&deal).blockedBalance,
        alloy::primitives::Uint::from(P * 86400)
    );
    h.sim.warp(2 * 86400 + 600);
    let ev = billed(&h.bill(SUPPLIER, &deal).unwrap());
    assert_eq!(ev.paid, U256::from(P * (2 * 86400 + 600)));
    assert_eq!(ev.blockedBalance, U256::from(P * (86400 - 600)));
}

#[test]
fn billing_a_closed_deal_is_refused() {
    let mut h = H::new();
    let deal = h.spot_deal(P);
    h.close(CONSUMER, &deal, 0).unwrap();
    assert!(matches!(
        market_err(h.bill(SUPPLIER, &deal)),
        E::DealNotOpen(_)
    ));
}

#[test]
fn billing_with_forged_parties_is_refused() {
    let mut h = H::new();
    let mut deal = h.spot_deal(P);
    deal.parties.master = STRANGER;
    assert!(matches!(
        market_err(h.bill(STRANGER, &deal)),
        E::DealNotOpen(_)
    ));
}
