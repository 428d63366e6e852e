//! Ethereum JSON-RPC: request parsing, dispatch to the [`Chain`], and the
//! answers alloy, viem, ethers and MetaMask expect. Transport-free: the HTTP
//! server hands bodies in and writes the returned JSON out.

use alloy::{
    consensus::{Receipt, ReceiptEnvelope, ReceiptWithBloom, transaction::Recovered},
    eips::{BlockId, BlockNumberOrTag},
    primitives::{Address, B256, Bytes, U64, U256},
    rpc::types::{
        Block as RpcBlock, BlockTransactions, FeeHistory, Filter, FilterBlockOption,
        Header as RpcHeader, Log as RpcLog, Transaction as RpcTransaction, TransactionReceipt,
        TransactionRequest,
    },
    sol_types::{Revert, SolError},
};
use revm::context::result::ExecutionResult;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{
    chain::{
        CallRequest, Chain, LocatedLog, LogQuery, ReceiptLookup, StoredBlock, decode_transaction,
    },
    error::ChainError,
    node::Node,
};

/// `web3_clientVersion`.
pub const CLIENT_VERSION: &str = concat!("fog-chain/", env!("CARGO_PKG_VERSION"));

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i64,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
    /// Extra data (revert data for code 3).
    pub data: Option<Value>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }

    fn to_json(&self) -> Value {
        let mut e = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            e["data"] = data.clone();
        }
        e
    }
}

impl From<ChainError> for RpcError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Reverted(data) => {
                let message = match Revert::abi_decode(&data) {
                    Ok(r) => format!("execution reverted: {}", r.reason),
                    Err(_) => "execution reverted".to_owned(),
                };
                Self {
                    code: 3,
                    message,
                    data: Some(json!(data)),
                }
            }
            ChainError::RangeTooWide { .. } => Self::new(-32005, e.to_string()),
            ChainError::Storage(_) | ChainError::Io { .. } => Self::new(-32603, e.to_string()),
            other => Self::new(-32000, other.to_string()),
        }
    }
}

type RpcResult = Result<Value, RpcError>;

/// Answers one HTTP body: a request or a batch.
pub fn handle_body(node: &Node, body: &[u8]) -> Value {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error_response(
                Value::Null,
                &RpcError::new(-32700, format!("parse error: {e}")),
            );
        }
    };
    match request {
        Value::Array(batch) if batch.is_empty() => error_response(
            Value::Null,
            &RpcError::new(-32600, "invalid request: empty batch"),
        ),
        Value::Array(batch) => {
            Value::Array(batch.into_iter().map(|r| handle_request(node, r)).collect())
        }
        single => handle_request(node, single),
    }
}

fn error_response(id: Value, e: &RpcError) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()})
}

/// Answers one request object.
pub fn handle_request(node: &Node, request: Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_response(
            id,
            &RpcError::new(-32600, "invalid request: \"method\" must be a string"),
        );
    };
    let params = match request.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(p)) => p.clone(),
        Some(_) => return error_response(id, &RpcError::invalid_params("params must be an array")),
    };
    match dispatch(node, method, &Params(params)) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error_response(id, &e),
    }
}

/// Positional parameters with typed, named access.
struct Params(Vec<Value>);

impl Params {
    fn required<T: DeserializeOwned>(&self, i: usize, name: &str) -> Result<T, RpcError> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| RpcError::invalid_params(format!("missing parameter {i} ({name})")))?;
        serde_json::from_value(v.clone())
            .map_err(|e| RpcError::invalid_params(format!("parameter {i} ({name}): {e}")))
    }

    fn optional<T: DeserializeOwned>(&self, i: usize, name: &str) -> Result<Option<T>, RpcError> {
        match self.0.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.required(i, name).map(Some),
        }
    }
}

fn to_json<T: serde::Serialize>(v: T) -> RpcResult {
    serde_json::to_value(v).map_err(|e| RpcError::new(-32603, format!("encoding the answer: {e}")))
}

fn dispatch(node: &Node, method: &str, p: &Params) -> RpcResult {
    match method {
        "web3_clientVersion" => to_json(CLIENT_VERSION),
        "net_version" => to_json(node.chain_id().to_string()),
        "net_listening" => to_json(true),
        "eth_chainId" => to_json(U64::from(node.chain_id())),
        "eth_syncing" => to_json(false),
        "eth_accounts" => to_json(Vec::<Address>::new()),
        "eth_blockNumber" => to_json(U64::from(node.lock().head().header.number)),
        "eth_gasPrice" => to_json(U64::from(node.lock().genesis().base_fee_per_gas)),
        "eth_maxPriorityFeePerGas" => to_json(U64::ZERO),
        "eth_feeHistory" => fee_history(&node.lock(), p),
        "eth_getBalance" => {
            let address: Address = p.required(0, "address")?;
            let mut chain = node.lock();
            at_latest(&chain, p.optional(1, "block")?)?;
            to_json(chain.account(address)?.balance)
        }
        "eth_getTransactionCount" => {
            let address: Address = p.required(0, "address")?;
            let block: Option<BlockId> = p.optional(1, "block")?;
            let mut chain = node.lock();
            if block == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
                return to_json(U64::from(chain.pending_nonce(address)?));
            }
            at_latest(&chain, block)?;
            to_json(U64::from(chain.account(address)?.nonce))
        }
        "eth_getCode" => {
            let address: Address = p.required(0, "address")?;
            let mut chain = node.lock();
            at_latest(&chain, p.optional(1, "block")?)?;
            to_json(chain.code(address)?)
        }
        "eth_getStorageAt" => {
            let address: Address = p.required(0, "address")?;
            let slot: U256 = p.required(1, "slot")?;
            let mut chain = node.lock();
            at_latest(&chain, p.optional(2, "block")?)?;
            to_json(B256::from(chain.storage(address, slot)?))
        }
        "eth_call" => {
            let req = call_request(p.required(0, "transaction")?);
            let mut chain = node.lock();
            at_latest(&chain, p.optional(1, "block")?)?;
            match chain.call(&req)? {
                ExecutionResult::Success { output, .. } => to_json(output.into_data()),
                ExecutionResult::Revert { output, .. } => Err(ChainError::Reverted(output).into()),
                ExecutionResult::Halt { reason, .. } => {
                    Err(ChainError::Halted(format!("{reason:?}")).into())
                }
            }
        }
        "eth_estimateGas" => {
            let req = call_request(p.required(0, "transaction")?);
            let mut chain = node.lock();
            at_latest(&chain, p.optional(1, "block")?)?;
            to_json(U64::from(chain.estimate_gas(&req)?))
        }
        "eth_sendRawTransaction" => {
            let raw: Bytes = p.required(0, "raw transaction")?;
            let tx = decode_transaction(&raw).map_err(ChainError::from)?;
            let hash = node.lock().submit(tx)?;
            node.wake_miner();
            to_json(hash)
        }
        "eth_getBlockByNumber" => {
            let tag: BlockNumberOrTag = p.required(0, "block")?;
            let full = p.optional::<bool>(1, "full transactions")?.unwrap_or(false);
            let chain = node.lock();
            let number = resolve_tag(&chain, tag);
            block_json(&chain, number, full)
        }
        "eth_getBlockByHash" => {
            let hash: B256 = p.required(0, "block hash")?;
            let full = p.optional::<bool>(1, "full transactions")?.unwrap_or(false);
            let chain = node.lock();
            match chain.block_number(&hash)? {
                Some(n) => block_json(&chain, n, full),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockTransactionCountByNumber" => {
            let tag: BlockNumberOrTag = p.required(0, "block")?;
            let chain = node.lock();
            let number = resolve_tag(&chain, tag);
            match chain.block(number)? {
                Some(b) => to_json(U64::from(b.transactions.len())),
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionByHash" => {
            let hash: B256 = p.required(0, "transaction hash")?;
            let chain = node.lock();
            match chain.transaction(&hash)? {
                Some(t) => to_json(rpc_transaction(t, chain.genesis().base_fee_per_gas)),
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionByBlockNumberAndIndex" | "eth_getTransactionByBlockHashAndIndex" => {
            let index: U64 = p.required(1, "index")?;
            let chain = node.lock();
            let number = if method.ends_with("NumberAndIndex") {
                Some(resolve_tag(&chain, p.required(0, "block")?))
            } else {
                chain.block_number(&p.required::<B256>(0, "block hash")?)?
            };
            let block = match number {
                Some(n) => chain.block(n)?,
                None => None,
            };
            let hash = block.and_then(|b| b.transactions.get(index.to::<usize>()).copied());
            match hash.map(|h| chain.transaction(&h)).transpose()?.flatten() {
                Some(t) => to_json(rpc_transaction(t, chain.genesis().base_fee_per_gas)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockTransactionCountByHash" => {
            let hash: B256 = p.required(0, "block hash")?;
            let chain = node.lock();
            let block = match chain.block_number(&hash)? {
                Some(n) => chain.block(n)?,
                None => None,
            };
            match block {
                Some(b) => to_json(U64::from(b.transactions.len())),
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = p.required(0, "transaction hash")?;
            let receipt = node.lock().receipt(&hash)?;
            match receipt {
                Some(r) => to_json(rpc_receipt(r)),
                None => Ok(Value::Null),
            }
        }
        "eth_getLogs" => {
            let filter: Filter = p.required(0, "filter")?;
            let chain = node.lock();
            let query = log_query(&chain, &filter)?;
            let logs: Vec<RpcLog> = chain.logs(&query)?.into_iter().map(rpc_log).collect();
            to_json(logs)
        }
        "evm_mine" | "evm_increaseTime" | "evm_setNextBlockTimestamp" if !node.dev() => {
            Err(RpcError::new(
                -32601,
                format!(
                    "the method {method} is only available on a development chain (start with --dev)"
                ),
            ))
        }
        "evm_mine" => {
            node.mine(true)?;
            to_json("0x0")
        }
        "evm_increaseTime" => {
            let secs: U64 = p.required(0, "seconds")?;
            to_json(U64::from(node.lock().increase_time(secs.to())))
        }
        "evm_setNextBlockTimestamp" => {
            let ts: U64 = p.required(0, "timestamp")?;
            node.lock().set_next_timestamp(ts.to())?;
            to_json(Value::Null)
        }
        other => Err(RpcError::new(
            -32601,
            format!("the method {other} does not exist/is not available"),
        )),
    }
}

/// State is kept for the latest block only; older numbers are refused.
fn at_latest(chain: &Chain, block: Option<BlockId>) -> Result<(), RpcError> {
    let number = match block {
        None => return Ok(()),
        Some(BlockId::Number(tag)) => resolve_tag(chain, tag),
        Some(BlockId::Hash(h)) => chain
            .block_number(&h.block_hash)?
            .ok_or_else(|| RpcError::new(-32000, format!("block {} not found", h.block_hash)))?,
    };
    chain.state_at(number).map_err(Into::into)
}

fn resolve_tag(chain: &Chain, tag: BlockNumberOrTag) -> u64 {
    match tag {
        BlockNumberOrTag::Number(n) => n,
        BlockNumberOrTag::Earliest => 0,
        // One authority, no forks: every sealed block is final.
        _ => chain.head().header.number,
    }
}

fn call_request(req: TransactionRequest) -> CallRequest {
    CallRequest {
        from: req.from,
        to: req.to.and_then(|k| k.to().copied()),
        input: req.input.input().cloned().unwrap_or_default(),
        value: req.value.unwrap_or_default(),
        gas: req.gas,
    }
}

fn fee_history(chain: &Chain, p: &Params) -> RpcResult {
    let count: U64 = p.required(0, "block count")?;
    let newest: BlockNumberOrTag = p.required(1, "newest block")?;
    let percentiles: Vec<f64> = p.optional(2, "reward percentiles")?.unwrap_or_default();
    let newest = resolve_tag(chain, newest).min(chain.head().header.number);
    let count = count.to::<u64>().clamp(1, 1024).min(newest + 1);
    let oldest = newest + 1 - count;
    let base_fee = u128::from(chain.genesis().base_fee_per_gas);
    let limit = chain.genesis().gas_limit as f64;
    let mut ratios = Vec::with_capacity(count as usize);
    for n in oldest..=newest {
        let used = chain.block(n)?.map_or(0, |b| b.header.gas_used);
        ratios.push(used as f64 / limit);
    }
    to_json(FeeHistory {
        base_fee_per_gas: vec![base_fee; count as usize + 1],
        gas_used_ratio: ratios,
        base_fee_per_blob_gas: vec![],
        blob_gas_used_ratio: vec![],
        oldest_block: oldest,
        reward: Some(vec![vec![0; percentiles.len()]; count as usize]),
    })
}

/// The JSON of a block header as `newHeads` subscribers receive it.
pub(crate) fn header_json(block: &StoredBlock) -> Value {
    let size = alloy::rlp::Encodable::length(&block.header);
    serde_json::to_value(RpcHeader {
        hash: block.hash,
        inner: block.header.clone(),
        total_difficulty: Some(U256::ZERO),
        size: Some(U256::from(size)),
    })
    .unwrap_or(Value::Null)
}

/// The JSON of a log as `logs` subscribers receive it.
pub(crate) fn log_json(log: &LocatedLog) -> Value {
    serde_json::to_value(rpc_log(log.clone())).unwrap_or(Value::Null)
}

/// The address and topic filter of an `eth_subscribe("logs", filter)`.
pub(crate) fn subscription_filter(filter: &Filter) -> LogQuery {
    LogQuery {
        from: 0,
        to: u64::MAX,
        addresses: filter.address.iter().copied().collect(),
        topics: filter
            .topics
            .iter()
            .map(|t| t.iter().copied().collect())
            .collect(),
    }
}

fn block_json(chain: &Chain, number: u64, full: bool) -> RpcResult {
    let Some(block) = chain.block(number)? else {
        return Ok(Value::Null);
    };
    to_json(rpc_block(chain, block, full)?)
}

fn rpc_block(chain: &Chain, block: StoredBlock, full: bool) -> Result<RpcBlock, RpcError> {
    let transactions = if full {
        let base_fee = chain.genesis().base_fee_per_gas;
        let mut txs = Vec::with_capacity(block.transactions.len());
        for hash in &block.transactions {
            if let Some(t) = chain.transaction(hash)? {
                txs.push(rpc_transaction(t, base_fee));
            }
        }
        BlockTransactions::Full(txs)
    } else {
        BlockTransactions::Hashes(block.transactions.clone())
    };
    let size = alloy::rlp::Encodable::length(&block.header);
    Ok(RpcBlock {
        header: RpcHeader {
            hash: block.hash,
            inner: block.header,
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(size)),
        },
        uncles: vec![],
        transactions,
        withdrawals: None,
    })
}

fn rpc_transaction(t: crate::chain::TxLookup, base_fee: u64) -> RpcTransaction {
    use alloy::consensus::Transaction as _;
    let price = u128::from(base_fee) + t.tx.effective_tip_per_gas(base_fee).unwrap_or(0);
    let (block_number, block_hash, index, ts) = match t.location {
        Some((n, h, i, ts)) => (Some(n), Some(h), Some(i), Some(ts)),
        None => (None, None, None, None),
    };
    RpcTransaction {
        inner: Recovered::new_unchecked(t.tx, t.sender),
        block_hash,
        block_number,
        transaction_index: index,
        effective_gas_price: block_number.map(|_| price),
        block_timestamp: ts,
    }
}

fn rpc_log(l: LocatedLog) -> RpcLog {
    RpcLog {
        inner: l.log,
        block_hash: Some(l.block_hash),
        block_number: Some(l.block_number),
        block_timestamp: Some(l.block_timestamp),
        transaction_hash: Some(l.tx_hash),
        transaction_index: Some(l.tx_index),
        log_index: Some(l.log_index),
        removed: false,
    }
}

fn rpc_receipt(r: ReceiptLookup) -> TransactionReceipt {
    let s = &r.stored;
    let bloom = ReceiptWithBloom::from(Receipt {
        status: alloy::consensus::Eip658Value::Eip658(s.status),
        cumulative_gas_used: s.cumulative_gas_used,
        logs: s.logs.clone(),
    })
    .logs_bloom;
    let logs: Vec<RpcLog> = s
        .logs
        .iter()
        .enumerate()
        .map(|(i, log)| RpcLog {
            inner: log.clone(),
            block_hash: Some(r.block_hash),
            block_number: Some(r.block_number),
            block_timestamp: Some(r.block_timestamp),
            transaction_hash: Some(r.tx_hash),
            transaction_index: Some(r.index),
            log_index: Some(s.first_log_index + i as u64),
            removed: false,
        })
        .collect();
    let receipt = ReceiptWithBloom {
        receipt: Receipt {
            status: alloy::consensus::Eip658Value::Eip658(s.status),
            cumulative_gas_used: s.cumulative_gas_used,
            logs,
        },
        logs_bloom: bloom,
    };
    let inner = match s.tx_type {
        0 => ReceiptEnvelope::Legacy(receipt),
        1 => ReceiptEnvelope::Eip2930(receipt),
        _ => ReceiptEnvelope::Eip1559(receipt),
    };
    TransactionReceipt {
        inner,
        transaction_hash: r.tx_hash,
        transaction_index: Some(r.index),
        block_hash: Some(r.block_hash),
        block_number: Some(r.block_number),
        gas_used: s.gas_used,
        effective_gas_price: s.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: s.from,
        to: s.to,
        contract_address: s.contract_address,
    }
}

fn log_query(chain: &Chain, f: &Filter) -> Result<LogQuery, RpcError> {
    let (from, to) = match &f.block_option {
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => (
            from_block.map_or(chain.head().header.number, |t| resolve_tag(chain, t)),
            to_block.map_or(chain.head().header.number, |t| resolve_tag(chain, t)),
        ),
        FilterBlockOption::AtBlockHash(h) => match chain.block_number(h)? {
            Some(n) => (n, n),
            None => return Err(RpcError::new(-32000, format!("block {h} not found"))),
        },
    };
    Ok(LogQuery {
        from,
        to,
        addresses: f.address.iter().copied().collect(),
        topics: f
            .topics
            .iter()
            .map(|t| t.iter().copied().collect())
            .collect(),
    })
}
