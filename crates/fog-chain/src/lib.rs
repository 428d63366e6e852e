//! `fog chain`: fogmarket's embedded proof-of-authority EVM chain.
//!
//! One process runs the whole chain: [`Chain`] executes transactions with
//! revm (Prague rules), seals each block with an authority key ([`seal`]),
//! and writes blocks, transactions, receipts, logs and the latest state to
//! one redb file, one durable write transaction per block. [`node`] serves
//! it over Ethereum JSON-RPC ([`rpc`], HTTP and WebSocket) so that
//! alloy, viem, ethers and MetaMask talk to it by URL, and every other part
//! of fogmarket can be pointed at any other EVM chain instead.
//!
//! Main types: [`Genesis`] (what the chain starts from), [`Chain`] (pool,
//! block production, queries), [`Mempool`](mempool::Mempool), [`Node`]
//! (the chain behind a lock plus the block producer), [`NodeConfig`] and
//! [`run`] for the `fog chain` command.
//!
//! What it does not do: keep historical state (only the latest; calls at
//! older blocks are refused), compute Merkle state roots (revm has none;
//! `stateRoot` is zero), or reach consensus among several authorities over a
//! network (each node seals with its own key; multi-node deployments use any
//! other EVM chain by URL).
//!
//! ```no_run
//! # async fn example() -> Result<(), fog_chain::ChainError> {
//! use fog_chain::{ChainConfig, Genesis, Mining, NodeConfig, genesis::DEV_KEYS};
//!
//! let config = NodeConfig {
//!     chain: ChainConfig {
//!         datadir: "/tmp/fog-chain".into(),
//!         genesis: Some(Genesis::dev()),
//!         authority: DEV_KEYS[0].parse().expect("a dev key"),
//!         mining: Mining::Auto,
//!     },
//!     http: "127.0.0.1:8545".parse().expect("an address"),
//!     dev: true,
//! };
//! fog_chain::run(config).await
//! # }
//! ```

pub mod chain;
pub mod error;
pub mod genesis;
pub mod mempool;
pub mod node;
pub mod rpc;
pub mod seal;
mod store;
mod ws;

pub use chain::{Chain, ChainConfig, Mining};
pub use error::{ChainError, TxError};
pub use genesis::Genesis;
pub use node::{Node, NodeConfig, RunningNode, run, start};
