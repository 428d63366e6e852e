//! The contract suite in a real EVM (revm in-process): one test per rule and
//! per revert path, plus property tests of the match rule and of token
//! conservation. Run in release (`scripts/test` does).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code
)]

mod backend;
mod billing;
mod changes;
mod closing;
mod conservation_property;
mod deals;
mod harness;
mod lifecycle;
mod match_property;
mod orders;
