//! The genesis file: chain id, block gas limit, the fixed gas price,
//! authorities and prefunded accounts.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bytes, U256, address};
use serde::{Deserialize, Serialize};

use crate::error::ChainError;

/// What the chain starts from. Stored in the data directory on first start;
/// a restart with a different genesis is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Genesis block timestamp (seconds).
    #[serde(default)]
    pub timestamp: u64,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// The fixed base fee per gas, in wei (0 on fogmarket's sidechain: gas is free).
    #[serde(default)]
    pub base_fee_per_gas: u64,
    /// Accounts allowed to seal blocks.
    pub authorities: Vec<Address>,
    /// Prefunded accounts (and optionally contracts).
    #[serde(default)]
    pub alloc: BTreeMap<Address, GenesisAccount>,
}

/// One prefunded account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Starting nonce.
    #[serde(default)]
    pub nonce: u64,
    /// Contract code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Bytes>,
    /// Contract storage, if any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage: BTreeMap<B256, B256>,
}

/// The private keys of the ten development accounts every Ethereum dev tool
/// (anvil, hardhat) derives from the mnemonic "test test ... junk". Public
/// knowledge: for local chains and tests only.
pub const DEV_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// The addresses of [`DEV_KEYS`].
pub const DEV_ACCOUNTS: [Address; 10] = [
    address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
    address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
    address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
    address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
    address!("15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
    address!("9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
    address!("976EA74026E726554dB657fA54763abd0C3a0aa9"),
    address!("14dC79964da2C08b23698B3D3cc7Ca32193d9955"),
    address!("23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"),
    address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720"),
];

impl Genesis {
    /// A development chain: id 31337, 30M gas blocks, free gas, the first dev
    /// account as the only authority and all ten dev accounts holding 10,000 ETH.
    pub fn dev() -> Self {
        let ether = U256::from(10u128.pow(18));
        Self {
            chain_id: 31337,
            timestamp: 0,
            gas_limit: 30_000_000,
            base_fee_per_gas: 0,
            authorities: vec![DEV_ACCOUNTS[0]],
            alloc: DEV_ACCOUNTS
                .iter()
                .map(|a| {
                    (
                        *a,
                        GenesisAccount {
                            balance: U256::from(10_000) * ether,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
        }
    }

    /// Reads a genesis file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Io {
            what: format!("reading genesis file {}", path.display()),
            source,
        })?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|e| ChainError::Genesis(format!("{}: {e}", path.display())))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks what a chain cannot run without.
    pub fn validate(&self) -> Result<(), ChainError> {
        if self.chain_id == 0 {
            return Err(ChainError::Genesis("chainId must not be 0".into()));
        }
        if self.gas_limit < 21_000 {
            return Err(ChainError::Genesis(format!(
                "gasLimit {} is below 21000, the cost of the smallest transaction",
                self.gas_limit
            )));
        }
        if self.authorities.is_empty() {
            return Err(ChainError::Genesis(
                "authorities is empty: name at least one sealer".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::local::PrivateKeySigner;

    use super::*;

    #[test]
    fn dev_keys_belong_to_dev_accounts() {
        for (key, account) in DEV_KEYS.iter().zip(DEV_ACCOUNTS) {
            let signer: PrivateKeySigner = key.parse().unwrap();
            assert_eq!(signer.address(), account);
        }
    }

    #[test]
    fn genesis_file_roundtrips_through_json() {
        let g = Genesis::dev();
        let back: Genesis = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn unknown_genesis_field_is_refused() {
        let r = serde_json::from_str::<Genesis>(
            r#"{"chainId":1,"gasLimit":30000000,"authorities":[],"extra":1}"#,
        );
        assert!(r.unwrap_err().to_string().contains("unknown field `extra`"));
    }

    #[test]
    fn genesis_without_authorities_is_refused() {
        let g = Genesis {
            authorities: vec![],
            ..Genesis::dev()
        };
        assert!(
            g.validate()
                .unwrap_err()
                .to_string()
                .contains("authorities")
        );
    }
}
