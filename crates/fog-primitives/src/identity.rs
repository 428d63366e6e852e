//! Identity levels and profile attribute rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How well an account is identified; the discriminants are the on-chain values.
///
/// Ordered: a higher level satisfies any lower requirement.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum IdentityLevel {
    /// Not set (an order requiring it requires nothing).
    Unknown = 0,
    /// No certificate (every account).
    #[default]
    Anonymous = 1,
    /// Holds a KYC2 (1201) certificate.
    Registered = 2,
    /// Holds a KYC3 (1301) certificate.
    Identified = 3,
    /// Holds a KYC4 (1401) certificate.
    Professional = 4,
}

/// An invalid identity level, as a number or as a name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityLevelError {
    /// A number above 4.
    #[error("invalid identity level {0}: expected 0 to 4")]
    InvalidValue(u8),
    /// A name that is not a level.
    #[error(
        "unknown identity level {0:?}: expected unknown, anonymous, registered, identified or professional"
    )]
    UnknownName(String),
}

const LEVELS: [IdentityLevel; 5] = [
    IdentityLevel::Unknown,
    IdentityLevel::Anonymous,
    IdentityLevel::Registered,
    IdentityLevel::Identified,
    IdentityLevel::Professional,
];

impl IdentityLevel {
    /// The on-chain value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The lowercase name (as displayed and parsed).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Anonymous => "anonymous",
            Self::Registered => "registered",
            Self::Identified => "identified",
            Self::Professional => "professional",
        }
    }
}

impl TryFrom<u8> for IdentityLevel {
    type Error = IdentityLevelError;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        LEVELS
            .get(usize::from(value))
            .copied()
            .ok_or(IdentityLevelError::InvalidValue(value))
    }
}

impl fmt::Display for IdentityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IdentityLevel {
    type Err = IdentityLevelError;

    /// Parses a level's name, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LEVELS
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| IdentityLevelError::UnknownName(s.to_owned()))
    }
}

/// The identity level given by an account's certificates; `has(attr)` says
/// whether the account holds a certificate of attribute type `attr`.
pub fn identity_level_from_attributes(has: impl Fn(u32) -> bool) -> IdentityLevel {
    if has(attributes::KYC4) {
        IdentityLevel::Professional
    } else if has(attributes::KYC3) {
        IdentityLevel::Identified
    } else if has(attributes::KYC2) {
        IdentityLevel::Registered
    } else {
        IdentityLevel::Anonymous
    }
}

/// The named profile attribute types.
pub mod attributes {
    /// Name.
    pub const NAME: u32 = 1102;
    /// Description.
    pub const DESCRIPTION: u32 = 1103;
    /// URL of the KYC service.
    pub const KYC_URL: u32 = 1104;
    /// KYC level 2 (gives [`Registered`](crate::IdentityLevel::Registered)).
    pub const KYC2: u32 = 1201;
    /// Website.
    pub const WEBSITE: u32 = 1202;
    /// KYC level 3 (gives [`Identified`](crate::IdentityLevel::Identified)).
    pub const KYC3: u32 = 1301;
    /// Country.
    pub const COUNTRY: u32 = 1303;
    /// Corporation.
    pub const CORPORATION: u32 = 1304;
    /// KYC level 4 (gives [`Professional`](crate::IdentityLevel::Professional)).
    pub const KYC4: u32 = 1401;
    /// Phone number (multi-valued).
    pub const PHONE: u32 = 2201;
    /// E-mail address (multi-valued).
    pub const EMAIL: u32 = 2202;
}

/// Whether `attr` is a valid attribute type (1000..=9999).
pub fn attribute_is_valid(attr: u32) -> bool {
    (1000..=9999).contains(&attr)
}

/// The validator level a certificate of type `attr` needs: `None` below 1100
/// (self-issued), else `(attr / 100) % 10`. Check [`attribute_is_valid`] first.
pub fn attribute_required_validator_level(attr: u32) -> Option<u8> {
    if attr < 1100 {
        return None;
    }
    // `% 10` keeps the value below 10, so the cast cannot truncate.
    Some(((attr / 100) % 10) as u8)
}

/// Whether an account may hold several values of attribute type `attr` (`attr / 1000 == 2`).
pub fn attribute_is_multi_valued(attr: u32) -> bool {
    attr / 1000 == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        for pair in LEVELS.windows(2) {
            assert!(pair[0] < pair[1]);
        }
    }

    #[test]
    fn level_roundtrips_through_u8() {
        for level in LEVELS {
            assert_eq!(IdentityLevel::try_from(level.as_u8()), Ok(level));
        }
        assert_eq!(IdentityLevel::Professional.as_u8(), 4);
    }

    #[test]
    fn level_refuses_values_above_four() {
        assert_eq!(
            IdentityLevel::try_from(5),
            Err(IdentityLevelError::InvalidValue(5))
        );
    }

    #[test]
    fn level_parses_what_display_writes() {
        for level in LEVELS {
            assert_eq!(level.to_string().parse(), Ok(level));
        }
        assert_eq!("Identified".parse(), Ok(IdentityLevel::Identified));
        assert!("vip".parse::<IdentityLevel>().is_err());
    }

    #[test]
    fn highest_kyc_certificate_gives_the_level() {
        let with = |attrs: &'static [u32]| move |a: u32| attrs.contains(&a);
        assert_eq!(
            identity_level_from_attributes(with(&[])),
            IdentityLevel::Anonymous
        );
        assert_eq!(
            identity_level_from_attributes(with(&[attributes::KYC2])),
            IdentityLevel::Registered
        );
        assert_eq!(
            identity_level_from_attributes(with(&[attributes::KYC2, attributes::KYC3])),
            IdentityLevel::Identified
        );
        assert_eq!(
            identity_level_from_attributes(with(&[attributes::KYC4])),
            IdentityLevel::Professional
        );
        assert_eq!(
            identity_level_from_attributes(with(&[attributes::NAME, attributes::PHONE])),
            IdentityLevel::Anonymous
        );
    }

    #[test]
    fn attributes_below_1100_are_self_issued() {
        assert_eq!(attribute_required_validator_level(1000), None);
        assert_eq!(attribute_required_validator_level(1099), None);
        assert_eq!(
            attribute_required_validator_level(attributes::NAME),
            Some(1)
        );
        assert_eq!(
            attribute_required_validator_level(attributes::KYC3),
            Some(3)
        );
        assert_eq!(
            attribute_required_validator_level(attributes::KYC4),
            Some(4)
        );
        assert_eq!(
            attribute_required_validator_level(attributes::EMAIL),
            Some(2)
        );
    }

    #[test]
    fn attributes_in_the_2000s_are_multi_valued() {
        assert!(attribute_is_multi_valued(attributes::PHONE));
        assert!(attribute_is_multi_valued(attributes::EMAIL));
        assert!(!attribute_is_multi_valued(attributes::KYC4));
        assert!(!attribute_is_multi_valued(3001));
    }

    #[test]
    fn attribute_types_are_four_digits() {
        assert!(attribute_is_valid(1000));
        assert!(attribute_is_valid(9999));
        assert!(!attribute_is_valid(999));
        assert!(!attribute_is_valid(10000));
    }
}
