use alloy::primitives::U256;

use crate::harness::*;

fn lifecycle(h: &mut H, price: u128) -> [u64; 5] {
    let ask = h.place_ok(SUPPLIER, ask(price, 0));
    let bid = h.place_ok(CONSUMER, bid(price, 0));
    let deal = h.open(CONSUMER, &ask, &bid).unwrap();
    h.sim.warp(600);
    let bill = h.bill(SUPPLIER, &deal).unwrap();
    h.sim.warp(60);
    let close = h.close(CONSUMER, &deal, 0).unwrap();
    [ask.gas, bid.gas, deal.gas, bill.gas_used, close.gas_used]
}

#[test]
fn spot_deal_lifecycle_pays_master_and_refunds_consumer() {
    let mut h = H::new();
    let price = 2 * USD_PER_HOUR;
    let first = lifecycle(&mut h, price);
    let served = h.cost(price, 600) + h.cost(price, 60);
    assert_eq!(h.balance(SUPPLIER), U256::from(START_BALANCE) + served);
    assert_eq!(h.balance(CONSUMER), U256::from(START_BALANCE) - served);
    assert_eq!(h.deal_status(U256::from(1)), 2);
    let second = lifecycle(&mut h, price);
    println!("gas first  {first:?} total {}", first.iter().sum::<u64>());
    println!("gas second {second:?} total {}", second.iter().sum::<u64>());
}
