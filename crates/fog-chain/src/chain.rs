//! The chain itself: genesis, the pool, block production and the queries
//! the JSON-RPC layer answers. Single-threaded by design (revm's EVM is not
//! `Send`); [`crate::node`] puts it behind a mutex.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    consensus::{
        Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _,
        TxEnvelope, TxType,
        constants::EMPTY_OMMER_ROOT_HASH,
        proofs::{calculate_receipt_root, calculate_transaction_root},
        transaction::SignerRecoverable,
    },
    eips::{Typed2718, eip2718::Decodable2718},
    primitives::{Address, B256, Bloom, Bytes, Log, TxKind, U256},
    signers::local::PrivateKeySigner,
};
use redb::{Database, ReadableDatabase, WriteTransaction};
use revm::{
    Context, Database as _, DatabaseCommit, ExecuteEvm, MainBuilder, MainContext,
    context::{BlockEnv, TxEnv, result::ExecutionResult},
    database::CacheDB,
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::{AccountInfo, EvmState},
};

use crate::{
    error::{ChainError, TxError},
    genesis::Genesis,
    mempool::{Mempool, PoolTx},
    seal,
    store::{self, DiskState, StoredReceipt, StoredTx},
};

/// How blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mining {
    /// A block as soon as transactions are pending, holding all of them.
    Auto,
    /// A block every interval, holding whatever is pending (possibly nothing).
    Interval(std::time::Duration),
}

/// How to open a chain.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Where the chain's database lives.
    pub datadir: PathBuf,
    /// The genesis to start from; `None` resumes the chain in `datadir` (or
    /// starts a development chain if there is none).
    pub genesis: Option<Genesis>,
    /// The authority key that seals blocks.
    pub authority: PrivateKeySigner,
    /// Block production.
    pub mining: Mining,
}

/// Most blocks an `eth_getLogs` call may span, by default.
pub const MAX_LOG_RANGE: u64 = 10_000;

/// A block as stored: header, hash, transaction hashes.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    /// The sealed header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Transaction hashes in order.
    pub transactions: Vec<B256>,
}

/// A mined or pending transaction with where it is.
#[derive(Debug, Clone)]
pub struct TxLookup {
    /// The transaction.
    pub tx: TxEnvelope,
    /// Its sender.
    pub sender: Address,
    /// (block number, block hash, index, block timestamp) once mined.
    pub location: Option<(u64, B256, u64, u64)>,
}

/// A receipt with everything `eth_getTransactionReceipt` returns.
#[derive(Debug, Clone)]
pub struct ReceiptLookup {
    pub(crate) stored: StoredReceipt,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block timestamp.
    pub block_timestamp: u64,
    /// Index in the block.
    pub index: u64,
}

/// A log with its position, for `eth_getLogs` and subscriptions.
#[derive(Debug, Clone)]
pub struct LocatedLog {
    /// The log.
    pub log: Log,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block timestamp.
    pub block_timestamp: u64,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Transaction index in the block.
    pub tx_index: u64,
    /// Log index in the block.
    pub log_index: u64,
}

/// Which logs to return.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// First block.
    pub from: u64,
    /// Last block.
    pub to: u64,
    /// Any of these addresses (empty: any).
    pub addresses: Vec<Address>,
    /// Per topic position: any of these (empty: any).
    pub topics: Vec<Vec<B256>>,
}

impl LogQuery {
    /// Whether `log` passes the address and topic filters (blocks aside).
    pub fn matches(&self, log: &Log) -> bool {
        (self.addresses.is_empty() || self.addresses.contains(&log.address))
            && self.topics.iter().enumerate().all(|(i, wanted)| {
                wanted.is_empty() || log.topics().get(i).is_some_and(|t| wanted.contains(t))
            })
    }

    fn may_match(&self, bloom: &Bloom) -> bool {
        let address_ok = self.addresses.is_empty()
            || self
                .addresses
                .iter()
                .any(|a| bloom.contains_input(alloy::primitives::BloomInput::Raw(a.as_slice())));
        address_ok
            && self.topics.iter().all(|wanted| {
                wanted.is_empty()
                    || wanted.iter().any(|t| {
                        bloom.contains_input(alloy::primitives::BloomInput::Raw(t.as_slice()))
                    })
            })
    }
}

/// A call or gas estimate request.
#[derive(Debug, Clone, Default)]
pub struct CallRequest {
    /// Sender (zero if absent).
    pub from: Option<Address>,
    /// Callee; `None` creates a contract.
    pub to: Option<Address>,
    /// Calldata or initcode.
    pub input: Bytes,
    /// Value sent.
    pub value: U256,
    /// Gas limit (the block gas limit if absent).
    pub gas: Option<u64>,
}

/// What the chain learned when it produced a block: for subscribers.
#[derive(Debug, Clone)]
pub struct MinedBlock {
    /// The block.
    pub block: StoredBlock,
    /// Its logs.
    pub logs: Vec<LocatedLog>,
}

/// Accounts and slots a block changed, written to disk with it.
#[derive(Debug, Default)]
struct Changes {
    accounts: BTreeSet<Address>,
    created: BTreeSet<Address>,
    wiped: BTreeSet<Address>,
    slots: HashMap<Address, BTreeSet<U256>>,
}

impl Changes {
    fn record(&mut self, state: &EvmState) {
        for (address, account) in state {
            if !account.is_touched() {
                continue;
            }
            self.accounts.insert(*address);
            if account.is_selfdestructed() || account.is_created() {
                self.wiped.insert(*address);
                self.slots.remove(address);
            }
            if account.is_created() {
                self.created.insert(*address);
            }
            let slots = self.slots.entry(*address).or_default();
            for (slot, value) in &account.storage {
                if value.is_changed() {
                    slots.insert(*slot);
                }
            }
        }
    }
}

/// Development controls of the clock (`evm_increaseTime`, `evm_setNextBlockTimestamp`).
#[derive(Debug, Default, Clone, Copy)]
struct Clock {
    offset: u64,
    next: Option<u64>,
}

/// The chain.
pub struct Chain {
    genesis: Genesis,
    authority: PrivateKeySigner,
    mining: Mining,
    db: Arc<Database>,
    state: CacheDB<DiskState>,
    head: StoredBlock,
    pool: Mempool,
    clock: Clock,
    max_log_range: u64,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.genesis.chain_id)
            .field("head", &self.head.header.number)
            .field("pending", &self.pool.len())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Chain {
    /// Opens the chain in `config.datadir`, creating it from the genesis on first start.
    pub fn open(config: ChainConfig) -> Result<Self, ChainError> {
        std::fs::create_dir_all(&config.datadir).map_err(|source| ChainError::Io {
            what: format!("creating the data directory {}", config.datadir.display()),
            source,
        })?;
        let path = config.datadir.join("chain.redb");
        let db = Arc::new(Database::create(&path)?);
        store::create_tables(&db)?;
        let stored: Option<Genesis> = {
            let r = db.begin_read()?;
            let meta = r.open_table(store::META)?;
            match meta.get("genesis")? {
                Some(v) => Some(
                    serde_json::from_slice(v.value())
                        .map_err(|e| ChainError::Storage(format!("stored genesis: {e}")))?,
                ),
                None => None,
            }
        };
        let genesis = match (stored, config.genesis) {
            (Some(stored), Some(given)) if stored != given => {
                return Err(ChainError::GenesisMismatch {
                    datadir: config.datadir.display().to_string(),
                });
            }
            (Some(stored), _) => stored,
            (None, given) => {
                let genesis = given.unwrap_or_else(Genesis::dev);
                genesis.validate()?;
                init_genesis(&db, &genesis)?;
                genesis
            }
        };
        if !genesis.authorities.contains(&config.authority.address()) {
            return Err(ChainError::NotAuthority(config.authority.address()));
        }
        let head_number = read_head(&db)?;
        let head = read_block(&db, head_number)?
            .ok_or_else(|| ChainError::Storage(format!("head block {head_number} is missing")))?;
        Ok(Self {
            genesis,
            authority: config.authority,
            mining: config.mining,
            max_log_range: MAX_LOG_RANGE,
            state: CacheDB::new(DiskState { db: db.clone() }),
            db,
            head,
            pool: Mempool::default(),
            clock: Clock::default(),
        })
    }

    /// Limits how many blocks one `eth_getLogs` call may span.
    pub fn with_max_log_range(mut self, blocks: u64) -> Self {
        self.max_log_range = blocks.max(1);
        self
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.chain_id
    }

    /// The genesis the chain runs.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The latest block.
    pub fn head(&self) -> &StoredBlock {
        &self.head
    }

    /// How blocks are produced.
    pub fn mining(&self) -> Mining {
        self.mining
    }

    /// Number of pending transactions.
    pub fn pending_count(&self) -> usize {
        self.pool.len()
    }

    /// Validates a raw transaction and adds it to the pool. `tx` comes from
    /// [`decode_transaction`], which needs no access to the chain.
    pub fn submit(&mut self, tx: PoolTx) -> Result<B256, ChainError> {
        if self.tx_location(&tx.hash)?.is_some() {
            return Err(TxError::AlreadyKnown.into());
        }
        let want = self.genesis.chain_id;
        if tx.tx.chain_id() != Some(want) {
            return Err(TxError::WrongChainId {
                have: tx.tx.chain_id(),
                want,
            }
            .into());
        }
        let gas = tx.tx.gas_limit();
        if gas > self.genesis.gas_limit {
            return Err(TxError::GasLimitExceeded {
                gas,
                limit: self.genesis.gas_limit,
            }
            .into());
        }
        let intrinsic = intrinsic_gas(&tx.tx);
        if gas < intrinsic {
            return Err(TxError::IntrinsicGasTooLow { gas, intrinsic }.into());
        }
        let max_fee = tx.tx.max_fee_per_gas();
        let base_fee = self.genesis.base_fee_per_gas;
        if max_fee < u128::from(base_fee) {
            return Err(TxError::FeeBelowBaseFee { max_fee, base_fee }.into());
        }
        let account = self.account(tx.sender)?;
        let cost = U256::from(gas) * U256::from(max_fee) + tx.tx.value();
        if account.balance < cost {
            return Err(TxError::InsufficientFunds {
                balance: account.balance,
                cost,
            }
            .into());
        }
        let hash = tx.hash;
        self.pool.insert(tx, account.nonce)?;
        Ok(hash)
    }

    /// Seals one block with every ready transaction the gas limit allows
    /// (possibly none, when `allow_empty`) and writes it, with the state it
    /// leads to, in one durable transaction before returning. Under
    /// [`Mining::Auto`] this runs as soon as transactions arrive (like geth's
    /// dev mode): one transaction per block when they come one by one, several
    /// when they come faster than blocks are sealed.
    pub fn mine(&mut self, allow_empty: bool) -> Result<Option<MinedBlock>, ChainError> {
        let ready = self
            .pool
            .ready(|a| self.peek_nonce(a), self.genesis.gas_limit);
        if ready.is_empty() && !allow_empty {
            return Ok(None);
        }
        let senders: BTreeSet<Address> = ready.iter().map(|t| t.sender).collect();
        let before = self.head.clone();
        match self.mine_block(ready) {
            Ok(mined) => {
                for sender in senders {
                    let nonce = self.peek_nonce(sender);
                    self.pool.prune(sender, nonce);
                }
                Ok(Some(mined))
            }
            Err(e) => {
                // Nothing reached the disk: forget what the cache learned.
                self.state = CacheDB::new(DiskState {
                    db: self.db.clone(),
                });
                self.head = before;
                Err(e)
            }
        }
    }

    fn next_timestamp(&mut self) -> u64 {
        let ts = match self.clock.next.take() {
            Some(ts) => ts,
            None => unix_now().saturating_add(self.clock.offset),
        };
        ts.max(self.head.header.timestamp)
    }

    fn block_env(&self, number: u64, timestamp: u64) -> BlockEnv {
        BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            gas_limit: self.genesis.gas_limit,
            basefee: self.genesis.base_fee_per_gas,
            beneficiary: self.authority.address(),
            prevrandao: Some(B256::ZERO),
            ..Default::default()
        }
    }

    fn mine_block(&mut self, txs: Vec<PoolTx>) -> Result<MinedBlock, ChainError> {
        let w = self.db.begin_write()?;
        let mut changes = Changes::default();
        let mined = self.execute_block(&w, txs, &mut changes)?;
        self.write_changes(&w, &changes)?;
        w.open_table(store::META)?
            .insert("head", mined.block.header.number.to_be_bytes().as_slice())?;
        w.commit()?;
        self.head = mined.block.clone();
        Ok(mined)
    }

    fn execute_block(
        &mut self,
        w: &WriteTransaction,
        txs: Vec<PoolTx>,
        changes: &mut Changes,
    ) -> Result<MinedBlock, ChainError> {
        let number = self.head.header.number + 1;
        let timestamp = self.next_timestamp();
        let env = self.block_env(number, timestamp);
        let base_fee = self.genesis.base_fee_per_gas;
        let mut included: Vec<PoolTx> = Vec::with_capacity(txs.len());
        let mut receipts: Vec<StoredReceipt> = Vec::with_capacity(txs.len());
        let mut cumulative = 0u64;
        let mut log_index = 0u64;
        for tx in txs {
            let outcome = {
                let mut evm = Context::mainnet()
                    .with_db(&mut self.state)
                    .modify_cfg_chained(|c| {
                        c.chain_id = self.genesis.chain_id;
                        c.set_spec_and_mainnet_gas_params(SpecId::PRAGUE);
                    })
                    .with_block(env.clone())
                    .build_mainnet();
                evm.transact(tx_env(&tx.tx, tx.sender))
            };
            let Ok(outcome) = outcome else {
                // Valid when pooled, invalid now (e.g. the balance went): drop it.
                tracing::debug!(tx = %tx.hash, "dropping a transaction that no longer executes");
                self.pool.remove(&tx.hash);
                continue;
            };
            changes.record(&outcome.state);
            self.state.commit(outcome.state);
            let result = outcome.result;
            let gas_used = result.tx_gas_used();
            if cumulative + gas_used > self.genesis.gas_limit {
                // Cannot happen for automine (one transaction per block) and the
                // pool's gas budget keeps interval blocks within the limit.
                return Err(ChainError::Storage(
                    "block gas limit exceeded while building".into(),
                ));
            }
            cumulative += gas_used;
            let logs = result.logs().to_vec();
            let tip = tx.tx.effective_tip_per_gas(base_fee).unwrap_or(0);
            // As geth, reth and anvil: a creation names its address even if it failed.
            let created = tx
                .tx
                .kind()
                .is_create()
                .then(|| tx.sender.create(tx.tx.nonce()));
            receipts.push(StoredReceipt {
                tx_type: tx.tx.ty(),
                status: result.is_success(),
                cumulative_gas_used: cumulative,
                gas_used,
                effective_gas_price: u128::from(base_fee) + tip,
                from: tx.sender,
                to: tx.tx.to(),
                contract_address: created,
                first_log_index: log_index,
                logs,
            });
            log_index += receipts.last().map_or(0, |r| r.logs.len() as u64);
            included.push(tx);
        }

        let envelopes: Vec<ReceiptEnvelope> = receipts.iter().map(receipt_envelope).collect();
        let bloom = envelopes.iter().fold(Bloom::default(), |mut b, r| {
            b.accrue_bloom(r.logs_bloom());
            b
        });
        let tx_envelopes: Vec<&TxEnvelope> = included.iter().map(|t| &t.tx).collect();
        let mut header = Header {
            parent_hash: self.head.hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.authority.address(),
            // revm keeps no Merkle state; the root is not computed (see ARCHITECTURE.md).
            state_root: B256::ZERO,
            transactions_root: calculate_transaction_root(&tx_envelopes),
            receipts_root: calculate_receipt_root(&envelopes),
            logs_bloom: bloom,
            number,
            gas_limit: self.genesis.gas_limit,
            gas_used: cumulative,
            timestamp,
            base_fee_per_gas: Some(base_fee),
            ..Default::default()
        };
        seal::seal(&mut header, &self.authority).map_err(|e| ChainError::Storage(e.to_string()))?;
        let hash = header.hash_slow();

        let mut tx_hashes = Vec::with_capacity(included.len() * 32);
        let mut logs = Vec::new();
        {
            let mut txs_t = w.open_table(store::TXS)?;
            let mut receipts_t = w.open_table(store::RECEIPTS)?;
            for (index, (tx, receipt)) in included.iter().zip(&receipts).enumerate() {
                tx_hashes.extend_from_slice(tx.hash.as_slice());
                let stored = StoredTx {
                    block: number,
                    index: index as u32,
                    sender: tx.sender,
                    raw: tx.raw.clone(),
                };
                txs_t.insert(tx.hash.as_slice(), stored.encode().as_slice())?;
                let json =
                    serde_json::to_vec(receipt).map_err(|e| ChainError::Storage(e.to_string()))?;
                receipts_t.insert(tx.hash.as_slice(), json.as_slice())?;
                for (i, log) in receipt.logs.iter().enumerate() {
                    logs.push(LocatedLog {
                        log: log.clone(),
                        block_number: number,
                        block_hash: hash,
                        block_timestamp: timestamp,
                        tx_hash: tx.hash,
                        tx_index: index as u64,
                        log_index: receipt.first_log_index + i as u64,
                    });
                }
            }
        }
        w.open_table(store::HEADERS)?
            .insert(number, store::encode_header(&header).as_slice())?;
        w.open_table(store::BLOCK_NUMBERS)?
            .insert(hash.as_slice(), number)?;
        w.open_table(store::BLOCK_TXS)?
            .insert(number, tx_hashes.as_slice())?;
        let transactions = included.iter().map(|t| t.hash).collect();
        Ok(MinedBlock {
            block: StoredBlock {
                header,
                hash,
                transactions,
            },
            logs,
        })
    }

    fn write_changes(&self, w: &WriteTransaction, changes: &Changes) -> Result<(), ChainError> {
        for address in &changes.wiped {
            store::wipe_storage(w, *address)?;
        }
        for address in &changes.accounts {
            let Some(account) = self.state.cache.accounts.get(address) else {
                continue;
            };
            let mut info = account.info.clone();
            if changes.created.contains(address) && info.code_hash != KECCAK_EMPTY {
                info.code = self.state.cache.contracts.get(&info.code_hash).cloned();
            } else {
                info.code = None;
            }
            if account.account_state == revm::database::AccountState::NotExisting {
                w.open_table(store::ACCOUNTS)?.remove(address.as_slice())?;
            } else {
                store::write_account(w, *address, &info)?;
            }
            if let Some(slots) = changes.slots.get(address) {
                for slot in slots {
                    let value = account.storage.get(slot).copied().unwrap_or_default();
                    store::write_slot(w, *address, *slot, value)?;
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------- state

    fn peek_nonce(&self, address: Address) -> u64 {
        match self.state.cache.accounts.get(&address) {
            Some(a) => a.info.nonce,
            None => self.state.db.basic_ref_nonce(address),
        }
    }

    /// An account's latest balance, nonce and code hash.
    pub fn account(&mut self, address: Address) -> Result<AccountInfo, ChainError> {
        Ok(self
            .state
            .basic(address)
            .map_err(|e| ChainError::Storage(e.to_string()))?
            .unwrap_or_default())
    }

    /// An account's next nonce counting its pending transactions.
    pub fn pending_nonce(&mut self, address: Address) -> Result<u64, ChainError> {
        let nonce = self.account(address)?.nonce;
        Ok(self.pool.pending_nonce(address, nonce))
    }

    /// An account's latest code.
    pub fn code(&mut self, address: Address) -> Result<Bytes, ChainError> {
        let info = self.account(address)?;
        if info.code_hash == KECCAK_EMPTY {
            return Ok(Bytes::new());
        }
        let code = self
            .state
            .code_by_hash(info.code_hash)
            .map_err(|e| ChainError::Storage(e.to_string()))?;
        Ok(code.original_bytes())
    }

    /// One latest storage slot.
    pub fn storage(&mut self, address: Address, slot: U256) -> Result<U256, ChainError> {
        self.state
            .storage(address, slot)
            .map_err(|e| ChainError::Storage(e.to_string()))
    }

    /// Checks that `number` is a block whose state is kept (the latest).
    pub fn state_at(&self, number: u64) -> Result<(), ChainError> {
        if number < self.head.header.number {
            Err(ChainError::StateNotKept(number))
        } else {
            Ok(())
        }
    }

    // ------------------------------------------------------------- calls

    /// Executes `req` against the latest state in the context of the next
    /// block, changing nothing.
    pub fn call(&mut self, req: &CallRequest) -> Result<ExecutionResult, ChainError> {
        let gas = req
            .gas
            .unwrap_or(self.genesis.gas_limit)
            .min(self.genesis.gas_limit);
        self.simulate(req, gas)
    }

    fn simulate(&mut self, req: &CallRequest, gas: u64) -> Result<ExecutionResult, ChainError> {
        let from = req.from.unwrap_or_default();
        let nonce = self.account(from)?.nonce;
        let tx = TxEnv::builder()
            .caller(from)
            .nonce(nonce)
            .kind(req.to.map_or(TxKind::Create, TxKind::Call))
            .data(req.input.clone())
            .value(req.value)
            .gas_limit(gas)
            .gas_price(0)
            .chain_id(Some(self.genesis.chain_id))
            .build_fill();
        let number = self.head.header.number + 1;
        let timestamp = self
            .clock
            .next
            .unwrap_or_else(|| unix_now().saturating_add(self.clock.offset));
        let env = self.block_env(number, timestamp.max(self.head.header.timestamp));
        let mut evm = Context::mainnet()
            .with_db(&mut self.state)
            .modify_cfg_chained(|c| {
                c.chain_id = self.genesis.chain_id;
                c.set_spec_and_mainnet_gas_params(SpecId::PRAGUE);
                c.disable_base_fee = true;
                c.disable_balance_check = true;
            })
            .with_block(env)
            .build_mainnet();
        let out = evm
            .transact(tx)
            .map_err(|e| ChainError::InvalidCall(format!("{e:?}")))?;
        Ok(out.result)
    }

    /// The least gas limit with which `req` succeeds, by binary search (a
    /// transaction's gas used is not enough: refunds and the 63/64 rule).
    pub fn estimate_gas(&mut self, req: &CallRequest) -> Result<u64, ChainError> {
        let cap = req
            .gas
            .unwrap_or(self.genesis.gas_limit)
            .min(self.genesis.gas_limit);
        let first = self.simulate(req, cap)?;
        match &first {
            ExecutionResult::Success { .. } => {}
            ExecutionResult::Revert { output, .. } => {
                return Err(ChainError::Reverted(output.clone()));
            }
            ExecutionResult::Halt { reason, .. } => {
                return Err(ChainError::Halted(format!("{reason:?}")));
            }
        }
        let mut lo = first.tx_gas_used().saturating_sub(1);
        let mut hi = cap;
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if matches!(self.simulate(req, mid), Ok(ExecutionResult::Success { .. })) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    // ------------------------------------------------------------- dev clock

    /// Moves the clock of future blocks forward by `secs`; returns the total offset.
    pub fn increase_time(&mut self, secs: u64) -> u64 {
        self.clock.offset = self.clock.offset.saturating_add(secs);
        self.clock.offset
    }

    /// Fixes the timestamp of the next block.
    pub fn set_next_timestamp(&mut self, timestamp: u64) -> Result<(), ChainError> {
        if timestamp < self.head.header.timestamp {
            return Err(ChainError::InvalidCall(format!(
                "timestamp {timestamp} is before the latest block's {}",
                self.head.header.timestamp
            )));
        }
        self.clock.next = Some(timestamp);
        Ok(())
    }

    // ------------------------------------------------------------- reads

    /// A block by number.
    pub fn block(&self, number: u64) -> Result<Option<StoredBlock>, ChainError> {
        if number == self.head.header.number {
            return Ok(Some(self.head.clone()));
        }
        read_block(&self.db, number)
    }

    /// A block's number from its hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>, ChainError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(store::BLOCK_NUMBERS)?;
        Ok(t.get(hash.as_slice())?.map(|v| v.value()))
    }

    fn tx_location(&self, hash: &B256) -> Result<Option<StoredTx>, ChainError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(store::TXS)?;
        match t.get(hash.as_slice())? {
            Some(v) => Ok(Some(StoredTx::decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// A transaction, mined or pending.
    pub fn transaction(&self, hash: &B256) -> Result<Option<TxLookup>, ChainError> {
        if let Some(stored) = self.tx_location(hash)? {
            let tx = TxEnvelope::decode_2718(&mut stored.raw.as_ref()).map_err(|_| {
                ChainError::Storage(format!("stored transaction {hash} does not decode"))
            })?;
            let block = self.block(stored.block)?;
            let (block_hash, ts) = block
                .map(|b| (b.hash, b.header.timestamp))
                .unwrap_or_default();
            return Ok(Some(TxLookup {
                tx,
                sender: stored.sender,
                location: Some((stored.block, block_hash, u64::from(stored.index), ts)),
            }));
        }
        Ok(self.pool.get(hash).map(|p| TxLookup {
            tx: p.tx.clone(),
            sender: p.sender,
            location: None,
        }))
    }

    /// A mined transaction's receipt.
    pub fn receipt(&self, hash: &B256) -> Result<Option<ReceiptLookup>, ChainError> {
        let Some(stored_tx) = self.tx_location(hash)? else {
            return Ok(None);
        };
        let r = self.db.begin_read()?;
        let t = r.open_table(store::RECEIPTS)?;
        let Some(v) = t.get(hash.as_slice())? else {
            return Ok(None);
        };
        let stored: StoredReceipt = serde_json::from_slice(v.value())
            .map_err(|e| ChainError::Storage(format!("receipt {hash}: {e}")))?;
        let block = self.block(stored_tx.block)?;
        let (block_hash, block_timestamp) = block
            .map(|b| (b.hash, b.header.timestamp))
            .unwrap_or_default();
        Ok(Some(ReceiptLookup {
            stored,
            tx_hash: *hash,
            block_number: stored_tx.block,
            block_hash,
            block_timestamp,
            index: u64::from(stored_tx.index),
        }))
    }

    /// Logs matching `q`; the range may span at most the configured number of
    /// blocks ([`MAX_LOG_RANGE`] by default).
    pub fn logs(&self, q: &LogQuery) -> Result<Vec<LocatedLog>, ChainError> {
        let to = q.to.min(self.head.header.number);
        if q.from > to {
            return Ok(Vec::new());
        }
        if to - q.from >= self.max_log_range {
            return Err(ChainError::RangeTooWide {
                from: q.from,
                to,
                max: self.max_log_range,
            });
        }
        let r = self.db.begin_read()?;
        let headers = r.open_table(store::HEADERS)?;
        let block_txs = r.open_table(store::BLOCK_TXS)?;
        let receipts = r.open_table(store::RECEIPTS)?;
        let mut out = Vec::new();
        for entry in headers.range(q.from..=to)? {
            let (number, raw) = entry?;
            let header = store::decode_header(raw.value())?;
            if !q.may_match(&header.logs_bloom) {
                continue;
            }
            let hash = header.hash_slow();
            let Some(hashes) = block_txs.get(number.value())? else {
                continue;
            };
            for (index, tx_hash) in hashes.value().chunks_exact(32).enumerate() {
                let Some(v) = receipts.get(tx_hash)? else {
                    continue;
                };
                let receipt: StoredReceipt = serde_json::from_slice(v.value())
                    .map_err(|e| ChainError::Storage(e.to_string()))?;
                for (i, log) in receipt.logs.iter().enumerate() {
                    if q.matches(log) {
                        out.push(LocatedLog {
                            log: log.clone(),
                            block_number: number.value(),
                            block_hash: hash,
                            block_timestamp: header.timestamp,
                            tx_hash: B256::from_slice(tx_hash),
                            tx_index: index as u64,
                            log_index: receipt.first_log_index + i as u64,
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Decodes and authenticates a raw transaction (no chain access needed, so
/// callers can do it outside the chain's lock).
pub fn decode_transaction(raw: &[u8]) -> Result<PoolTx, TxError> {
    let tx =
        TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| TxError::Malformed(e.to_string()))?;
    if matches!(tx.tx_type(), TxType::Eip4844 | TxType::Eip7702) {
        return Err(TxError::UnsupportedType(tx.ty()));
    }
    let sender = tx
        .recover_signer()
        .map_err(|e| TxError::BadSignature(e.to_string()))?;
    Ok(PoolTx::new(
        *tx.tx_hash(),
        sender,
        tx,
        Bytes::copy_from_slice(raw),
    ))
}

/// The gas a transaction costs before executing anything (EIP-2028 calldata,
/// EIP-3860 initcode, EIP-2930 access lists, EIP-7623 calldata floor).
fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let tokens = zeros + 4 * (input.len() as u64 - zeros);
    let mut gas = 21_000 + 4 * tokens;
    if tx.kind().is_create() {
        gas += 32_000 + 2 * (input.len() as u64).div_ceil(32);
    }
    if let Some(list) = tx.access_list() {
        for item in list.iter() {
            gas += 2_400 + 1_900 * item.storage_keys.len() as u64;
        }
    }
    let floor = 21_000 + 10 * tokens;
    gas.max(floor)
}

fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    TxEnv::builder()
        .tx_type(Some(tx.ty()))
        .caller(sender)
        .nonce(tx.nonce())
        .gas_limit(tx.gas_limit())
        .max_fee_per_gas(tx.max_fee_per_gas())
        .gas_priority_fee(tx.max_priority_fee_per_gas())
        .kind(tx.kind())
        .value(tx.value())
        .data(tx.input().clone())
        .chain_id(tx.chain_id())
        .access_list(tx.access_list().cloned().unwrap_or_default())
        .build_fill()
}

/// The consensus receipt of a stored one (for the receipts root and bloom).
fn receipt_envelope(r: &StoredReceipt) -> ReceiptEnvelope {
    let receipt = Receipt {
        status: Eip658Value::Eip658(r.status),
        cumulative_gas_used: r.cumulative_gas_used,
        logs: r.logs.clone(),
    };
    let with_bloom = ReceiptWithBloom::from(receipt);
    match r.tx_type {
        0 => ReceiptEnvelope::Legacy(with_bloom),
        1 => ReceiptEnvelope::Eip2930(with_bloom),
        _ => ReceiptEnvelope::Eip1559(with_bloom),
    }
}

fn init_genesis(db: &Database, genesis: &Genesis) -> Result<(), ChainError> {
    let w = db.begin_write()?;
    for (address, account) in &genesis.alloc {
        let code = account.code.clone().map(revm::bytecode::Bytecode::new_raw);
        let info = AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: code.as_ref().map_or(KECCAK_EMPTY, |c| c.hash_slow()),
            code,
            ..Default::default()
        };
        store::write_account(&w, *address, &info)?;
        for (slot, value) in &account.storage {
            store::write_slot(&w, *address, (*slot).into(), (*value).into())?;
        }
    }
    let header = Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        number: 0,
        gas_limit: genesis.gas_limit,
        timestamp: if genesis.timestamp == 0 {
            unix_now()
        } else {
            genesis.timestamp
        },
        base_fee_per_gas: Some(genesis.base_fee_per_gas),
        transactions_root: alloy::consensus::constants::EMPTY_ROOT_HASH,
        receipts_root: alloy::consensus::constants::EMPTY_ROOT_HASH,
        extra_data: Bytes::from_static(b"fogmarket genesis"),
        ..Default::default()
    };
    let hash = header.hash_slow();
    w.open_table(store::HEADERS)?
        .insert(0, store::encode_header(&header).as_slice())?;
    w.open_table(store::BLOCK_NUMBERS)?
        .insert(hash.as_slice(), 0)?;
    w.open_table(store::BLOCK_TXS)?.insert(0, [].as_slice())?;
    let json = serde_json::to_vec(genesis).map_err(|e| ChainError::Storage(e.to_string()))?;
    let mut meta = w.open_table(store::META)?;
    meta.insert("genesis", json.as_slice())?;
    meta.insert("head", 0u64.to_be_bytes().as_slice())?;
    drop(meta);
    w.commit()?;
    Ok(())
}

fn read_head(db: &Database) -> Result<u64, ChainError> {
    let r = db.begin_read()?;
    let meta = r.open_table(store::META)?;
    let v = meta
        .get("head")?
        .ok_or_else(|| ChainError::Storage("no head block recorded".into()))?;
    let bytes: [u8; 8] = v
        .value()
        .try_into()
        .map_err(|_| ChainError::Storage("corrupt head record".into()))?;
    Ok(u64::from_be_bytes(bytes))
}

fn read_block(db: &Database, number: u64) -> Result<Option<StoredBlock>, ChainError> {
    let r = db.begin_read()?;
    let headers = r.open_table(store::HEADERS)?;
    let Some(raw) = headers.get(number)? else {
        return Ok(None);
    };
    let header = store::decode_header(raw.value())?;
    let txs = r.open_table(store::BLOCK_TXS)?;
    let transactions = match txs.get(number)? {
        Some(v) => v.value().chunks_exact(32).map(B256::from_slice).collect(),
        None => Vec::new(),
    };
    Ok(Some(StoredBlock {
        hash: header.hash_slow(),
        header,
        transactions,
    }))
}

/// The datadir's database file.
pub fn database_path(datadir: &Path) -> PathBuf {
    datadir.join("chain.redb")
}

impl DiskState {
    fn basic_ref_nonce(&self, address: Address) -> u64 {
        use revm::DatabaseRef as _;
        self.basic_ref(address)
            .ok()
            .flatten()
            .map(|a| a.nonce)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::DEV_KEYS;

    fn open(dir: &Path) -> Chain {
        Chain::open(ChainConfig {
            datadir: dir.to_owned(),
            genesis: Some(Genesis::dev()),
            authority: DEV_KEYS[0].parse().unwrap(),
            mining: Mining::Auto,
        })
        .unwrap()
    }

    #[test]
    fn log_query_wider_than_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = open(dir.path()).with_max_log_range(2);
        for _ in 0..3 {
            chain.mine(true).unwrap();
        }
        let q = LogQuery {
            from: 0,
            to: 3,
            ..Default::default()
        };
        assert!(matches!(
            chain.logs(&q),
            Err(ChainError::RangeTooWide { max: 2, .. })
        ));
        let q = LogQuery {
            from: 2,
            to: 3,
            ..Default::default()
        };
        assert!(chain.logs(&q).unwrap().is_empty());
    }

    #[test]
    fn reopening_with_another_genesis_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let other = Genesis {
            chain_id: 7,
            ..Genesis::dev()
        };
        let r = Chain::open(ChainConfig {
            datadir: dir.path().to_owned(),
            genesis: Some(other),
            authority: DEV_KEYS[0].parse().unwrap(),
            mining: Mining::Auto,
        });
        assert!(matches!(r, Err(ChainError::GenesisMismatch { .. })));
    }

    #[test]
    fn a_key_outside_the_authorities_may_not_seal() {
        let dir = tempfile::tempdir().unwrap();
        let r = Chain::open(ChainConfig {
            datadir: dir.path().to_owned(),
            genesis: Some(Genesis::dev()),
            authority: DEV_KEYS[1].parse().unwrap(),
            mining: Mining::Auto,
        });
        assert!(matches!(r, Err(ChainError::NotAuthority(_))));
    }

    #[test]
    fn a_timestamp_before_the_head_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = open(dir.path());
        let head = chain.head().header.timestamp;
        assert!(chain.set_next_timestamp(head - 1).is_err());
        chain.set_next_timestamp(head + 100).unwrap();
        let block = chain.mine(true).unwrap().unwrap();
        assert_eq!(block.block.header.timestamp, head + 100);
    }
}
