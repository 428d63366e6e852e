//! Gas of a whole spot deal lifecycle, measured in the in-process EVM: what
//! `fog bench gas` prints.
//!
//! Two lifecycles run between the same supplier and consumer. The first meets
//! a fresh market (every counter and balance slot written for the first time);
//! the second is the steady state a live market is in: the supplier has been
//! paid before and the market holds other deals' funds (a background deal
//! stays open). `calls` and `lifecycle_total` report the steady state;
//! `first_lifecycle_total` the fresh one.

use alloy::primitives::{Address, U256};
use serde::Serialize;

use crate::{
    bindings::{FogToken, Market},
    deploy::{DeployError, SuiteConfig, TOKEN, deploy_suite_sim},
    sim::{Sim, SimError},
};

/// Gas per market call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallGas {
    /// Place a spot ask.
    pub place_ask: u64,
    /// Place a spot bid (blocks one hour).
    pub place_bid: u64,
    /// Open the deal.
    pub open_deal: u64,
    /// Bill it once, with top-up.
    pub bill: u64,
    /// Close it (final bill + refund).
    pub close_deal: u64,
    /// Buy an ask directly (bid + deal in one transaction).
    pub quick_buy: u64,
}

/// What `fog bench gas --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct GasReport {
    /// Steady-state gas per call.
    pub calls: CallGas,
    /// place_ask + place_bid + open_deal + bill + close_deal, steady state.
    pub lifecycle_total: u64,
    /// The same lifecycle on a fresh market.
    pub first_lifecycle_total: u64,
}

/// Why the measurement could not run.
#[derive(Debug, thiserror::Error)]
pub enum GasError {
    /// Deploying the suite failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// A lifecycle call failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A call succeeded without its event.
    #[error("{0} emitted no {1} event")]
    MissingEvent(&'static str, &'static str),
}

const DEPLOYER: Address = Address::repeat_byte(0xd0);
const SUPPLIER: Address = Address::repeat_byte(0x51);
const CONSUMER: Address = Address::repeat_byte(0xc1);
const OTHER_SUPPLIER: Address = Address::repeat_byte(0x52);
const OTHER_CONSUMER: Address = Address::repeat_byte(0xc2);
/// 1 USD/h in USD-wei per second.
const PRICE: u128 = TOKEN / 3600;

/// Runs the lifecycles and reports their gas.
pub fn measure() -> Result<GasReport, GasError> {
    let mut sim = Sim::new();
    let suite = deploy_suite_sim(&mut sim, DEPLOYER, &SuiteConfig::dev(DEPLOYER))?;
    for who in [CONSUMER, OTHER_CONSUMER] {
        let value = U256::from(1_000 * TOKEN);
        sim.send(
            DEPLOYER,
            suite.token,
            &FogToken::transferCall { to: who, value },
        )?;
        sim.send(
            who,
            suite.token,
            &FogToken::approveCall {
                spender: suite.market,
                value: U256::MAX,
            },
        )?;
    }
    let mut m = Lifecycle {
        sim,
        market: suite.market,
    };
    let first = m.run(SUPPLIER, CONSUMER)?;
    // A live market: another deal stays open, so the market's balance is not zero.
    m.deal(OTHER_SUPPLIER, OTHER_CONSUMER)?;
    let mut calls = m.run(SUPPLIER, CONSUMER)?;
    calls.quick_buy = m.quick_buy(SUPPLIER, CONSUMER)?;
    Ok(GasReport {
        calls,
        lifecycle_total: total(&calls),
        first_lifecycle_total: total(&first),
    })
}

fn total(c: &CallGas) -> u64 {
    c.place_ask + c.place_bid + c.open_deal + c.bill + c.close_deal
}

/// A spot order as a worker and a customer would place it: 14 benchmarks.
fn order(order_type: u8, benchmarks: [u64; 14]) -> Market::Order {
    Market::Order {
        orderType: order_type,
        author: Address::ZERO,
        counterparty: Address::ZERO,
        duration: 0,
        price: U256::from(PRICE),
        netflags: if order_type == 1 { 7 } else { 2 },
        identityLevel: 0,
        blacklist: Address::ZERO,
        tag: Default::default(),
        benchmarks: crate::convert::pack_benchmarks(&fog_primitives::Benchmarks::new(
            benchmarks.to_vec(),
        )),
        frozenSum: U256::ZERO,
    }
}

const MACHINE: [u64; 14] = [
    120_000_000,
    30_000_000,
    8,
    16 << 30,
    200 << 30,
    1 << 30,
    1 << 29,
    0,
    0,
    0,
    0,
    0,
    0,
    900,
];
const NEED: [u64; 14] = [
    60_000_000,
    20_000_000,
    4,
    8 << 30,
    50 << 30,
    1 << 27,
    1 << 26,
    0,
    0,
    0,
    0,
    0,
    0,
    100,
];

struct Lifecycle {
    sim: Sim,
    market: Address,
}

impl Lifecycle {
    fn place(
        &mut self,
        author: Address,
        o: Market::Order,
    ) -> Result<(U256, Market::Order, u64), GasError> {
        let out = self
            .sim
            .send(author, self.market, &Market::placeOrderCall { o })?;
        let ev = out
            .event::<Market::OrderPlaced>()
            .ok_or(GasError::MissingEvent("placeOrder", "OrderPlaced"))?;
        Ok((ev.orderId, ev.order, out.gas_used))
    }

    fn deal(
        &mut self,
        supplier: Address,
        consumer: Address,
    ) -> Result<(Market::DealOpened, CallGas), GasError> {
        let (ask_id, ask, place_ask) = self.place(supplier, order(1, MACHINE))?;
        let (bid_id, bid, place_bid) = self.place(consumer, order(2, NEED))?;
        let call = Market::openDealCall {
            askId: ask_id,
            ask,
            bidId: bid_id,
            bid,
        };
        let out = self.sim.send(consumer, self.market, &call)?;
        let opened = out
            .event::<Market::DealOpened>()
            .ok_or(GasError::MissingEvent("openDeal", "DealOpened"))?;
        Ok((
            opened,
            CallGas {
                place_ask,
                place_bid,
                open_deal: out.gas_used,
                ..CallGas::default()
            },
        ))
    }

    fn run(&mut self, supplier: Address, consumer: Address) -> Result<CallGas, GasError> {
        let (opened, mut gas) = self.deal(supplier, consumer)?;
        self.sim.warp(600);
        let bill = Market::billCall {
            dealId: opened.dealId,
            parties: opened.parties.clone(),
        };
        gas.bill = self.sim.send(supplier, self.market, &bill)?.gas_used;
        self.sim.warp(600);
        let close = Market::closeDealCall {
            dealId: opened.dealId,
            parties: opened.parties,
            blacklistChoice: 0,
        };
        gas.close_deal = self.sim.send(consumer, self.market, &close)?.gas_used;
        Ok(gas)
    }

    fn quick_buy(&mut self, supplier: Address, consumer: Address) -> Result<u64, GasError> {
        let (ask_id, ask, _) = self.place(supplier, order(1, MACHINE))?;
        let call = Market::quickBuyCall {
            askId: ask_id,
            ask,
            duration: 0,
        };
        Ok(self.sim.send(consumer, self.market, &call)?.gas_used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_state_lifecycle_fits_the_400k_gas_budget() {
        let report = measure().unwrap();
        assert!(report.lifecycle_total <= 400_000, "{report:?}");
        assert!(report.calls.quick_buy > 0);
    }
}
