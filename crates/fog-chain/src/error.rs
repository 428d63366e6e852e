//! Errors of the chain: what a caller did wrong (a transaction, a request)
//! and what went wrong underneath (storage, I/O).

use alloy::primitives::{Address, Bytes};

/// Why the chain refused or failed something.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The genesis file is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The data directory holds a chain started from another genesis.
    #[error(
        "the data directory {datadir} holds a chain with another genesis: \
         use another --datadir, or start without --genesis to resume it"
    )]
    GenesisMismatch {
        /// The data directory.
        datadir: String,
    },
    /// The node's key is not among the genesis authorities.
    #[error(
        "{0} is not an authority of this chain: it may not seal blocks (see the genesis file's authorities)"
    )]
    NotAuthority(Address),
    /// A transaction was refused before entering the pool.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The request asks for state the chain does not keep.
    #[error("state of block {0} is not kept: only the latest state is (query \"latest\")")]
    StateNotKept(u64),
    /// A block range too wide for one eth_getLogs call.
    #[error("block range {from}..={to} spans more than {max} blocks: split the query")]
    RangeTooWide {
        /// First block asked.
        from: u64,
        /// Last block asked.
        to: u64,
        /// Most blocks per query.
        max: u64,
    },
    /// A call or gas estimate reverted; the data is the revert reason.
    #[error("execution reverted")]
    Reverted(Bytes),
    /// A call halted (out of gas, invalid opcode, ...).
    #[error("execution halted: {0}")]
    Halted(String),
    /// The EVM refused a call before executing it.
    #[error("invalid call: {0}")]
    InvalidCall(String),
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Why a raw transaction was refused (the messages follow geth's wording, which
/// wallets and libraries recognise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Not a decodable EIP-2718 transaction.
    #[error("invalid transaction: {0}")]
    Malformed(String),
    /// The signature does not recover to a sender.
    #[error("invalid sender: {0}")]
    BadSignature(String),
    /// A transaction type the chain does not run (blobs, set-code).
    #[error("transaction type {0} is not supported")]
    UnsupportedType(u8),
    /// Signed for another chain, or without replay protection.
    #[error("invalid chain id: have {have:?}, want {want}")]
    WrongChainId {
        /// The transaction's chain id (None: legacy without EIP-155).
        have: Option<u64>,
        /// This chain's id.
        want: u64,
    },
    /// The nonce was already used.
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow {
        /// The account's next nonce.
        next: u64,
        /// The transaction's nonce.
        nonce: u64,
    },
    /// The nonce is too far ahead of the account's next nonce.
    #[error(
        "nonce too high: next nonce {next}, tx nonce {nonce} (a gap may open at most {max_gap} past the pending run)"
    )]
    NonceTooHigh {
        /// The account's next nonce.
        next: u64,
        /// The transaction's nonce.
        nonce: u64,
        /// How far ahead the pool holds transactions.
        max_gap: u64,
    },
    /// The gas limit exceeds what a block can hold.
    #[error("exceeds block gas limit: tx gas {gas}, block gas limit {limit}")]
    GasLimitExceeded {
        /// The transaction's gas limit.
        gas: u64,
        /// The block gas limit.
        limit: u64,
    },
    /// The gas limit is below the transaction's intrinsic cost.
    #[error("intrinsic gas too low: have {gas}, want {intrinsic}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas: u64,
        /// The intrinsic gas of its data and kind.
        intrinsic: u64,
    },
    /// The fee cap is below the base fee.
    #[error("max fee per gas less than block base fee: maxFeePerGas {max_fee}, baseFee {base_fee}")]
    FeeBelowBaseFee {
        /// The transaction's max fee per gas.
        max_fee: u128,
        /// The chain's base fee.
        base_fee: u64,
    },
    /// The sender cannot pay gas x price + value.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds {
        /// The sender's balance.
        balance: alloy::primitives::U256,
        /// gas limit x max fee + value.
        cost: alloy::primitives::U256,
    },
    /// A transaction with this sender and nonce is pending with a similar fee.
    #[error("replacement transaction underpriced: raise the fee by at least {bump_percent}%")]
    ReplacementUnderpriced {
        /// Required fee increase in percent.
        bump_percent: u128,
    },
    /// The same transaction is already pending or mined.
    #[error("already known")]
    AlreadyKnown,
    /// The sender has too many pending transactions.
    #[error("txpool is full: {0} has too many pending transactions; wait for some to be mined")]
    PoolFull(Address),
}

impl From<redb::Error> for ChainError {
    fn from(e: redb::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

macro_rules! storage_error {
    ($($t:ty),*) => {$(
        impl From<$t> for ChainError {
            fn from(e: $t) -> Self {
                Self::Storage(e.to_string())
            }
        }
    )*};
}
storage_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
