//! The match rule: whether an ask and a bid may open a deal.
//!
//! [`check_match`] mirrors `Market.openDeal` check for check and in the same
//! order, so the first failing rule is the same on chain and off chain.

use std::collections::{HashMap, HashSet};

use alloy_primitives::Address;

use crate::{IdentityLevel, NetFlags, Order, OrderType, Price};

/// The chain state the match rule reads.
pub trait MatchContext {
    /// The master of `account` (the account itself when unbound).
    fn master_of(&self, account: Address) -> Address;
    /// The identity level of `account`.
    fn identity_level(&self, account: Address) -> IdentityLevel;
    /// Whether `who` has blacklisted `whom`.
    fn is_blacklisted(&self, who: Address, whom: Address) -> bool;
}

/// Why an ask and a bid do not match (the first failing rule).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The first order is not an ask or the second not a bid.
    #[error("order type mismatch: the first order must be an ask and the second a bid")]
    OrderTypeMismatch,
    /// The ask costs more than the bid pays.
    #[error("ask price {ask} is above bid price {bid}")]
    PriceMismatch {
        /// The ask's price.
        ask: Price,
        /// The bid's price.
        bid: Price,
    },
    /// The ask is shorter than the bid wants.
    #[error("ask duration {ask}s is shorter than bid duration {bid}s")]
    DurationMismatch {
        /// The ask's duration.
        ask: u64,
        /// The bid's duration.
        bid: u64,
    },
    /// The bid needs a network feature the ask lacks.
    #[error("bid needs netflags {bid} but the ask offers {ask}")]
    NetflagsMismatch {
        /// The ask's netflags.
        ask: NetFlags,
        /// The bid's netflags.
        bid: NetFlags,
    },
    /// An ask benchmark is below what the bid needs.
    #[error("benchmark {index} too low: ask offers {ask}, bid needs {bid}")]
    BenchmarkTooLow {
        /// Benchmark index.
        index: usize,
        /// The ask's value (0 when missing).
        ask: u64,
        /// The bid's value.
        bid: u64,
    },
    /// An order names a counterparty other than the other side's master.
    #[error(
        "counterparty mismatch: order requires {required} but the other side's master is {actual}"
    )]
    CounterpartyMismatch {
        /// The counterparty the order requires.
        required: Address,
        /// The other side's master.
        actual: Address,
    },
    /// One side's identity level is below what the other requires.
    #[error("identity level of {account} is {level} but {required} is required")]
    IdentityLevelTooLow {
        /// The account checked.
        account: Address,
        /// Its level.
        level: IdentityLevel,
        /// The level the other side requires.
        required: IdentityLevel,
    },
    /// `who` has blacklisted `whom`.
    #[error("{who} has blacklisted {whom}")]
    Blacklisted {
        /// The blacklist's owner.
        who: Address,
        /// The blacklisted account.
        whom: Address,
    },
}

/// Checks whether `ask` and `bid` may open a deal, returning the first failing
/// rule in the contract's order: types, price, duration, netflags, benchmarks,
/// counterparties, identity levels, blacklists.
///
/// Order status is not checked (an [`Order`] does not carry it).
pub fn check_match(
    ask: &Order,
    bid: &Order,
    ctx: &(impl MatchContext + ?Sized),
) -> Result<(), MatchError> {
    if ask.order_type != OrderType::Ask || bid.order_type != OrderType::Bid {
        return Err(MatchError::OrderTypeMismatch);
    }
    if ask.price > bid.price {
        return Err(MatchError::PriceMismatch {
            ask: ask.price,
            bid: bid.price,
        });
    }
    if ask.duration < bid.duration {
        return Err(MatchError::DurationMismatch {
            ask: ask.duration,
            bid: bid.duration,
        });
    }
    if !ask.netflags.contains(bid.netflags) {
        return Err(MatchError::NetflagsMismatch {
            ask: ask.netflags,
            bid: bid.netflags,
        });
    }
    ask.benchmarks
        .covers(&bid.benchmarks)
        .map_err(|(index, ask, bid)| MatchError::BenchmarkTooLow { index, ask, bid })?;

    let master = ctx.master_of(ask.author);
    let bid_master = ctx.master_of(bid.author);
    if !ask.counterparty.is_zero() && ask.counterparty != bid_master {
        return Err(MatchError::CounterpartyMismatch {
            required: ask.counterparty,
            actual: bid_master,
        });
    }
    if !bid.counterparty.is_zero() && bid.counterparty != master {
        return Err(MatchError::CounterpartyMismatch {
            required: bid.counterparty,
            actual: master,
        });
    }

    check_identity(ask.identity_level, bid.author, ctx)?;
    check_identity(bid.identity_level, ask.author, ctx)?;

    let mut directions = Vec::with_capacity(7);
    if !bid.blacklist.is_zero() {
        directions.push((bid.blacklist, master));
        directions.push((bid.blacklist, ask.author));
    }
    directions.push((bid.author, master));
    directions.push((bid.author, ask.author));
    if !ask.blacklist.is_zero() {
        directions.push((ask.blacklist, bid.author));
    }
    directions.push((master, bid.author));
    directions.push((ask.author, bid.author));
    for (who, whom) in directions {
        if ctx.is_blacklisted(who, whom) {
            return Err(MatchError::Blacklisted { who, whom });
        }
    }
    Ok(())
}

/// Requirements up to [`IdentityLevel::Anonymous`] hold for everyone.
fn check_identity(
    required: IdentityLevel,
    account: Address,
    ctx: &(impl MatchContext + ?Sized),
) -> Result<(), MatchError> {
    if required > IdentityLevel::Anonymous {
        let level = ctx.identity_level(account);
        if level < required {
            return Err(MatchError::IdentityLevelTooLow {
                account,
                level,
                required,
            });
        }
    }
    Ok(())
}

/// An in-memory [`MatchContext`]: unbound accounts are their own master,
/// unknown accounts are [`IdentityLevel::Anonymous`].
#[derive(Clone, Debug, Default)]
pub struct StaticContext {
    masters: HashMap<Address, Address>,
    levels: HashMap<Address, IdentityLevel>,
    blacklist: HashSet<(Address, Address)>,
}

impl StaticContext {
    /// An empty context.
    pub fn new() -> StaticContext {
        StaticContext::default()
    }

    /// Binds `worker` to `master`.
    pub fn with_master(mut self, worker: Address, master: Address) -> StaticContext {
        self.masters.insert(worker, master);
        self
    }

    /// Sets the identity level of `account`.
    pub fn with_level(mut self, account: Address, level: IdentityLevel) -> StaticContext {
        self.levels.insert(account, level);
        self
    }

    /// Records that `who` has blacklisted `whom`.
    pub fn with_blacklisted(mut self, who: Address, whom: Address) -> StaticContext {
        self.blacklist.insert((who, whom));
        self
    }
}

impl MatchContext for StaticContext {
    fn master_of(&self, account: Address) -> Address {
        self.masters.get(&account).copied().unwrap_or(account)
    }

    fn identity_level(&self, account: Address) -> IdentityLevel {
        self.levels
            .get(&account)
            .copied()
            .unwrap_or(IdentityLevel::Anonymous)
    }

    fn is_blacklisted(&self, who: Address, whom: Address) -> bool {
        self.blacklist.contains(&(who, whom))
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{B256, U256};

    use super::*;
    use crate::Benchmarks;

    const WORKER: Address = Address::repeat_byte(0x11);
    const MASTER: Address = Address::repeat_byte(0x22);
    const CONSUMER: Address = Address::repeat_byte(0x33);
    const ASK_LIST: Address = Address::repeat_byte(0x44);
    const BID_LIST: Address = Address::repeat_byte(0x55);
    const OTHER: Address = Address::repeat_byte(0x66);

    fn price(wei: u64) -> Price {
        Price::from_usd_per_second_wei(U256::from(wei))
    }

    fn order(order_type: OrderType, author: Address) -> Order {
        Order {
            order_type,
            author,
            counterparty: Address::ZERO,
            duration: 3600,
            price: price(100),
            netflags: NetFlags::NONE,
            identity_level: IdentityLevel::Anonymous,
            blacklist: Address::ZERO,
            tag: B256::ZERO,
            benchmarks: Benchmarks::new(vec![10, 20, 30]),
            frozen_sum: U256::ZERO,
        }
    }

    fn ask() -> Order {
        order(OrderType::Ask, WORKER)
    }

    fn bid() -> Order {
        order(OrderType::Bid, CONSUMER)
    }

    fn ctx() -> StaticContext {
        StaticContext::new().with_master(WORKER, MASTER)
    }

    #[test]
    fn matching_pair_passes() {
        assert_eq!(check_match(&ask(), &bid(), &ctx()), Ok(()));
    }

    #[test]
    fn swapped_order_types_mismatch() {
        assert_eq!(
            check_match(&bid(), &ask(), &ctx()),
            Err(MatchError::OrderTypeMismatch)
        );
        assert_eq!(
            check_match(&ask(), &ask(), &ctx()),
            Err(MatchError::OrderTypeMismatch)
        );
    }

    #[test]
    fn ask_above_bid_price_mismatches() {
        let mut ask = ask();
        ask.price = price(101);
        assert_eq!(
            check_match(&ask, &bid(), &ctx()),
            Err(MatchError::PriceMismatch {
                ask: price(101),
                bid: price(100)
            })
        );
    }

    #[test]
    fn ask_below_bid_price_matches() {
        let mut ask = ask();
        ask.price = price(1);
        assert_eq!(check_match(&ask, &bid(), &ctx()), Ok(()));
    }

    #[test]
    fn ask_shorter_than_bid_mismatches() {
        let mut bid = bid();
        bid.duration = 3601;
        assert_eq!(
            check_match(&ask(), &bid, &ctx()),
            Err(MatchError::DurationMismatch {
                ask: 3600,
                bid: 3601
            })
        );
    }

    #[test]
    fn spot_bid_matches_forward_ask() {
        let mut bid = bid();
        bid.duration = 0;
        assert_eq!(check_match(&ask(), &bid, &ctx()), Ok(()));
    }

    #[test]
    fn bid_netflag_missing_from_ask_mismatches() {
        let mut ask = ask();
        ask.netflags = NetFlags::OVERLAY | NetFlags::OUTBOUND;
        let mut bid = bid();
        bid.netflags = NetFlags::OUTBOUND;
        assert_eq!(check_match(&ask, &bid, &ctx()), Ok(()));
        bid.netflags = NetFlags::INCOMING | NetFlags::OUTBOUND;
        assert_eq!(
            check_match(&ask, &bid, &ctx()),
            Err(MatchError::NetflagsMismatch {
                ask: ask.netflags,
                bid: bid.netflags
            })
        );
    }

    #[test]
    fn benchmark_below_bid_is_too_low() {
        let mut bid = bid();
        bid.benchmarks = Benchmarks::new(vec![10, 21, 31]);
        assert_eq!(
            check_match(&ask(), &bid, &ctx()),
            Err(MatchError::BenchmarkTooLow {
                index: 1,
                ask: 20,
                bid: 21
            })
        );
    }

    #[test]
    fn missing_ask_benchmarks_count_as_zero() {
        let mut bid = bid();
        bid.benchmarks = Benchmarks::new(vec![1, 1, 1, 0, 0]);
        assert_eq!(check_match(&ask(), &bid, &ctx()), Ok(()));
        bid.benchmarks = Benchmarks::new(vec![1, 1, 1, 0, 2]);
        assert_eq!(
            check_match(&ask(), &bid, &ctx()),
            Err(MatchError::BenchmarkTooLow {
                index: 4,
                ask: 0,
                bid: 2
            })
        );
    }

    #[test]
    fn ask_counterparty_must_be_bid_master() {
        let mut ask = ask();
        ask.counterparty = CONSUMER;
        assert_eq!(check_match(&ask, &bid(), &ctx()), Ok(()));
        ask.counterparty = OTHER;
        assert_eq!(
            check_match(&ask, &bid(), &ctx()),
            Err(MatchError::CounterpartyMismatch {
                required: OTHER,
                actual: CONSUMER
            })
        );
    }

    #[test]
    fn bid_counterparty_must_be_ask_master() {
        let mut bid = bid();
        bid.counterparty = MASTER;
        assert_eq!(check_match(&ask(), &bid, &ctx()), Ok(()));
        bid.counterparty = WORKER;
        assert_eq!(
            check_match(&ask(), &bid, &ctx()),
            Err(MatchError::CounterpartyMismatch {
                required: WORKER,
                actual: MASTER
            })
        );
    }

    #[test]
    fn bid_author_below_ask_required_level_is_refused() {
        let mut ask = ask();
        ask.identity_level = IdentityLevel::Identified;
        let ctx = ctx().with_level(CONSUMER, IdentityLevel::Registered);
        assert_eq!(
            check_match(&ask, &bid(), &ctx),
            Err(MatchError::IdentityLevelTooLow {
                account: CONSUMER,
                level: IdentityLevel::Registered,
                required: IdentityLevel::Identified
            })
        );
        let ctx = ctx.with_level(CONSUMER, IdentityLevel::Professional);
        assert_eq!(check_match(&ask, &bid(), &ctx), Ok(()));
    }

    #[test]
    fn ask_author_below_bid_required_level_is_refused() {
        let mut bid = bid();
        bid.identity_level = IdentityLevel::Registered;
        assert_eq!(
            check_match(&ask(), &bid, &ctx()),
            Err(MatchError::IdentityLevelTooLow {
                account: WORKER,
                level: IdentityLevel::Anonymous,
                required: IdentityLevel::Registered
            })
        );
    }

    #[test]
    fn anonymous_requirement_holds_for_unknown_level() {
        let mut bid = bid();
        bid.identity_level = IdentityLevel::Anonymous;
        let ctx = ctx().with_level(WORKER, IdentityLevel::Unknown);
        assert_eq!(check_match(&ask(), &bid, &ctx), Ok(()));
    }

    #[test]
    fn every_blacklist_direction_is_checked() {
        let mut ask = ask();
        ask.blacklist = ASK_LIST;
        let mut bid = bid();
        bid.blacklist = BID_LIST;
        let directions = [
            (BID_LIST, MASTER),
            (BID_LIST, WORKER),
            (CONSUMER, MASTER),
            (CONSUMER, WORKER),
            (ASK_LIST, CONSUMER),
            (MASTER, CONSUMER),
            (WORKER, CONSUMER),
        ];
        for (who, whom) in directions {
            let ctx = ctx().with_blacklisted(who, whom);
            assert_eq!(
                check_match(&ask, &bid, &ctx),
                Err(MatchError::Blacklisted { who, whom }),
                "{who} -> {whom}"
            );
        }
    }

    #[test]
    fn blacklist_directions_are_checked_in_contract_order() {
        let mut ask = ask();
        ask.blacklist = ASK_LIST;
        let mut bid = bid();
        bid.blacklist = BID_LIST;
        let mut ctx = ctx()
            .with_blacklisted(WORKER, CONSUMER)
            .with_blacklisted(MASTER, CONSUMER)
            .with_blacklisted(ASK_LIST, CONSUMER)
            .with_blacklisted(CONSUMER, WORKER)
            .with_blacklisted(CONSUMER, MASTER)
            .with_blacklisted(BID_LIST, WORKER);
        assert_eq!(
            check_match(&ask, &bid, &ctx),
            Err(MatchError::Blacklisted {
                who: BID_LIST,
                whom: WORKER
            })
        );
        ctx = ctx.with_blacklisted(BID_LIST, MASTER);
        assert_eq!(
            check_match(&ask, &bid, &ctx),
            Err(MatchError::Blacklisted {
                who: BID_LIST,
                whom: MASTER
            })
        );
    }

    #[test]
    fn unset_order_blacklists_are_ignored() {
        let ctx = ctx()
            .with_blacklisted(Address::ZERO, MASTER)
            .with_blacklisted(Address::ZERO, CONSUMER);
        assert_eq!(check_match(&ask(), &bid(), &ctx), Ok(()));
    }

    #[test]
    fn unrelated_blacklists_do_not_block() {
        let ctx = ctx().with_blacklisted(OTHER, WORKER);
        assert_eq!(check_match(&ask(), &bid(), &ctx), Ok(()));
    }

    #[test]
    fn price_is_checked_before_blacklist() {
        let mut ask = ask();
        ask.price = price(200);
        let ctx = ctx().with_blacklisted(CONSUMER, WORKER);
        assert!(matches!(
            check_match(&ask, &bid(), &ctx),
            Err(MatchError::PriceMismatch { .. })
        ));
    }

    #[test]
    fn rules_fail_in_contract_order() {
        // Every rule fails; fix them one at a time and the next one is reported.
        let mut ask = ask();
        let mut bid = bid();
        ask.order_type = OrderType::Bid;
        ask.price = price(200);
        ask.duration = 10;
        bid.netflags = NetFlags::INCOMING;
        bid.benchmarks = Benchmarks::new(vec![99]);
        ask.counterparty = OTHER;
        bid.counterparty = OTHER;
        ask.identity_level = IdentityLevel::Professional;
        bid.identity_level = IdentityLevel::Professional;
        let ctx = ctx().with_blacklisted(WORKER, CONSUMER);

        let mut seen = Vec::new();
        loop {
            match check_match(&ask, &bid, &ctx) {
                Ok(()) => break,
                Err(e) => {
                    match e {
                        MatchError::OrderTypeMismatch => ask.order_type = OrderType::Ask,
                        MatchError::PriceMismatch { .. } => ask.price = bid.price,
                        MatchError::DurationMismatch { .. } => ask.duration = bid.duration,
                        MatchError::NetflagsMismatch { .. } => ask.netflags = NetFlags::ALL,
                        MatchError::BenchmarkTooLow { .. } => {
                            bid.benchmarks = Benchmarks::default()
                        }
                        MatchError::CounterpartyMismatch { required, .. } => {
                            if required == ask.counterparty {
                                ask.counterparty = Address::ZERO;
                            } else {
                                bid.counterparty = Address::ZERO;
                            }
                        }
                        MatchError::IdentityLevelTooLow { account, .. } => {
                            if account == CONSUMER {
                                ask.identity_level = IdentityLevel::Anonymous;
                            } else {
                                bid.identity_level = IdentityLevel::Anonymous;
                            }
                        }
                        MatchError::Blacklisted { .. } => ask.author = OTHER,
                    }
                    seen.push(e);
                }
            }
        }
        let kinds: Vec<&str> = seen
            .iter()
            .map(|e| match e {
                MatchError::OrderTypeMismatch => "type",
                MatchError::PriceMismatch { .. } => "price",
                MatchError::DurationMismatch { .. } => "duration",
                MatchError::NetflagsMismatch { .. } => "netflags",
                MatchError::BenchmarkTooLow { .. } => "benchmark",
                MatchError::CounterpartyMismatch { required, .. } if *required == OTHER => {
                    "counterparty"
                }
                MatchError::CounterpartyMismatch { .. } => "counterparty?",
                MatchError::IdentityLevelTooLow { account, .. } if *account == CONSUMER => {
                    "bid-level"
                }
                MatchError::IdentityLevelTooLow { .. } => "ask-level",
                MatchError::Blacklisted { .. } => "blacklist",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "type",
                "price",
                "duration",
                "netflags",
                "benchmark",
                "counterparty",
                "counterparty",
                "bid-level",
                "ask-level",
                "blacklist"
            ]
        );
    }

    #[test]
    fn static_context_defaults() {
        let ctx = StaticContext::new();
        assert_eq!(ctx.master_of(WORKER), WORKER);
        assert_eq!(ctx.identity_level(WORKER), IdentityLevel::Anonymous);
        assert!(!ctx.is_blacklisted(WORKER, CONSUMER));
    }

    #[test]
    fn works_through_a_trait_object() {
        let ctx: &dyn MatchContext = &ctx();
        assert_eq!(check_match(&ask(), &bid(), ctx), Ok(()));
    }
}
