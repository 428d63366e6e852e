//! Deploying and wiring the whole suite: on any EVM chain through an alloy
//! [`Provider`] with a signer, or into the in-process [`Sim`](crate::sim::Sim).
//!
//! Order: token, oracle, profile registry, blacklist, market, then
//! `Blacklist.setMarket(market)`. The deployer keeps only two roles: it holds
//! the initial token supply (if it is the holder) and it admins validator
//! appointments in the profile registry. It has no power over the market.

use alloy::{
    network::{Ethereum, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::{SolCall, SolConstructor},
};
use serde::{Deserialize, Serialize};

use crate::bindings::{Blacklist, FogToken, Market, OracleUSD, ProfileRegistry};

/// Where the suite lives on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addresses {
    /// FogToken (ERC-20).
    pub token: Address,
    /// OracleUSD.
    pub oracle: Address,
    /// ProfileRegistry.
    pub profiles: Address,
    /// Blacklist.
    pub blacklist: Address,
    /// Market.
    pub market: Address,
}

/// Parameters of a new suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuiteConfig {
    /// Receives the whole token supply.
    pub token_holder: Address,
    /// Token supply in wei (at most 2^96 - 1).
    pub token_supply: U256,
    /// Price feeders of the oracle.
    pub oracle_feeders: Vec<Address>,
    /// Feeder votes needed to change the price.
    pub oracle_threshold: u64,
    /// Token wei per USD at the start.
    pub oracle_price: U256,
    /// Lowest token wei per USD the oracle ever accepts.
    pub oracle_min_price: U256,
    /// Highest token wei per USD the oracle ever accepts.
    pub oracle_max_price: U256,
    /// Appoints identity validators.
    pub profiles_admin: Address,
}

/// One token (10^18 wei).
pub const TOKEN: u128 = 1_000_000_000_000_000_000;

impl SuiteConfig {
    /// A development suite where `deployer` holds 444 million tokens, feeds the
    /// oracle alone (1 token = 1 USD) and admins the profile registry.
    pub fn dev(deployer: Address) -> Self {
        Self {
            token_holder: deployer,
            token_supply: U256::from(444_000_000u128 * TOKEN),
            oracle_feeders: vec![deployer],
            oracle_threshold: 1,
            oracle_price: U256::from(TOKEN),
            oracle_min_price: U256::from(TOKEN / 1_000_000),
            oracle_max_price: U256::from(TOKEN * 1_000_000),
            profiles_admin: deployer,
        }
    }

    /// Constructor calls of the five contracts, in deployment order; the
    /// market's needs the addresses of the first four.
    pub fn initcodes(&self) -> [Bytes; 4] {
        [
            initcode(
                &FogToken::BYTECODE,
                FogToken::constructorCall {
                    holder: self.token_holder,
                    supply: self.token_supply,
                },
            ),
            initcode(
                &OracleUSD::BYTECODE,
                OracleUSD::constructorCall {
                    feeders_: self.oracle_feeders.clone(),
                    threshold_: U256::from(self.oracle_threshold),
                    initialPrice: self.oracle_price,
                    minPrice_: self.oracle_min_price,
                    maxPrice_: self.oracle_max_price,
                },
            ),
            initcode(
                &ProfileRegistry::BYTECODE,
                ProfileRegistry::constructorCall {
                    admin_: self.profiles_admin,
                },
            ),
            initcode(&Blacklist::BYTECODE, Blacklist::constructorCall {}),
        ]
    }
}

fn initcode<C: SolConstructor>(bytecode: &Bytes, args: C) -> Bytes {
    let mut code = bytecode.to_vec();
    code.extend(args.abi_encode());
    code.into()
}

/// The market's constructor call, given the other four contracts.
pub fn market_initcode(
    token: Address,
    oracle: Address,
    profiles: Address,
    blacklist: Address,
) -> Bytes {
    initcode(
        &Market::BYTECODE,
        Market::constructorCall {
            token_: token,
            oracle_: oracle,
            profiles_: profiles,
            blacklist_: blacklist,
        },
    )
}

/// Why deploying the suite failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The node refused or failed a request.
    #[error("deploying {step}: {source}")]
    Rpc {
        /// Which contract or call.
        step: &'static str,
        /// The transport or node error.
        #[source]
        source: alloy::transports::TransportError,
    },
    /// The transaction was mined but failed.
    #[error("deploying {step}: transaction {tx} failed on chain")]
    Failed {
        /// Which contract or call.
        step: &'static str,
        /// Its hash.
        tx: alloy::primitives::B256,
    },
    /// Waiting for a receipt failed.
    #[error("deploying {step}: {source}")]
    Receipt {
        /// Which contract or call.
        step: &'static str,
        /// The provider's error.
        #[source]
        source: alloy::providers::PendingTransactionError,
    },
    /// A contract creation receipt named no contract address.
    #[error("deploying {step}: the receipt has no contract address")]
    NoAddress {
        /// Which contract.
        step: &'static str,
    },
    /// The in-process EVM refused a step.
    #[cfg(feature = "sim")]
    #[error("deploying into the simulator: {0}")]
    Sim(#[from] crate::sim::SimError),
}

const STEPS: [&str; 4] = ["FogToken", "OracleUSD", "ProfileRegistry", "Blacklist"];

/// Deploys and wires the suite through `provider`, whose wallet signs.
pub async fn deploy_suite<P: Provider<Ethereum>>(
    provider: &P,
    config: &SuiteConfig,
) -> Result<Addresses, DeployError> {
    let mut addrs = [Address::ZERO; 4];
    for ((code, step), slot) in config.initcodes().into_iter().zip(STEPS).zip(&mut addrs) {
        *slot = create(provider, code, step).await?;
    }
    let [token, oracle, profiles, blacklist] = addrs;
    let code = market_initcode(token, oracle, profiles, blacklist);
    let market = create(provider, code, "Market").await?;
    let wire = TransactionRequest::default()
        .with_to(blacklist)
        .with_input(Blacklist::setMarketCall { market_: market }.abi_encode());
    send(provider, wire, "Blacklist.setMarket").await?;
    Ok(Addresses {
        token,
        oracle,
        profiles,
        blacklist,
        market,
    })
}

/// Deploys one contract and returns its address.
async fn create<P: Provider<Ethereum>>(
    provider: &P,
    initcode: Bytes,
    step: &'static str,
) -> Result<Address, DeployError> {
    let tx = TransactionRequest::default().with_deploy_code(initcode);
    let receipt = send(provider, tx, step).await?;
    receipt
        .contract_address
        .ok_or(DeployError::NoAddress { step })
}

/// Sends one transaction and waits for its successful receipt.
async fn send<P: Provider<Ethereum>>(
    provider: &P,
    tx: TransactionRequest,
    step: &'static str,
) -> Result<TransactionReceipt, DeployError> {
    let pending = provider
        .send_transaction(tx)
        .await
        .map_err(|source| DeployError::Rpc { step, source })?;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|source| DeployError::Receipt { step, source })?;
    if !receipt.status() {
        return Err(DeployError::Failed {
            step,
            tx: receipt.transaction_hash,
        });
    }
    Ok(receipt)
}

/// Deploys and wires the suite into the in-process EVM, `deployer` signing.
#[cfg(feature = "sim")]
pub fn deploy_suite_sim(
    sim: &mut crate::sim::Sim,
    deployer: Address,
    config: &SuiteConfig,
) -> Result<Addresses, DeployError> {
    let mut addrs = [Address::ZERO; 4];
    for (code, slot) in config.initcodes().into_iter().zip(&mut addrs) {
        *slot = sim.deploy(deployer, code)?;
    }
    let [token, oracle, profiles, blacklist] = addrs;
    let market = sim.deploy(
        deployer,
        market_initcode(token, oracle, profiles, blacklist),
    )?;
    sim.send(
        deployer,
        blacklist,
        &Blacklist::setMarketCall { market_: market },
    )?;
    Ok(Addresses {
        token,
        oracle,
        profiles,
        blacklist,
        market,
    })
}
