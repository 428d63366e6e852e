//! Deals: a matched ask and bid, billed over time.

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};

use crate::{Benchmarks, Price};

/// Whether a deal is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DealStatus {
    /// Running: the worker serves it and it is billed.
    Accepted,
    /// Over: closed by a side, by expiry or by running out of funds.
    Closed,
}

/// A deal as the chain stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deal {
    /// On-chain deal id.
    pub id: u64,
    /// The ask's author (the worker).
    pub supplier: Address,
    /// The bid's author.
    pub consumer: Address,
    /// The supplier's master, who receives the payouts.
    pub master: Address,
    /// The matched ask's id.
    pub ask_id: u64,
    /// The matched bid's id.
    pub bid_id: u64,
    /// Benchmarks, taken from the ask.
    pub benchmarks: Benchmarks,
    /// Seconds, taken from the bid; 0 is spot.
    pub duration: u64,
    /// Price per second, taken from the ask.
    pub price: Price,
    /// Unix time the deal opened.
    pub start: u64,
    /// Unix time a forward deal ends; 0 for spot.
    pub end: u64,
    /// Accepted or closed.
    pub status: DealStatus,
    /// Consumer tokens blocked for the next billing period.
    pub blocked_balance: U256,
    /// Tokens paid to the master so far.
    pub total_payout: U256,
    /// Unix time of the last bill.
    pub last_bill_ts: u64,
}

impl Deal {
    /// Whether the deal is spot (open-ended, duration 0).
    pub fn is_spot(&self) -> bool {
        self.duration == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(duration: u64) -> Deal {
        Deal {
            id: 7,
            supplier: Address::repeat_byte(1),
            consumer: Address::repeat_byte(2),
            master: Address::repeat_byte(3),
            ask_id: 1,
            bid_id: 2,
            benchmarks: Benchmarks::new(vec![10]),
            duration,
            price: Price::ZERO,
            start: 100,
            end: if duration == 0 { 0 } else { 100 + duration },
            status: DealStatus::Accepted,
            blocked_balance: U256::ZERO,
            total_payout: U256::ZERO,
            last_bill_ts: 100,
        }
    }

    #[test]
    fn zero_duration_deal_is_spot() {
        assert!(deal(0).is_spot());
        assert!(!deal(3600).is_spot());
    }

    #[test]
    fn deal_serializes_with_camel_case_fields() {
        let d = deal(3600);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["askId"], 1);
        assert_eq!(json["lastBillTs"], 100);
        assert_eq!(json["status"], "accepted");
        let back: Deal = serde_json::from_value(json).unwrap();
        assert_eq!(back, d);
    }
}
