//! What the chain keeps on disk, in one redb file: blocks, transactions,
//! receipts (with their logs) and the latest state. Every block is written
//! in one write transaction together with the state it leads to, so a crash
//! leaves either the whole block or none of it.

use std::sync::Arc;

use alloy::{
    consensus::Header,
    primitives::{Address, B256, Bytes, Log, U256},
    rlp::{Decodable, Encodable},
};
use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};
use revm::{
    DatabaseRef, bytecode::Bytecode, database_interface::DBErrorMarker, primitives::KECCAK_EMPTY,
    state::AccountInfo,
};
use serde::{Deserialize, Serialize};

use crate::error::ChainError;

/// "head" -> latest block number; "genesis" -> the genesis JSON.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// number -> RLP header (the seal is in extra_data).
pub(crate) const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// block hash -> number.
pub(crate) const BLOCK_NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("block_numbers");
/// number -> concatenated 32-byte transaction hashes, in block order.
pub(crate) const BLOCK_TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_txs");
/// tx hash -> [`StoredTx`].
pub(crate) const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");
/// tx hash -> [`StoredReceipt`] (JSON).
pub(crate) const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts");
/// address -> balance (32) | nonce (8) | code hash (32).
pub(crate) const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
/// code hash -> bytecode.
pub(crate) const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// address (20) | slot (32) -> value (32); zero values are not stored.
pub(crate) const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");

/// A mined transaction: where it is and who sent it.
#[derive(Debug, Clone)]
pub(crate) struct StoredTx {
    pub block: u64,
    pub index: u32,
    pub sender: Address,
    /// EIP-2718 encoding.
    pub raw: Bytes,
}

impl StoredTx {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + self.raw.len());
        v.extend_from_slice(&self.block.to_be_bytes());
        v.extend_from_slice(&self.index.to_be_bytes());
        v.extend_from_slice(self.sender.as_slice());
        v.extend_from_slice(&self.raw);
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Result<Self, ChainError> {
        if v.len() < 32 {
            return Err(ChainError::Storage(
                "stored transaction is truncated".into(),
            ));
        }
        let (block, rest) = v.split_at(8);
        let (index, rest) = rest.split_at(4);
        let (sender, raw) = rest.split_at(20);
        Ok(Self {
            block: u64::from_be_bytes(block.try_into().map_err(|_| corrupt("tx block"))?),
            index: u32::from_be_bytes(index.try_into().map_err(|_| corrupt("tx index"))?),
            sender: Address::from_slice(sender),
            raw: Bytes::copy_from_slice(raw),
        })
    }
}

/// A receipt as stored; block hash and log positions are filled in when served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredReceipt {
    pub tx_type: u8,
    pub status: bool,
    pub cumulative_gas_used: u64,
    pub gas_used: u64,
    pub effective_gas_price: u128,
    pub from: Address,
    pub to: Option<Address>,
    pub contract_address: Option<Address>,
    pub logs: Vec<Log>,
    /// Index of this receipt's first log within its block.
    pub first_log_index: u64,
}

fn corrupt(what: &str) -> ChainError {
    ChainError::Storage(format!("corrupt {what} record"))
}

pub(crate) fn encode_header(h: &Header) -> Vec<u8> {
    let mut v = Vec::with_capacity(600);
    h.encode(&mut v);
    v
}

pub(crate) fn decode_header(mut v: &[u8]) -> Result<Header, ChainError> {
    Header::decode(&mut v).map_err(|_| corrupt("header"))
}

fn encode_account(info: &AccountInfo) -> [u8; 72] {
    let mut v = [0u8; 72];
    v[..32].copy_from_slice(&info.balance.to_be_bytes::<32>());
    v[32..40].copy_from_slice(&info.nonce.to_be_bytes());
    v[40..].copy_from_slice(info.code_hash.as_slice());
    v
}

fn decode_account(v: &[u8]) -> Result<AccountInfo, ChainError> {
    if v.len() != 72 {
        return Err(corrupt("account"));
    }
    Ok(AccountInfo {
        balance: U256::from_be_slice(&v[..32]),
        nonce: u64::from_be_bytes(v[32..40].try_into().map_err(|_| corrupt("account nonce"))?),
        code_hash: B256::from_slice(&v[40..72]),
        code: None,
        ..Default::default()
    })
}

fn storage_key(address: Address, slot: U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

/// Creates every table, so that readers never meet a missing one.
pub(crate) fn create_tables(db: &Database) -> Result<(), ChainError> {
    let w = db.begin_write()?;
    w.open_table(META)?;
    w.open_table(HEADERS)?;
    w.open_table(BLOCK_NUMBERS)?;
    w.open_table(BLOCK_TXS)?;
    w.open_table(TXS)?;
    w.open_table(RECEIPTS)?;
    w.open_table(ACCOUNTS)?;
    w.open_table(CODE)?;
    w.open_table(STORAGE)?;
    w.commit()?;
    Ok(())
}

/// Writes an account's info and its code.
pub(crate) fn write_account(
    w: &WriteTransaction,
    address: Address,
    info: &AccountInfo,
) -> Result<(), ChainError> {
    w.open_table(ACCOUNTS)?
        .insert(address.as_slice(), encode_account(info).as_slice())?;
    if info.code_hash != KECCAK_EMPTY
        && let Some(code) = &info.code
    {
        w.open_table(CODE)?
            .insert(info.code_hash.as_slice(), code.original_bytes().as_ref())?;
    }
    Ok(())
}

/// Writes one storage slot (zero deletes it).
pub(crate) fn write_slot(
    w: &WriteTransaction,
    address: Address,
    slot: U256,
    value: U256,
) -> Result<(), ChainError> {
    let mut t = w.open_table(STORAGE)?;
    let key = storage_key(address, slot);
    if value.is_zero() {
        t.remove(key.as_slice())?;
    } else {
        t.insert(key.as_slice(), value.to_be_bytes::<32>().as_slice())?;
    }
    Ok(())
}

/// Deletes every storage slot of `address` (self-destruct, or re-creation).
pub(crate) fn wipe_storage(w: &WriteTransaction, address: Address) -> Result<(), ChainError> {
    let lo = storage_key(address, U256::ZERO);
    let hi = storage_key(address, U256::MAX);
    w.open_table(STORAGE)?
        .retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)?;
    Ok(())
}

/// The latest committed state, read from disk: the backing store under the
/// chain's in-memory state cache.
#[derive(Debug, Clone)]
pub(crate) struct DiskState {
    pub db: Arc<Database>,
}

/// A storage failure while the EVM reads state.
#[derive(Debug, thiserror::Error)]
#[error("state storage: {0}")]
pub(crate) struct StateError(String);

impl DBErrorMarker for StateError {}

impl From<ChainError> for StateError {
    fn from(e: ChainError) -> Self {
        Self(e.to_string())
    }
}

fn state_err(e: impl std::fmt::Display) -> StateError {
    StateError(e.to_string())
}

impl DatabaseRef for DiskState {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(ACCOUNTS).map_err(state_err)?;
        match t.get(address.as_slice()).map_err(state_err)? {
            Some(v) => Ok(Some(decode_account(v.value())?)),
            None => Ok(None),
        }
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(CODE).map_err(state_err)?;
        let v = t
            .get(code_hash.as_slice())
            .map_err(state_err)?
            .ok_or_else(|| StateError(format!("code {code_hash} is missing")))?;
        Ok(Bytecode::new_raw(Bytes::copy_from_slice(v.value())))
    }

    fn storage_ref(&self, address: Address, slot: U256) -> Result<U256, StateError> {
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(STORAGE).map_err(state_err)?;
        let v = t
            .get(storage_key(address, slot).as_slice())
            .map_err(state_err)?;
        Ok(v.map(|v| U256::from_be_slice(v.value()))
            .unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StateError> {
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(HEADERS).map_err(state_err)?;
        match t.get(number).map_err(state_err)? {
            Some(v) => Ok(decode_header(v.value())?.hash_slow()),
            None => Ok(B256::ZERO),
        }
    }
}
