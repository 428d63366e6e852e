//! An in-process EVM (revm, Prague rules) that runs the suite without a node:
//! the contract tests and `fog bench gas` use it. Every transaction is its own
//! block; time moves only when [`Sim::warp`] says so, so tests are
//! deterministic. Gas is priced at zero, as on fogmarket's sidechain.

use std::collections::HashMap;

use alloy::{
    primitives::{Address, Bytes, Log, TxKind, U256},
    sol_types::{SolCall, SolEvent},
};
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext, MainnetEvm,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    handler::MainnetContext,
    primitives::hardfork::SpecId,
};

use crate::errors::Revert;

/// Chain id the simulated chain reports.
pub const SIM_CHAIN_ID: u64 = 31337;
/// Block timestamp the simulation starts at (2023-11-14).
pub const SIM_GENESIS_TIMESTAMP: u64 = 1_700_000_000;
const GAS_LIMIT: u64 = 30_000_000;

type Evm = MainnetEvm<MainnetContext<CacheDB<EmptyDB>>>;

/// Why a simulated transaction did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The contract reverted; nothing was changed.
    #[error("{call} reverted: {revert}")]
    Reverted {
        /// The function called (its Solidity signature).
        call: &'static str,
        /// The decoded reason.
        revert: Revert,
        /// Gas the reverted transaction used.
        gas_used: u64,
    },
    /// The EVM halted (out of gas, invalid opcode, ...).
    #[error("{call} halted: {reason}")]
    Halted {
        /// The function called.
        call: &'static str,
        /// The EVM's reason.
        reason: String,
    },
    /// The transaction was invalid before execution (nonce, gas limit, ...).
    #[error("{call} was rejected: {reason}")]
    Rejected {
        /// The function called.
        call: &'static str,
        /// The EVM's reason.
        reason: String,
    },
    /// The return data did not decode as the function's outputs.
    #[error("{call} returned data that does not decode: {reason}")]
    BadReturn {
        /// The function called.
        call: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

impl SimError {
    /// The decoded revert, if the call reverted.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            Self::Reverted { revert, .. } => Some(revert),
            _ => None,
        }
    }
}

/// A successful transaction's result.
#[derive(Debug, Clone)]
pub struct Outcome<R> {
    /// The decoded return value.
    pub ret: R,
    /// Gas used, as a receipt would report it (after refunds).
    pub gas_used: u64,
    /// Logs emitted, in order.
    pub logs: Vec<Log>,
}

impl<R> Outcome<R> {
    /// The first log that decodes as event `E`.
    pub fn event<E: SolEvent>(&self) -> Option<E> {
        self.logs
            .iter()
            .find_map(|l| E::decode_log(l).ok().map(|l| l.data))
    }

    /// Every log that decodes as event `E`, in order.
    pub fn events<E: SolEvent>(&self) -> Vec<E> {
        self.logs
            .iter()
            .filter_map(|l| E::decode_log(l).ok().map(|l| l.data))
            .collect()
    }
}

/// The simulated chain.
pub struct Sim {
    evm: Evm,
    nonces: HashMap<Address, u64>,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("timestamp", &self.timestamp())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// An empty chain at [`SIM_GENESIS_TIMESTAMP`].
    pub fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(CacheDB::new(EmptyDB::default()))
            .modify_cfg_chained(|c| {
                c.chain_id = SIM_CHAIN_ID;
                c.set_spec_and_mainnet_gas_params(SpecId::PRAGUE);
            })
            .modify_block_chained(|b| {
                b.number = U256::from(1);
                b.timestamp = U256::from(SIM_GENESIS_TIMESTAMP);
                b.gas_limit = GAS_LIMIT;
                b.basefee = 0;
            })
            .build_mainnet();
        Self {
            evm,
            nonces: HashMap::new(),
        }
    }

    /// The current block timestamp.
    pub fn timestamp(&self) -> u64 {
        self.evm.ctx.block.timestamp.saturating_to()
    }

    /// Moves the clock forward by `secs`.
    pub fn warp(&mut self, secs: u64) {
        self.evm.modify_block(|b| b.timestamp += U256::from(secs));
    }

    /// Deploys `initcode` (bytecode followed by ABI-encoded constructor arguments).
    pub fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, SimError> {
        let call = "constructor";
        let r = self.execute(from, TxKind::Create, initcode, call)?;
        match r {
            ExecutionResult::Success { .. } => r.created_address().ok_or(SimError::Halted {
                call,
                reason: "created no contract".to_owned(),
            }),
            other => Err(failure(call, other)),
        }
    }

    /// Sends a transaction calling `call` on `to` from `from` and commits it.
    pub fn send<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        let r = self.execute(
            from,
            TxKind::Call(to),
            call.abi_encode().into(),
            C::SIGNATURE,
        )?;
        match r {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => {
                let ret =
                    C::abi_decode_returns(output.data()).map_err(|e| SimError::BadReturn {
                        call: C::SIGNATURE,
                        reason: e.to_string(),
                    })?;
                Ok(Outcome {
                    ret,
                    gas_used: gas.tx_gas_used(),
                    logs,
                })
            }
            other => Err(failure(C::SIGNATURE, other)),
        }
    }

    /// Calls a function without committing anything (`eth_call`).
    pub fn view<C: SolCall>(&mut self, to: Address, call: &C) -> Result<C::Return, SimError> {
        let tx = TxEnv::builder()
            .caller(Address::ZERO)
            .kind(TxKind::Call(to))
            .data(call.abi_encode().into())
            .gas_limit(GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(SIM_CHAIN_ID))
            .build_fill();
        self.evm.modify_cfg(|c| c.disable_nonce_check = true);
        let r = self.evm.transact(tx);
        self.evm.modify_cfg(|c| c.disable_nonce_check = false);
        let r = r
            .map_err(|e| SimError::Rejected {
                call: C::SIGNATURE,
                reason: format!("{e:?}"),
            })?
            .result;
        match r {
            ExecutionResult::Success { output, .. } => C::abi_decode_returns(output.data())
                .map_err(|e| SimError::BadReturn {
                    call: C::SIGNATURE,
                    reason: e.to_string(),
                }),
            other => Err(failure(C::SIGNATURE, other)),
        }
    }

    fn execute(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        call: &'static str,
    ) -> Result<ExecutionResult, SimError> {
        let nonce = self.nonces.entry(from).or_default();
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .nonce(*nonce)
            .gas_limit(GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(SIM_CHAIN_ID))
            .build()
            .map_err(|e| SimError::Rejected {
                call,
                reason: format!("{e:?}"),
            })?;
        let r = self
            .evm
            .transact_commit(tx)
            .map_err(|e| SimError::Rejected {
                call,
                reason: format!("{e:?}"),
            })?;
        *nonce += 1;
        self.evm.modify_block(|b| b.number += U256::from(1));
        Ok(r)
    }
}

fn failure(call: &'static str, r: ExecutionResult) -> SimError {
    match r {
        ExecutionResult::Revert { gas, output, .. } => SimError::Reverted {
            call,
            revert: Revert::decode(&output),
            gas_used: gas.tx_gas_used(),
        },
        ExecutionResult::Halt { reason, .. } => SimError::Halted {
            call,
            reason: format!("{reason:?}"),
        },
        ExecutionResult::Success { .. } => SimError::Halted {
            call,
            reason: "unexpected success".to_owned(),
        },
    }
}
