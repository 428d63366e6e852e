//! fogmarket's on-chain market, seen from Rust.
//!
//! The Solidity sources live in `contracts/src` (FogToken, OracleUSD,
//! ProfileRegistry, Blacklist, Market); `npm run build` there writes the
//! artifacts in `contracts/out`, which are committed. This crate:
//!
//! - [`bindings`]: `alloy::sol!` types for every contract (calls, events,
//!   errors, `#[sol(rpc)]` instances for a Provider);
//! - [`deploy`]: deploys and wires the suite on any EVM chain given a signer
//!   ([`deploy::deploy_suite`]) or into the in-process EVM;
//! - [`errors`]: revert data from any of the contracts decoded into one
//!   [`Revert`] with a readable message;
//! - [`convert`]: explicit conversions between the wire types of the ABI and
//!   the domain types of `fog-primitives`;
//! - [`sim`] (feature `sim`, on by default): an in-process revm chain for tests
//!   and benchmarks; [`gas`] measures a deal lifecycle in it (`fog bench gas`).
//!
//! It does not talk to workers, keep state or decide anything: the rules are
//! the contracts' own, and the off-chain copy of the match rule lives in
//! `fog-primitives`.
//!
//! ```
//! use fog_contracts::{deploy::{SuiteConfig, deploy_suite_sim}, sim::Sim, bindings::FogToken};
//! use alloy::primitives::Address;
//!
//! let mut sim = Sim::new();
//! let deployer = Address::repeat_byte(1);
//! let suite = deploy_suite_sim(&mut sim, deployer, &SuiteConfig::dev(deployer)).unwrap();
//! let balance = sim.view(suite.token, &FogToken::balanceOfCall { account: deployer }).unwrap();
//! assert!(balance > alloy::primitives::U256::ZERO);
//! ```

pub mod bindings;
pub mod convert;
pub mod deploy;
pub mod errors;
#[cfg(feature = "sim")]
pub mod gas;
#[cfg(feature = "sim")]
pub mod sim;

pub use deploy::{Addresses, SuiteConfig};
pub use errors::Revert;
