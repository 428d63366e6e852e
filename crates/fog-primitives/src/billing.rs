//! Billing arithmetic, the same integer math as the market contract.

use alloy_primitives::U256;

use crate::Price;

/// Seconds blocked in advance for a spot deal (one hour).
pub const SPOT_PERIOD: u64 = 3600;
/// The longest period blocked in advance for a forward deal (one day).
pub const FORWARD_PERIOD: u64 = 86400;

/// The seconds blocked when a bid is placed: [`SPOT_PERIOD`] for spot
/// (`duration == 0`), else `min(duration, FORWARD_PERIOD)`.
pub fn first_period(duration: u64) -> u64 {
    if duration == 0 {
        SPOT_PERIOD
    } else {
        duration.min(FORWARD_PERIOD)
    }
}

/// Tokens owed for `secs` seconds at `price`, given the oracle's
/// `tokens_per_usd` (token-wei per USD): `price * secs * tokens_per_usd / 10^18`, floored.
///
/// Saturates at `U256::MAX` where the contract would revert on overflow
/// (unreachable for prices within [`MAX_PRICE`](crate::MAX_PRICE) and sane rates).
pub fn cost(price: Price, secs: u64, tokens_per_usd: U256) -> U256 {
    price
        .wei_per_second()
        .saturating_mul(U256::from(secs))
        .saturating_mul(tokens_per_usd)
        / U256::from(10u64.pow(18))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: u64 = 1_000_000_000_000_000_000;

    #[test]
    fn spot_blocks_one_hour() {
        assert_eq!(first_period(0), 3600);
    }

    #[test]
    fn forward_blocks_its_duration_up_to_a_day() {
        assert_eq!(first_period(60), 60);
        assert_eq!(first_period(86400), 86400);
        assert_eq!(first_period(7 * 86400), 86400);
    }

    #[test]
    fn cost_multiplies_price_seconds_and_rate() {
        // 1 USD-wei/s for an hour at 2 tokens per USD.
        let price = Price::from_usd_per_second_wei(U256::from(ONE / 3600));
        let tokens = cost(price, 3600, U256::from(2 * ONE));
        assert_eq!(tokens, U256::from((ONE / 3600) * 3600 * 2));
    }

    #[test]
    fn cost_floors_after_the_whole_product() {
        // 3 wei/s * 1 s * 0.5 token/USD = 1.5 token-wei -> 1.
        let price = Price::from_usd_per_second_wei(U256::from(3));
        assert_eq!(cost(price, 1, U256::from(ONE / 2)), U256::from(1));
    }

    #[test]
    fn cost_saturates_instead_of_wrapping() {
        let price = Price::from_usd_per_second_wei(U256::MAX);
        assert_eq!(cost(price, 2, U256::from(ONE)), U256::MAX / U256::from(ONE));
    }
}
