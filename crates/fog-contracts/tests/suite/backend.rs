//! Where the suite runs. By default in the in-process EVM (fast,
//! deterministic). With `FOG_SUITE_CHAIN=/path/to/fog`, every test starts its
//! own `fog chain --dev` process and drives it over HTTP JSON-RPC with an alloy
//! Provider: signed transactions, receipts, `eth_call`, and the chain's
//! `evm_setNextBlockTimestamp` standing in for the simulator's clock. The same
//! tests, the same assertions, a real chain.

use std::{
    collections::HashMap,
    future::IntoFuture,
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::LazyLock,
    time::Duration,
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    network::{TransactionBuilder, TxSignerSync},
    primitives::{Address, B256, Bytes, TxKind},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use fog_contracts::{
    Revert,
    sim::{Outcome, Sim, SimError},
};

/// The address of the test key whose 32 bytes are all `b`. Every account the
/// suite sends from is one of these, so a real chain can check signatures.
pub fn account(b: u8) -> Address {
    KEYS[b as usize].address()
}

static KEYS: LazyLock<Vec<PrivateKeySigner>> = LazyLock::new(|| {
    (0..=255u8)
        .map(|b| {
            // 0x00.. and 0xff.. are not valid secp256k1 keys: those two slots
            // get a hash instead (no test uses them).
            let bytes = match b {
                0 | 255 => alloy::primitives::keccak256([b]),
                _ => B256::repeat_byte(b),
            };
            PrivateKeySigner::from_bytes(&bytes).expect("a valid secp256k1 key")
        })
        .collect()
});

static KEY_OF: LazyLock<HashMap<Address, PrivateKeySigner>> =
    LazyLock::new(|| KEYS.iter().map(|k| (k.address(), k.clone())).collect());

/// The chain a test runs on.
pub enum Backend {
    Sim(Box<Sim>),
    Chain(Box<RpcChain>),
}

impl Backend {
    /// The simulator, or a fresh `fog chain` when `FOG_SUITE_CHAIN` names the binary.
    pub fn from_env() -> Self {
        match std::env::var("FOG_SUITE_CHAIN") {
            Ok(bin) if !bin.is_empty() => Self::Chain(Box::new(RpcChain::spawn(&bin))),
            _ => Self::Sim(Box::new(Sim::new())),
        }
    }

    /// Whether the suite runs on a real chain (property tests run fewer cases there).
    pub fn is_chain(&self) -> bool {
        matches!(self, Self::Chain(_))
    }

    pub fn send<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        match self {
            Self::Sim(s) => s.send(from, to, call),
            Self::Chain(c) => c.send(from, to, call),
        }
    }

    pub fn view<C: SolCall>(&mut self, to: Address, call: &C) -> Result<C::Return, SimError> {
        match self {
            Self::Sim(s) => s.view(to, call),
            Self::Chain(c) => c.view(to, call),
        }
    }

    pub fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, SimError> {
        match self {
            Self::Sim(s) => s.deploy(from, initcode),
            Self::Chain(c) => c.deploy(from, initcode),
        }
    }

    pub fn warp(&mut self, secs: u64) {
        match self {
            Self::Sim(s) => s.warp(secs),
            Self::Chain(c) => c.now += secs,
        }
    }

    pub fn timestamp(&self) -> u64 {
        match self {
            Self::Sim(s) => s.timestamp(),
            Self::Chain(c) => c.now,
        }
    }
}

/// A `fog chain --dev` process of one test, driven over JSON-RPC.
pub struct RpcChain {
    rt: tokio::runtime::Runtime,
    provider: DynProvider,
    child: Child,
    _datadir: tempfile::TempDir,
    /// The timestamp the next transaction's block gets.
    now: u64,
    nonces: HashMap<Address, u64>,
}

impl Drop for RpcChain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const GAS_LIMIT: u64 = 15_000_000;

impl RpcChain {
    fn spawn(bin: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let datadir = tempfile::tempdir().expect("a data directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("its address")
            .port();
        let child = Command::new(bin)
            .args(["chain", "--dev", "--datadir"])
            .arg(datadir.path())
            .args(["--http", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin} chain: {e}"));
        let url = format!("http://127.0.0.1:{port}").parse().expect("a URL");
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let mut now = 0;
        for _ in 0..400 {
            if let Ok(Some(block)) = rt.block_on(
                provider
                    .get_block_by_number(Default::default())
                    .into_future(),
            ) {
                now = block.header.timestamp + 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(now > 0, "fog chain did not answer within 10 s");
        Self {
            rt,
            provider,
            child,
            _datadir: datadir,
            now,
            nonces: HashMap::new(),
        }
    }

    fn set_clock(&self) {
        let _: serde_json::Value = self
            .rt
            .block_on(
                self.provider
                    .raw_request("evm_setNextBlockTimestamp".into(), (self.now,)),
            )
            .expect("evm_setNextBlockTimestamp");
    }

    /// `eth_call` in the next block's context: the return value, or the revert.
    fn simulate(
        &self,
        from: Address,
        to: TxKind,
        data: Bytes,
        name: &'static str,
    ) -> Result<Bytes, SimError> {
        self.set_clock();
        let mut tx = TransactionRequest::default()
            .from(from)
            .input(data.into())
            .gas_limit(GAS_LIMIT);
        tx.set_kind(to);
        match self.rt.block_on(self.provider.call(tx).into_future()) {
            Ok(out) => Ok(out),
            Err(e) => {
                let revert = e
                    .as_error_resp()
                    .and_then(|r| r.as_revert_data())
                    .map(|d| Revert::decode(d.as_ref()));
                match revert {
                    Some(revert) => Err(SimError::Reverted {
                        call: name,
                        revert,
                        gas_used: 0,
                    }),
                    None => Err(SimError::Halted {
                        call: name,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }

    /// Signs and sends, then waits for the receipt.
    fn transact(
        &mut self,
        from: Address,
        to: TxKind,
        input: Bytes,
    ) -> Result<alloy::rpc::types::TransactionReceipt, String> {
        let key = KEY_OF
            .get(&from)
            .unwrap_or_else(|| panic!("no test key for {from}: use harness::account(b)"));
        let nonce = match self.nonces.get(&from) {
            Some(n) => *n,
            None => self
                .rt
                .block_on(self.provider.get_transaction_count(from).into_future())
                .map_err(|e| e.to_string())?,
        };
        let mut tx = TxEip1559 {
            chain_id: 31337,
            nonce,
            gas_limit: GAS_LIMIT,
            to,
            input,
            ..Default::default()
        };
        let sig = key
            .sign_transaction_sync(&mut tx)
            .map_err(|e| e.to_string())?;
        let env: TxEnvelope = tx.into_signed(sig).into();
        self.set_clock();
        let hash = self
            .rt
            .block_on(self.provider.send_raw_transaction(&env.encoded_2718()))
            .map_err(|e| e.to_string())?
            .tx_hash()
            .to_owned();
        self.nonces.insert(from, nonce + 1);
        for _ in 0..5000 {
            if let Some(r) = self
                .rt
                .block_on(self.provider.get_transaction_receipt(hash))
                .map_err(|e| e.to_string())?
            {
                return Ok(r);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(format!("no receipt for {hash} within 5 s"))
    }

    fn send<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: &C,
    ) -> Result<Outcome<C::Return>, SimError> {
        let data: Bytes = call.abi_encode().into();
        let out = self.simulate(from, TxKind::Call(to), data.clone(), C::SIGNATURE)?;
        let ret = C::abi_decode_returns(&out).map_err(|e| SimError::BadReturn {
            call: C::SIGNATURE,
            reason: e.to_string(),
        })?;
        let receipt = self
            .transact(from, TxKind::Call(to), data)
            .map_err(|reason| SimError::Rejected {
                call: C::SIGNATURE,
                reason,
            })?;
        if !receipt.status() {
            return Err(SimError::Halted {
                call: C::SIGNATURE,
                reason: "mined but failed".into(),
            });
        }
        let logs = receipt
            .inner
            .logs()
            .iter()
            .map(|l| l.inner.clone())
            .collect();
        Ok(Outcome {
            ret,
            gas_used: receipt.gas_used,
            logs,
        })
    }

    fn view<C: SolCall>(&mut self, to: Address, call: &C) -> Result<C::Return, SimError> {
        let out = self.simulate(
            Address::ZERO,
            TxKind::Call(to),
            call.abi_encode().into(),
            C::SIGNATURE,
        )?;
        C::abi_decode_returns(&out).map_err(|e| SimError::BadReturn {
            call: C::SIGNATURE,
            reason: e.to_string(),
        })
    }

    fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, SimError> {
        self.simulate(from, TxKind::Create, initcode.clone(), "constructor")?;
        let receipt = self
            .transact(from, TxKind::Create, initcode)
            .map_err(|reason| SimError::Rejected {
                call: "constructor",
                reason,
            })?;
        receipt.contract_address.ok_or(SimError::Halted {
            call: "constructor",
            reason: "no contract created".into(),
        })
    }
}
