//! Prices: USD with 18 decimals per second on chain, USD per hour for people.

use std::fmt;

use alloy_primitives::{U256, Uint};
use serde::{Deserialize, Serialize};

/// Wide enough for any `U256` times 3600 (and the rounding term), so
/// conversions never overflow.
type U320 = Uint<320, 5>;

const DECIMALS: usize = 18;
const SECONDS_PER_HOUR: u64 = 3600;

/// The most a price may be on chain: 2^96 - 1 USD-wei per second.
pub const MAX_PRICE: Price = Price(U256::from_limbs([u64::MAX, (1 << 32) - 1, 0, 0]));

/// A price in USD-wei (USD with 18 decimals) per second, as the chain stores it.
///
/// People read and write prices in USD per hour ([`Price::from_usd_per_hour`],
/// [`Price::usd_per_hour`]). Every per-second price has an exact per-hour
/// form, but not every per-hour price has a per-second one: parsing rounds to
/// the nearest per-second price.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Price(U256);

/// A price that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Not a plain decimal number.
    #[error("invalid price {0:?}: expected a decimal number of USD per hour such as 1.25")]
    Invalid(String),
    /// More decimals than USD-wei can express.
    #[error("price {0:?} has more than 18 decimals: round it to at most 18")]
    TooManyDecimals(String),
    /// Above [`MAX_PRICE`].
    #[error("price {value} is above the on-chain maximum of {max}: lower it")]
    AboveCap {
        /// The price given, as written by the user or as USD/h.
        value: String,
        /// [`MAX_PRICE`] in USD/h.
        max: String,
    },
}

fn widen(v: U256) -> U320 {
    let l = v.into_limbs();
    U320::from_limbs([l[0], l[1], l[2], l[3], 0])
}

impl Price {
    /// Zero.
    pub const ZERO: Price = Price(U256::ZERO);

    /// A price from USD-wei per second (the on-chain value).
    pub const fn from_usd_per_second_wei(wei: U256) -> Price {
        Price(wei)
    }

    /// The on-chain value: USD-wei per second.
    pub const fn wei_per_second(&self) -> U256 {
        self.0
    }

    /// Parses a decimal USD-per-hour string such as `1.25` or `0.000001`.
    ///
    /// The string is read exactly as USD-wei per hour (at most 18 decimals),
    /// then divided by 3600 rounding to the nearest USD-wei per second (half
    /// up), since a per-second price cannot express every per-hour price.
    /// Refuses prices above [`MAX_PRICE`].
    pub fn from_usd_per_hour(s: &str) -> Result<Price, PriceError> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let is_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || (s.contains('.') && frac.is_empty())
            || !is_digits(int)
            || !is_digits(frac)
        {
            return Err(PriceError::Invalid(s.to_owned()));
        }
        if frac.len() > DECIMALS {
            return Err(PriceError::TooManyDecimals(s.to_owned()));
        }
        let above_cap = || PriceError::AboveCap {
            value: s.to_owned(),
            max: MAX_PRICE.usd_per_hour(),
        };
        let padding = std::iter::repeat_n(b'0', DECIMALS - frac.len());
        let mut wei_per_hour = U320::ZERO;
        for digit in int.bytes().chain(frac.bytes()).chain(padding) {
            wei_per_hour = wei_per_hour
                .checked_mul(U320::from(10u8))
                .and_then(|w| w.checked_add(U320::from(digit - b'0')))
                .ok_or_else(above_cap)?;
        }
        let hour = U320::from(SECONDS_PER_HOUR);
        let per_second = (wei_per_hour + hour / U320::from(2u8)) / hour;
        if per_second > widen(MAX_PRICE.0) {
            return Err(above_cap());
        }
        let l = per_second.into_limbs();
        Ok(Price(U256::from_limbs([l[0], l[1], l[2], l[3]])))
    }

    /// The exact price in USD per hour, as a decimal with trailing zeros
    /// trimmed (`1.25`, `0`, `0.000000000000000036`).
    pub fn usd_per_hour(&self) -> String {
        let wei_per_hour = widen(self.0) * U320::from(SECONDS_PER_HOUR);
        let one_usd = U320::from(10u64.pow(DECIMALS as u32));
        let (int, frac) = wei_per_hour.div_rem(one_usd);
        if frac.is_zero() {
            return int.to_string();
        }
        let frac = format!("{:0>DECIMALS$}", frac.to_string());
        format!("{int}.{}", frac.trim_end_matches('0'))
    }

    /// Checks the on-chain cap of [`MAX_PRICE`].
    pub fn check_cap(self) -> Result<Price, PriceError> {
        if self > MAX_PRICE {
            return Err(PriceError::AboveCap {
                value: format!("{self}"),
                max: MAX_PRICE.to_string(),
            });
        }
        Ok(self)
    }
}

impl fmt::Display for Price {
    /// `X USD/h`, exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} USD/h", self.usd_per_hour())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wei(v: u128) -> Price {
        Price::from_usd_per_second_wei(U256::from(v))
    }

    #[test]
    fn max_price_is_two_to_the_96_minus_one() {
        assert_eq!(
            MAX_PRICE.wei_per_second(),
            (U256::from(1) << 96) - U256::from(1)
        );
    }

    #[test]
    fn hourly_prices_divisible_by_3600_parse_exactly() {
        let p = Price::from_usd_per_hour("3.6").unwrap();
        assert_eq!(p.wei_per_second(), U256::from(1_000_000_000_000_000u64));
        assert_eq!(Price::from_usd_per_hour("0").unwrap(), Price::ZERO);
        assert_eq!(
            Price::from_usd_per_hour("0.0000000000000036").unwrap(),
            wei(1)
        );
    }

    #[test]
    fn hourly_prices_round_to_nearest_per_second() {
        // 1.25e18 / 3600 = 347222222222222.22.. -> down
        assert_eq!(
            Price::from_usd_per_hour("1.25").unwrap(),
            wei(347_222_222_222_222)
        );
        // 1800 wei/h is exactly half a wei/s -> up; 1799 -> down.
        assert_eq!(
            Price::from_usd_per_hour("0.0000000000000018").unwrap(),
            wei(1)
        );
        assert_eq!(
            Price::from_usd_per_hour("0.000000000000001799").unwrap(),
            wei(0)
        );
    }

    #[test]
    fn usd_per_hour_is_exact_and_trimmed() {
        assert_eq!(Price::ZERO.usd_per_hour(), "0");
        assert_eq!(wei(1).usd_per_hour(), "0.0000000000000036");
        assert_eq!(wei(10).usd_per_hour(), "0.000000000000036");
        assert_eq!(
            Price::from_usd_per_hour("7.2").unwrap().usd_per_hour(),
            "7.2"
        );
        assert_eq!(wei(1_000_000_000_000_000).usd_per_hour(), "3.6");
    }

    #[test]
    fn display_shows_usd_per_hour() {
        assert_eq!(wei(1_000_000_000_000_000).to_string(), "3.6 USD/h");
    }

    #[test]
    fn malformed_prices_are_refused() {
        for s in [
            "", ".5", "1.", "1,5", "-1", "+1", "1e3", " 1", "1.2.3", "abc",
        ] {
            assert_eq!(
                Price::from_usd_per_hour(s),
                Err(PriceError::Invalid(s.into())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn more_than_18_decimals_are_refused() {
        let s = "0.0000000000000000001";
        assert_eq!(
            Price::from_usd_per_hour(s),
            Err(PriceError::TooManyDecimals(s.into()))
        );
    }

    #[test]
    fn prices_above_the_cap_are_refused() {
        let max = MAX_PRICE.usd_per_hour();
        assert_eq!(Price::from_usd_per_hour(&max), Ok(MAX_PRICE));
        let above = wei(1u128 << 96).usd_per_hour();
        assert!(matches!(
            Price::from_usd_per_hour(&above),
            Err(PriceError::AboveCap { .. })
        ));
        let huge = "9".repeat(200);
        assert!(matches!(
            Price::from_usd_per_hour(&huge),
            Err(PriceError::AboveCap { .. })
        ));
    }

    #[test]
    fn check_cap_accepts_up_to_max_price() {
        assert_eq!(MAX_PRICE.check_cap(), Ok(MAX_PRICE));
        assert!(wei(1u128 << 96).check_cap().is_err());
    }

    #[test]
    fn usd_per_hour_handles_any_u256() {
        let p = Price::from_usd_per_second_wei(U256::MAX);
        assert!(p.usd_per_hour().starts_with("416"));
    }

    #[test]
    fn price_serializes_as_a_u256() {
        let p = wei(255);
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"0xff\"");
        assert_eq!(serde_json::from_str::<Price>("\"0xff\"").unwrap(), p);
    }

    proptest! {
        #[test]
        fn per_hour_roundtrip_is_exact(lo in any::<u64>(), hi in 0u64..(1 << 32)) {
            let v = U256::from(lo) | (U256::from(hi) << 64);
            let p = Price::from_usd_per_second_wei(v);
            prop_assert_eq!(Price::from_usd_per_hour(&p.usd_per_hour()), Ok(p));
        }

        #[test]
        fn parsing_rounds_to_nearest(wei_per_hour in 0..=((1u128 << 96) - 1) * 3600) {
            let int = wei_per_hour / 10u128.pow(18);
            let frac = wei_per_hour % 10u128.pow(18);
            let text = format!("{int}.{frac:018}");
            let p = Price::from_usd_per_hour(&text).unwrap().wei_per_second();
            let exact = U256::from(wei_per_hour);
            let got = p * U256::from(3600);
            let diff = if got > exact { got - exact } else { exact - got };
            prop_assert!(diff <= U256::from(1800));
        }
    }
}
