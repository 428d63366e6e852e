//! Proof of authority: each block is signed by an authority key, and anyone
//! can check who sealed it from the block alone. Layout as in Clique (EIP-225):
//! `extra_data` = 32 bytes of vanity followed by a 65-byte signature over the
//! hash of the header whose `extra_data` holds only the vanity.

use alloy::{
    consensus::Header,
    primitives::{Address, B256, Bytes, Signature},
    signers::{SignerSync, local::PrivateKeySigner},
};

/// Bytes of free-form vanity before the seal.
pub const VANITY_LEN: usize = 32;
/// Bytes of the seal (r, s, v).
pub const SEAL_LEN: usize = 65;

/// Why a block's seal does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// extra_data is not vanity + seal.
    #[error("extra_data is {0} bytes; a sealed header has 32 + 65")]
    Missing(usize),
    /// The signature does not recover.
    #[error("seal signature is invalid: {0}")]
    Invalid(String),
    /// Signing failed.
    #[error("signing the header failed: {0}")]
    Sign(String),
}

/// The hash an authority signs: the header with only the vanity in extra_data.
pub fn seal_hash(header: &Header) -> B256 {
    let mut unsealed = header.clone();
    let vanity_len = header.extra_data.len().min(VANITY_LEN);
    unsealed.extra_data = Bytes::copy_from_slice(&header.extra_data[..vanity_len]);
    unsealed.hash_slow()
}

/// Signs `header` with `key`, replacing its extra_data with vanity + seal.
pub fn seal(header: &mut Header, key: &PrivateKeySigner) -> Result<(), SealError> {
    let mut extra = vec![0u8; VANITY_LEN];
    let vanity = b"fogmarket";
    extra[..vanity.len()].copy_from_slice(vanity);
    header.extra_data = Bytes::from(extra.clone());
    let sig = key
        .sign_hash_sync(&seal_hash(header))
        .map_err(|e| SealError::Sign(e.to_string()))?;
    extra.extend_from_slice(&sig.as_bytes());
    header.extra_data = Bytes::from(extra);
    Ok(())
}

/// The authority that sealed `header`.
pub fn sealer(header: &Header) -> Result<Address, SealError> {
    let extra = &header.extra_data;
    if extra.len() != VANITY_LEN + SEAL_LEN {
        return Err(SealError::Missing(extra.len()));
    }
    let sig =
        Signature::from_raw(&extra[VANITY_LEN..]).map_err(|e| SealError::Invalid(e.to_string()))?;
    sig.recover_address_from_prehash(&seal_hash(header))
        .map_err(|e| SealError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_header_names_its_sealer() {
        let key = PrivateKeySigner::random();
        let mut h = Header {
            number: 7,
            ..Default::default()
        };
        seal(&mut h, &key).unwrap();
        assert_eq!(sealer(&h).unwrap(), key.address());
    }

    #[test]
    fn changing_a_sealed_header_changes_its_sealer() {
        let key = PrivateKeySigner::random();
        let mut h = Header {
            number: 7,
            ..Default::default()
        };
        seal(&mut h, &key).unwrap();
        h.gas_used = 1;
        assert_ne!(sealer(&h).ok(), Some(key.address()));
    }

    #[test]
    fn an_unsealed_header_has_no_sealer() {
        assert_eq!(sealer(&Header::default()), Err(SealError::Missing(0)));
    }
}
