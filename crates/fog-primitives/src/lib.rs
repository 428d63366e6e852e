//! fogmarket's domain types and rules: orders, deals, benchmarks, prices,
//! identity levels, the match rule and the billing arithmetic.
//!
//! # Main types
//!
//! - An [`Order`] is an [`OrderType::Ask`] (a supplier sells) or an
//!   [`OrderType::Bid`] (a consumer buys). It carries a [`Price`] (USD-wei per
//!   second), [`NetFlags`], a required [`IdentityLevel`] and [`Benchmarks`]
//!   (a vector of u64 indexed by the [`BENCHMARKS`] table).
//! - [`check_match`] decides whether an ask and a bid may open a deal, reading
//!   chain state (masters, identity levels, blacklists) through a
//!   [`MatchContext`]; [`StaticContext`] is an in-memory one. It mirrors the
//!   market contract check for check, in the same order, and returns the first
//!   failing rule as a [`MatchError`].
//! - A [`Deal`] is what a match opens; [`billing`] holds the contract's
//!   billing arithmetic.
//! - [`identity_level_from_attributes`] and the [`attributes`] rules describe
//!   profile certificates.
//!
//! # What this crate does not do
//!
//! No I/O, no chain access, no wire formats: the contract ABI, RPC and p2p
//! types live in other crates and convert to and from these types.
//!
//! # Example
//!
//! ```
//! use alloy_primitives::{Address, B256, U256};
//! use fog_primitives::{
//!     Benchmarks, IdentityLevel, MatchError, NetFlags, Order, OrderType, Price, StaticContext,
//!     check_match,
//! };
//!
//! let order = |order_type, author, price: &str, benchmarks: Vec<u64>| Order {
//!     order_type,
//!     author,
//!     counterparty: Address::ZERO,
//!     duration: 0,
//!     price: Price::from_usd_per_hour(price).unwrap(),
//!     netflags: NetFlags::OUTBOUND,
//!     identity_level: IdentityLevel::Anonymous,
//!     blacklist: Address::ZERO,
//!     tag: B256::ZERO,
//!     benchmarks: Benchmarks::new(benchmarks),
//!     frozen_sum: U256::ZERO,
//! };
//! let worker = Address::repeat_byte(1);
//! let consumer = Address::repeat_byte(2);
//! let ask = order(OrderType::Ask, worker, "0.36", vec![1000, 100, 8]);
//! let bid = order(OrderType::Bid, consumer, "0.72", vec![0, 0, 4]);
//!
//! let ctx = StaticContext::new();
//! assert_eq!(check_match(&ask, &bid, &ctx), Ok(()));
//!
//! let ctx = ctx.with_blacklisted(consumer, worker);
//! assert_eq!(
//!     check_match(&ask, &bid, &ctx),
//!     Err(MatchError::Blacklisted { who: consumer, whom: worker })
//! );
//!
//! // Prices are stored per second: 0.36 USD/h is exact, 0.5 USD/h rounds.
//! assert_eq!(ask.price.to_string(), "0.36 USD/h");
//! assert_eq!(Price::from_usd_per_hour("0.5")?.usd_per_hour(), "0.5000000000000004");
//! # Ok::<(), fog_primitives::PriceError>(())
//! ```

pub mod benchmarks;
pub mod billing;
pub mod deal;
pub mod identity;
pub mod matching;
pub mod netflags;
pub mod order;
pub mod price;

pub use benchmarks::{
    BENCHMARKS, BenchmarkError, BenchmarkId, BenchmarkInfo, Benchmarks, MAX_BENCHMARKS, SplitRule,
    benchmark_by_code,
};
pub use deal::{Deal, DealStatus};
pub use identity::{
    IdentityLevel, IdentityLevelError, attribute_is_multi_valued, attribute_is_valid,
    attribute_required_validator_level, attributes, identity_level_from_attributes,
};
pub use matching::{MatchContext, MatchError, StaticContext, check_match};
pub use netflags::{NetFlags, NetFlagsError};
pub use order::{Order, OrderStatus, OrderType, OrderTypeError};
pub use price::{MAX_PRICE, Price, PriceError};
