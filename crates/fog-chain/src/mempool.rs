//! Pending transactions: per sender in nonce order, future nonces held until
//! the gap fills, a pending transaction replaced only by a higher fee.

use std::collections::{BTreeMap, BinaryHeap, HashMap, btree_map::Entry};

use alloy::{
    consensus::{Transaction as _, TxEnvelope},
    primitives::{Address, B256, Bytes},
};

use crate::error::TxError;

/// Percent a replacement must raise the fee by (as geth).
pub const REPLACEMENT_BUMP_PERCENT: u128 = 10;
/// How far past an account's run of executable transactions a gap may open.
pub const MAX_NONCE_GAP: u64 = 64;
/// Most pending transactions per sender.
pub const MAX_PER_SENDER: usize = 4096;

/// A validated transaction waiting for a block.
#[derive(Debug, Clone)]
pub struct PoolTx {
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender.
    pub sender: Address,
    /// The decoded transaction.
    pub tx: TxEnvelope,
    /// Its EIP-2718 encoding, as stored when mined.
    pub raw: Bytes,
    /// Arrival order, for fairness between senders.
    seq: u64,
}

impl PoolTx {
    /// A transaction ready to be pooled.
    pub fn new(hash: B256, sender: Address, tx: TxEnvelope, raw: Bytes) -> Self {
        Self {
            hash,
            sender,
            tx,
            raw,
            seq: 0,
        }
    }

    /// The sender's nonce this transaction uses.
    pub fn nonce(&self) -> u64 {
        self.tx.nonce()
    }
}

/// The pool.
#[derive(Debug, Default)]
pub struct Mempool {
    by_sender: HashMap<Address, BTreeMap<u64, PoolTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    next_seq: u64,
}

impl Mempool {
    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether a transaction with this hash is pending.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// A pending transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<&PoolTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce)
    }

    /// The next nonce of `sender` counting its pending transactions in a row
    /// from `state_nonce` (what `eth_getTransactionCount(.., "pending")` answers).
    pub fn pending_nonce(&self, sender: Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(txs) = self.by_sender.get(&sender) {
            while txs.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// Adds `tx`, given the sender's next nonce in state.
    pub fn insert(&mut self, mut tx: PoolTx, state_nonce: u64) -> Result<(), TxError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(TxError::AlreadyKnown);
        }
        let nonce = tx.nonce();
        if nonce < state_nonce {
            return Err(TxError::NonceTooLow {
                next: state_nonce,
                nonce,
            });
        }
        // Like geth's queue: a gap may open at most MAX_NONCE_GAP past the
        // sender's run of executable transactions.
        let pending = self.pending_nonce(tx.sender, state_nonce);
        if nonce > pending + MAX_NONCE_GAP {
            return Err(TxError::NonceTooHigh {
                next: pending,
                nonce,
                max_gap: MAX_NONCE_GAP,
            });
        }
        tx.seq = self.next_seq;
        self.next_seq += 1;
        let queue = self.by_sender.entry(tx.sender).or_default();
        let full = queue.len() >= MAX_PER_SENDER;
        match queue.entry(nonce) {
            Entry::Occupied(mut old) => {
                let (old_fee, new_fee) = (old.get().tx.max_fee_per_gas(), tx.tx.max_fee_per_gas());
                let (old_tip, new_tip) = (
                    old.get().tx.priority_fee_or_price(),
                    tx.tx.priority_fee_or_price(),
                );
                let bumped = |old: u128, new: u128| {
                    new >= old + old * REPLACEMENT_BUMP_PERCENT / 100 && new > old
                };
                if !(bumped(old_fee, new_fee) && (old_tip == 0 || bumped(old_tip, new_tip))) {
                    return Err(TxError::ReplacementUnderpriced {
                        bump_percent: REPLACEMENT_BUMP_PERCENT,
                    });
                }
                self.by_hash.remove(&old.get().hash);
                self.by_hash.insert(tx.hash, (tx.sender, nonce));
                old.insert(tx);
            }
            Entry::Vacant(slot) => {
                if full {
                    return Err(TxError::PoolFull(tx.sender));
                }
                self.by_hash.insert(tx.hash, (tx.sender, nonce));
                slot.insert(tx);
            }
        }
        Ok(())
    }

    /// Transactions that can run now, in arrival order across senders and
    /// nonce order within each: each sender's run of consecutive nonces from
    /// its state nonce. Stops once `gas_budget` (sum of gas limits) is used.
    pub fn ready(&self, state_nonce: impl Fn(Address) -> u64, gas_budget: u64) -> Vec<PoolTx> {
        // Each sender's ready run, merged by the arrival of its head.
        let mut runs: Vec<Vec<&PoolTx>> = Vec::new();
        for (sender, txs) in &self.by_sender {
            let mut next = state_nonce(*sender);
            let mut run = Vec::new();
            while let Some(tx) = txs.get(&next) {
                run.push(tx);
                next += 1;
            }
            if !run.is_empty() {
                run.reverse();
                runs.push(run);
            }
        }
        let mut heads: BinaryHeap<(std::cmp::Reverse<u64>, usize)> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.last().map(|t| (std::cmp::Reverse(t.seq), i)))
            .collect();
        let mut out = Vec::new();
        let mut gas = 0u64;
        while let Some((_, i)) = heads.pop() {
            let Some(tx) = runs[i].pop() else { continue };
            let limit = tx.tx.gas_limit();
            if gas.saturating_add(limit) > gas_budget {
                // This sender's later nonces cannot go before this one.
                continue;
            }
            gas += limit;
            out.push(tx.clone());
            if let Some(next) = runs[i].last() {
                heads.push((std::cmp::Reverse(next.seq), i));
            }
        }
        out
    }

    /// Forgets `sender`'s transactions below `state_nonce` (mined or replaced on chain).
    pub fn prune(&mut self, sender: Address, state_nonce: u64) {
        let Some(txs) = self.by_sender.get_mut(&sender) else {
            return;
        };
        let keep = txs.split_off(&state_nonce);
        for tx in txs.values() {
            self.by_hash.remove(&tx.hash);
        }
        if keep.is_empty() {
            self.by_sender.remove(&sender);
        } else {
            *txs = keep;
        }
    }

    /// Drops one transaction (it became invalid).
    pub fn remove(&mut self, hash: &B256) {
        if let Some((sender, nonce)) = self.by_hash.remove(hash)
            && let Some(txs) = self.by_sender.get_mut(&sender)
        {
            txs.remove(&nonce);
            if txs.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy::{
        consensus::{SignableTransaction, TxEip1559},
        eips::Encodable2718,
        network::TxSignerSync,
        primitives::{TxKind, U256},
        signers::local::PrivateKeySigner,
    };

    use super::*;

    fn tx(key: &PrivateKeySigner, nonce: u64, fee: u128) -> PoolTx {
        let mut t = TxEip1559 {
            chain_id: 1,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: fee,
            to: TxKind::Call(Address::ZERO),
            value: U256::ZERO,
            ..Default::default()
        };
        let sig = key.sign_transaction_sync(&mut t).unwrap();
        let env: TxEnvelope = t.into_signed(sig).into();
        PoolTx::new(
            *env.tx_hash(),
            key.address(),
            env.clone(),
            env.encoded_2718().into(),
        )
    }

    #[test]
    fn future_nonce_waits_until_the_gap_fills() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        pool.insert(tx(&key, 1, 10), 0).unwrap();
        assert!(pool.ready(|_| 0, u64::MAX).is_empty());
        pool.insert(tx(&key, 0, 10), 0).unwrap();
        let ready: Vec<u64> = pool
            .ready(|_| 0, u64::MAX)
            .iter()
            .map(PoolTx::nonce)
            .collect();
        assert_eq!(ready, [0, 1]);
    }

    #[test]
    fn used_nonce_is_refused() {
        let key = PrivateKeySigner::random();
        let err = Mempool::default().insert(tx(&key, 2, 10), 3).unwrap_err();
        assert_eq!(err, TxError::NonceTooLow { next: 3, nonce: 2 });
    }

    #[test]
    fn nonce_far_ahead_is_refused() {
        let key = PrivateKeySigner::random();
        let err = Mempool::default()
            .insert(tx(&key, MAX_NONCE_GAP + 1, 10), 0)
            .unwrap_err();
        assert!(matches!(err, TxError::NonceTooHigh { .. }));
    }

    #[test]
    fn a_long_run_of_consecutive_nonces_is_accepted() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        for n in 0..3 * MAX_NONCE_GAP {
            pool.insert(tx(&key, n, 1), 0).unwrap();
        }
        assert_eq!(pool.ready(|_| 0, u64::MAX).len() as u64, 3 * MAX_NONCE_GAP);
    }

    #[test]
    fn replacement_needs_a_ten_percent_higher_fee() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        pool.insert(tx(&key, 0, 100), 0).unwrap();
        assert!(matches!(
            pool.insert(tx(&key, 0, 105), 0),
            Err(TxError::ReplacementUnderpriced { .. })
        ));
        let better = tx(&key, 0, 110);
        pool.insert(better.clone(), 0).unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.ready(|_| 0, u64::MAX)[0].hash, better.hash);
    }

    #[test]
    fn same_transaction_twice_is_already_known() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        let t = tx(&key, 0, 1);
        pool.insert(t.clone(), 0).unwrap();
        assert_eq!(pool.insert(t, 0), Err(TxError::AlreadyKnown));
    }

    #[test]
    fn senders_are_served_in_arrival_order() {
        let (a, b) = (PrivateKeySigner::random(), PrivateKeySigner::random());
        let mut pool = Mempool::default();
        pool.insert(tx(&b, 0, 1), 0).unwrap();
        pool.insert(tx(&a, 0, 1), 0).unwrap();
        pool.insert(tx(&b, 1, 1), 0).unwrap();
        let order: Vec<Address> = pool
            .ready(|_| 0, u64::MAX)
            .iter()
            .map(|t| t.sender)
            .collect();
        assert_eq!(order, [b.address(), a.address(), b.address()]);
    }

    #[test]
    fn ready_stops_at_the_gas_budget() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        for n in 0..5 {
            pool.insert(tx(&key, n, 1), 0).unwrap();
        }
        assert_eq!(pool.ready(|_| 0, 3 * 21_000).len(), 3);
    }

    #[test]
    fn pruning_forgets_mined_nonces() {
        let key = PrivateKeySigner::random();
        let mut pool = Mempool::default();
        for n in 0..3 {
            pool.insert(tx(&key, n, 1), 0).unwrap();
        }
        pool.prune(key.address(), 2);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.pending_nonce(key.address(), 2), 3);
    }
}
