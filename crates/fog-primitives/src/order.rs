//! Orders: what a supplier offers (ask) or a consumer wants (bid).

use std::fmt;
use std::str::FromStr;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{Benchmarks, IdentityLevel, NetFlags, Price};

/// Which side of the market an order is on; the discriminants are the on-chain values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum OrderType {
    /// Sells computing power (made by a supplier).
    Ask = 1,
    /// Buys computing power (made by a consumer).
    Bid = 2,
}

/// An invalid order type, as a number or as a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderTypeError {
    /// A number other than 1 (ask) or 2 (bid).
    #[error("invalid order type {0}: expected 1 (ask) or 2 (bid)")]
    InvalidValue(u8),
    /// A name other than `ask` or `bid`.
    #[error("invalid order type {0:?}: expected \"ask\" or \"bid\"")]
    UnknownName(String),
}

impl OrderType {
    /// The on-chain value (1 ask, 2 bid).
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for OrderType {
    type Error = OrderTypeError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(Self::Ask),
            2 => Ok(Self::Bid),
            other => Err(OrderTypeError::InvalidValue(other)),
        }
    }
}

impl fmt::Display for OrderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ask => "ask",
            Self::Bid => "bid",
        })
    }
}

impl FromStr for OrderType {
    type Err = OrderTypeError;

    /// Parses `ask` or `bid`, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ask" => Ok(Self::Ask),
            "bid" => Ok(Self::Bid),
            _ => Err(OrderTypeError::UnknownName(s.to_owned())),
        }
    }
}

/// Whether an order can still be matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Open: can be matched into a deal or cancelled.
    Active,
    /// Matched into a deal or cancelled.
    Inactive,
}

/// An order as the chain stores it (without its id, status and deal id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Ask (sell) or bid (buy).
    pub order_type: OrderType,
    /// The account that placed the order (a worker for asks).
    pub author: Address,
    /// Zero for anyone; otherwise the other side's master must equal it.
    pub counterparty: Address,
    /// Seconds; 0 is a spot (open-ended) order.
    pub duration: u64,
    /// Price per second.
    pub price: Price,
    /// Network features: offered by an ask, needed by a bid.
    pub netflags: NetFlags,
    /// The identity level required of the counterparty.
    pub identity_level: IdentityLevel,
    /// An account whose blacklist also applies to this order (zero for none).
    pub blacklist: Address,
    /// Free-form tag.
    pub tag: B256,
    /// Offered (ask) or needed (bid) benchmark values.
    pub benchmarks: Benchmarks,
    /// Tokens blocked when the order was placed (the first billing period of a bid).
    pub frozen_sum: U256,
}

impl Order {
    /// Whether the order is spot (open-ended, duration 0).
    pub fn is_spot(&self) -> bool {
        self.duration == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_type_roundtrips_through_u8() {
        for t in [OrderType::Ask, OrderType::Bid] {
            assert_eq!(OrderType::try_from(t.as_u8()), Ok(t));
        }
        assert_eq!(OrderType::Ask.as_u8(), 1);
        assert_eq!(OrderType::Bid.as_u8(), 2);
    }

    #[test]
    fn order_type_refuses_other_values() {
        assert_eq!(OrderType::try_from(0), Err(OrderTypeError::InvalidValue(0)));
        assert_eq!(OrderType::try_from(3), Err(OrderTypeError::InvalidValue(3)));
    }

    #[test]
    fn order_type_parses_names_ignoring_case() {
        assert_eq!("ASK".parse(), Ok(OrderType::Ask));
        assert_eq!("bid".parse(), Ok(OrderType::Bid));
        assert!("buy".parse::<OrderType>().is_err());
    }

    #[test]
    fn zero_duration_order_is_spot() {
        let mut order = Order {
            order_type: OrderType::Bid,
            author: Address::ZERO,
            counterparty: Address::ZERO,
            duration: 0,
            price: Price::ZERO,
            netflags: NetFlags::NONE,
            identity_level: IdentityLevel::Anonymous,
            blacklist: Address::ZERO,
            tag: B256::ZERO,
            benchmarks: Benchmarks::default(),
            frozen_sum: U256::ZERO,
        };
        assert!(order.is_spot());
        order.duration = 60;
        assert!(!order.is_spot());
    }

    #[test]
    fn order_serializes_with_camel_case_fields() {
        let order = Order {
            order_type: OrderType::Ask,
            author: Address::repeat_byte(1),
            counterparty: Address::ZERO,
            duration: 3600,
            price: Price::from_usd_per_second_wei(U256::from(5)),
            netflags: NetFlags::OUTBOUND,
            identity_level: IdentityLevel::Registered,
            blacklist: Address::ZERO,
            tag: B256::ZERO,
            benchmarks: Benchmarks::new(vec![1, 2]),
            frozen_sum: U256::ZERO,
        };
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(json["orderType"], "ask");
        assert_eq!(json["identityLevel"], "registered");
        assert_eq!(json["netflags"], 2);
        assert!(json.get("frozenSum").is_some());
        let back: Order = serde_json::from_value(json).unwrap();
        assert_eq!(back, order);
    }
}
