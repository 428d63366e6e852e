//! Explicit conversions between the contracts' wire types (the ABI structs of
//! [`bindings`](crate::bindings)) and `fog-primitives`' domain types.
//!
//! The one non-obvious encoding: the market packs benchmarks four to a
//! 256-bit word (entry i sits in bits 64*(i%4).. of word i/4), see
//! [`pack_benchmarks`].

use alloy::primitives::U256;
use fog_primitives::{Benchmarks, IdentityLevel, MatchError, NetFlags, Order, OrderType, Price};

use crate::bindings::Market;

/// Benchmark entries per 256-bit word on chain.
pub const BENCHMARKS_PER_WORD: usize = 4;

/// Packs benchmarks for the market: ceil(len / 4) words.
pub fn pack_benchmarks(benchmarks: &Benchmarks) -> Vec<U256> {
    benchmarks
        .as_slice()
        .chunks(BENCHMARKS_PER_WORD)
        .map(|chunk| {
            chunk.iter().enumerate().fold(U256::ZERO, |word, (k, v)| {
                word | (U256::from(*v) << (64 * k))
            })
        })
        .collect()
}

/// Unpacks the market's benchmark words: four entries per word.
pub fn unpack_benchmarks(words: &[U256]) -> Benchmarks {
    let mut values = Vec::with_capacity(words.len() * BENCHMARKS_PER_WORD);
    for word in words {
        for k in 0..BENCHMARKS_PER_WORD {
            let limb: U256 = (*word >> (64 * k)) & U256::from(u64::MAX);
            values.push(limb.to::<u64>());
        }
    }
    Benchmarks::new(values)
}

/// A wire order that does not describe a valid domain order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// Order type other than 1 (ask) or 2 (bid).
    #[error("order type {0} is neither ask (1) nor bid (2)")]
    OrderType(u8),
    /// Netflags with bits above 7.
    #[error("netflags {0} has unknown bits; use 0..=7")]
    NetFlags(u8),
    /// Identity level above 4.
    #[error("identity level {0} is unknown; use 0..=4")]
    IdentityLevel(u8),
}

impl From<&Order> for Market::Order {
    fn from(o: &Order) -> Self {
        Market::Order {
            orderType: o.order_type.as_u8(),
            author: o.author,
            counterparty: o.counterparty,
            duration: o.duration,
            price: o.price.wei_per_second(),
            netflags: o.netflags.bits(),
            identityLevel: o.identity_level.as_u8(),
            blacklist: o.blacklist,
            tag: o.tag,
            benchmarks: pack_benchmarks(&o.benchmarks),
            frozenSum: o.frozen_sum,
        }
    }
}

impl TryFrom<&Market::Order> for Order {
    type Error = ConvertError;

    fn try_from(o: &Market::Order) -> Result<Self, Self::Error> {
        Ok(Order {
            order_type: OrderType::try_from(o.orderType)
                .map_err(|_| ConvertError::OrderType(o.orderType))?,
            author: o.author,
            counterparty: o.counterparty,
            duration: o.duration,
            price: Price::from_usd_per_second_wei(o.price),
            netflags: NetFlags::from_bits(o.netflags)
                .map_err(|_| ConvertError::NetFlags(o.netflags))?,
            identity_level: IdentityLevel::try_from(o.identityLevel)
                .map_err(|_| ConvertError::IdentityLevel(o.identityLevel))?,
            blacklist: o.blacklist,
            tag: o.tag,
            benchmarks: unpack_benchmarks(&o.benchmarks),
            frozen_sum: o.frozenSum,
        })
    }
}

/// The match rule the market's error names, as the off-chain [`MatchError`];
/// `None` for errors that are not about the match rule. Fields the chain
/// reports out of range (never, for a valid suite) come back clamped.
pub fn match_error(e: &Market::MarketErrors) -> Option<MatchError> {
    use Market::MarketErrors as E;
    let level = |l: u8| IdentityLevel::try_from(l).unwrap_or(IdentityLevel::Professional);
    let flags = |f: u8| NetFlags::from_bits(f & 7).unwrap_or_default();
    Some(match e {
        E::OrderTypeMismatch(_) => MatchError::OrderTypeMismatch,
        E::PriceMismatch(x) => MatchError::PriceMismatch {
            ask: Price::from_usd_per_second_wei(x.askPrice),
            bid: Price::from_usd_per_second_wei(x.bidPrice),
        },
        E::DurationMismatch(x) => MatchError::DurationMismatch {
            ask: x.askDuration,
            bid: x.bidDuration,
        },
        E::NetflagsMismatch(x) => MatchError::NetflagsMismatch {
            ask: flags(x.askNetflags),
            bid: flags(x.bidNetflags),
        },
        E::BenchmarkTooLow(x) => MatchError::BenchmarkTooLow {
            index: x.index.saturating_to(),
            ask: x.ask,
            bid: x.bid,
        },
        E::CounterpartyMismatch(x) => MatchError::CounterpartyMismatch {
            required: x.required,
            actual: x.actual,
        },
        E::IdentityLevelTooLow(x) => MatchError::IdentityLevelTooLow {
            account: x.account,
            level: level(x.level),
            required: level(x.required),
        },
        E::Blacklisted(x) => MatchError::Blacklisted {
            who: x.who,
            whom: x.whom,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_benchmarks_put_entry_i_in_limb_i_mod_4_of_word_i_div_4() {
        let b = Benchmarks::new(vec![1, 2, 3, 4, 5]);
        let words = pack_benchmarks(&b);
        assert_eq!(words.len(), 2);
        assert_eq!(
            words[0],
            U256::from(1) | U256::from(2) << 64 | U256::from(3) << 128 | U256::from(4) << 192
        );
        assert_eq!(words[1], U256::from(5));
    }

    #[test]
    fn unpacking_restores_every_entry_and_pads_with_zeros() {
        let b = Benchmarks::new(vec![u64::MAX, 0, 7, 1 << 40, 9]);
        let back = unpack_benchmarks(&pack_benchmarks(&b));
        assert_eq!(back.as_slice(), &[u64::MAX, 0, 7, 1 << 40, 9, 0, 0, 0]);
    }
}
