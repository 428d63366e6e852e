//! Network features an ask offers and a bid needs.

use std::fmt;
use std::ops::BitOr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A set of network features: bit 0 overlay, bit 1 outbound, bit 2 incoming.
///
/// Only the three low bits may be set (checked by [`NetFlags::from_bits`] and
/// on deserialization). Serializes as its bits (a number).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct NetFlags(u8);

/// Invalid network flags, as bits or as names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetFlagsError {
    /// Bits above the three known flags are set.
    #[error("invalid netflags {0}: only bits 0-2 (overlay=1, outbound=2, incoming=4) may be set")]
    UnknownBits(u8),
    /// A name that is not a flag.
    #[error("unknown netflag {0:?}: expected overlay, outbound, incoming or none, joined by '|'")]
    UnknownName(String),
}

const NAMES: [(NetFlags, &str); 3] = [
    (NetFlags::OVERLAY, "overlay"),
    (NetFlags::OUTBOUND, "outbound"),
    (NetFlags::INCOMING, "incoming"),
];

impl NetFlags {
    /// No flag.
    pub const NONE: NetFlags = NetFlags(0);
    /// Reachable over the overlay network.
    pub const OVERLAY: NetFlags = NetFlags(1);
    /// Outbound internet access.
    pub const OUTBOUND: NetFlags = NetFlags(2);
    /// Incoming connections (a public address).
    pub const INCOMING: NetFlags = NetFlags(4);
    /// Every flag.
    pub const ALL: NetFlags = NetFlags(7);

    /// Flags from their bits, refusing bits above 7.
    pub fn from_bits(bits: u8) -> Result<NetFlags, NetFlagsError> {
        if bits & !Self::ALL.0 != 0 {
            return Err(NetFlagsError::UnknownBits(bits));
        }
        Ok(NetFlags(bits))
    }

    /// The bits (what the chain stores).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is in `self`.
    pub fn contains(self, other: NetFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for NetFlags {
    type Output = NetFlags;

    fn bitor(self, rhs: NetFlags) -> NetFlags {
        NetFlags(self.0 | rhs.0)
    }
}

impl TryFrom<u8> for NetFlags {
    type Error = NetFlagsError;

    fn try_from(bits: u8) -> Result<Self, Self::Error> {
        Self::from_bits(bits)
    }
}

impl From<NetFlags> for u8 {
    fn from(flags: NetFlags) -> u8 {
        flags.0
    }
}

impl fmt::Display for NetFlags {
    /// Names joined by `|` (`overlay|outbound`), or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl FromStr for NetFlags {
    type Err = NetFlagsError;

    /// Parses what [`Display`](fmt::Display) writes: names joined by `|`, or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "none" {
            return Ok(Self::NONE);
        }
        s.split('|').try_fold(Self::NONE, |acc, part| {
            let part = part.trim();
            NAMES
                .iter()
                .find(|(_, name)| *name == part)
                .map(|(flag, _)| acc | *flag)
                .ok_or_else(|| NetFlagsError::UnknownName(part.to_owned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_bits_accepts_known_bits() {
        for bits in 0..=7 {
            assert_eq!(NetFlags::from_bits(bits).map(NetFlags::bits), Ok(bits));
        }
    }

    #[test]
    fn from_bits_refuses_bits_above_seven() {
        assert_eq!(NetFlags::from_bits(8), Err(NetFlagsError::UnknownBits(8)));
        assert_eq!(
            NetFlags::from_bits(0xff),
            Err(NetFlagsError::UnknownBits(0xff))
        );
    }

    #[test]
    fn contains_requires_every_flag_of_other() {
        let offered = NetFlags::OVERLAY | NetFlags::OUTBOUND;
        assert!(offered.contains(NetFlags::OUTBOUND));
        assert!(offered.contains(NetFlags::NONE));
        assert!(offered.contains(offered));
        assert!(!offered.contains(NetFlags::INCOMING | NetFlags::OVERLAY));
        assert!(NetFlags::ALL.contains(offered));
    }

    #[test]
    fn display_joins_names_or_says_none() {
        assert_eq!(NetFlags::NONE.to_string(), "none");
        assert_eq!(
            (NetFlags::OVERLAY | NetFlags::OUTBOUND).to_string(),
            "overlay|outbound"
        );
        assert_eq!(NetFlags::ALL.to_string(), "overlay|outbound|incoming");
    }

    #[test]
    fn parse_reads_what_display_writes() {
        for bits in 0..=7 {
            let flags = NetFlags(bits);
            assert_eq!(flags.to_string().parse(), Ok(flags));
        }
        assert_eq!(
            "wifi".parse::<NetFlags>(),
            Err(NetFlagsError::UnknownName("wifi".into()))
        );
    }

    #[test]
    fn deserialize_refuses_unknown_bits() {
        assert_eq!(
            serde_json::from_str::<NetFlags>("6").unwrap(),
            NetFlags::OUTBOUND | NetFlags::INCOMING
        );
        assert!(serde_json::from_str::<NetFlags>("8").is_err());
    }
}
