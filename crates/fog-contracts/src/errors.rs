//! Revert data from any contract of the suite, decoded into one readable error.

use alloy::{
    primitives::{Bytes, U256},
    sol_types::{Panic, Revert as RevertString, SolError, SolInterface},
};

use crate::bindings::{
    Blacklist::BlacklistErrors, FogToken::FogTokenErrors, Market::MarketErrors,
    OracleUSD::OracleUSDErrors, ProfileRegistry::ProfileRegistryErrors,
};

/// Why a call to the suite reverted: the decoded custom error of whichever
/// contract raised it (errors bubble up from the token through the market).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// A rule of the market.
    Market(MarketErrors),
    /// The token refused a transfer or approval.
    Token(FogTokenErrors),
    /// The price oracle refused a vote.
    Oracle(OracleUSDErrors),
    /// The profile registry refused a certificate or validator change.
    Profiles(ProfileRegistryErrors),
    /// The blacklist refused an entry.
    Blacklist(BlacklistErrors),
    /// `require(cond, "message")` or `revert("message")`.
    Message(String),
    /// A Solidity panic (overflow, division by zero, ...) with its code.
    Panic(U256),
    /// Data matching none of the suite's errors (e.g. empty: out of gas or a bad ABI).
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data returned by a call or transaction.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(e) = MarketErrors::abi_decode(data) {
            return Self::Market(e);
        }
        if let Ok(e) = FogTokenErrors::abi_decode(data) {
            return Self::Token(e);
        }
        if let Ok(e) = OracleUSDErrors::abi_decode(data) {
            return Self::Oracle(e);
        }
        if let Ok(e) = ProfileRegistryErrors::abi_decode(data) {
            return Self::Profiles(e);
        }
        if let Ok(e) = BlacklistErrors::abi_decode(data) {
            return Self::Blacklist(e);
        }
        if let Ok(e) = RevertString::abi_decode(data) {
            return Self::Message(e.reason);
        }
        if let Ok(p) = Panic::abi_decode(data) {
            return Self::Panic(p.code);
        }
        Self::Unknown(Bytes::copy_from_slice(data))
    }

    /// The market error, if the market raised it.
    pub fn as_market(&self) -> Option<&MarketErrors> {
        match self {
            Self::Market(e) => Some(e),
            _ => None,
        }
    }
}

impl std::error::Error for Revert {}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Market(e) => write!(f, "market: {}", market_message(e)),
            Self::Token(e) => write!(f, "token: {}", token_message(e)),
            Self::Oracle(e) => write!(f, "oracle: {}", oracle_message(e)),
            Self::Profiles(e) => write!(f, "profiles: {}", profiles_message(e)),
            Self::Blacklist(e) => write!(f, "blacklist: {}", blacklist_message(e)),
            Self::Message(m) => write!(f, "reverted: {m}"),
            Self::Panic(code) => {
                write!(f, "contract panic {code:#x} (arithmetic or internal error)")
            }
            Self::Unknown(d) if d.is_empty() => {
                write!(
                    f,
                    "reverted without data (out of gas, or a call the contract does not know)"
                )
            }
            Self::Unknown(d) => write!(f, "reverted with unknown data {d}"),
        }
    }
}

fn market_message(e: &MarketErrors) -> String {
    use MarketErrors as E;
    match e {
        E::InvalidOrderType(x) => {
            format!("order type {} is neither ask (1) nor bid (2)", x.orderType)
        }
        E::TooManyBenchmarks(x) => format!(
            "order carries {} benchmark words; at most {} (4 benchmarks per word) are allowed",
            x.words, x.maxWords
        ),
        E::PriceTooHigh(x) => format!("price {} USD-wei/s is above the maximum {}", x.price, x.max),
        E::DurationTooLong(x) => {
            format!("duration {} s is above the maximum {} s", x.duration, x.max)
        }
        E::InvalidNetflags(x) => format!("netflags {} has unknown bits; use 0..=7", x.netflags),
        E::InvalidIdentityLevel(x) => format!("identity level {} is unknown; use 0..=4", x.level),
        E::OrderNotActive(x) => {
            format!(
                "order {} is not active (never placed, already dealt or cancelled, or its fields differ)",
                x.orderId
            )
        }
        E::NotOrderAuthor(x) => format!("{} is not the author of order {}", x.caller, x.orderId),
        E::OrderTypeMismatch(x) => format!(
            "order {} must be an ask and order {} a bid",
            x.askId, x.bidId
        ),
        E::PriceMismatch(x) => {
            format!("ask price {} is above bid price {}", x.askPrice, x.bidPrice)
        }
        E::DurationMismatch(x) => {
            format!(
                "ask duration {} s is shorter than bid duration {} s",
                x.askDuration, x.bidDuration
            )
        }
        E::NetflagsMismatch(x) => {
            format!(
                "bid needs netflags {:#05b} but the ask offers {:#05b}",
                x.bidNetflags, x.askNetflags
            )
        }
        E::BenchmarkTooLow(x) => format!(
            "ask benchmark {} is {}, below the bid's {}",
            x.index, x.ask, x.bid
        ),
        E::CounterpartyMismatch(x) => {
            format!("order is reserved for {}, not {}", x.required, x.actual)
        }
        E::IdentityLevelTooLow(x) => {
            format!(
                "{} has identity level {}, below the required {}",
                x.account, x.level, x.required
            )
        }
        E::Blacklisted(x) => format!("{} has blacklisted {}", x.who, x.whom),
        E::NotOrderParty(x) => format!(
            "{} is neither the ask's author or master nor the bid's author",
            x.caller
        ),
        E::DealNotOpen(x) => format!("deal {} is not open (closed, or never opened)", x.dealId),
        E::NotDealParty(x) => format!(
            "{} is not the consumer, supplier or master of deal {}",
            x.caller, x.dealId
        ),
        E::ForwardDealNotEnded(x) => {
            format!(
                "only the consumer may close forward deal {} before its end at {}",
                x.dealId, x.end
            )
        }
        E::ForwardDealEnded(x) => {
            format!(
                "forward deal {} ended at {}: bill or close it, it can no longer change",
                x.dealId, x.end
            )
        }
        E::OnlyConsumerMayBlacklist(x) => format!(
            "only the consumer may blacklist when closing deal {}",
            x.dealId
        ),
        E::InvalidBlacklistChoice(x) => {
            format!(
                "blacklist choice {} is unknown; use 0 (nobody), 1 (worker) or 2 (master)",
                x.choice
            )
        }
        E::InvalidChangeDuration(x) => format!(
            "duration {} s is not valid for deal {}: spot deals keep 0, forward deals need an end after now",
            x.duration, x.dealId
        ),
        E::NoChangeRequest(x) => format!(
            "side {} has no pending change request on deal {}",
            x.side, x.dealId
        ),
        E::WorkerAlreadyRegistered(x) => format!(
            "worker {} is already linked to master {}",
            x.worker, x.master
        ),
        E::InvalidMaster(x) => format!(
            "{} cannot be a master here (zero address or the worker itself)",
            x.master
        ),
        E::NoPendingWorker(x) => format!(
            "worker {} has not asked {} to be its master",
            x.worker, x.master
        ),
        E::NotWorkerOf(x) => format!("{} is not a worker of {}", x.worker, x.master),
        E::NotWorkerOrMaster(x) => format!("{} is neither the worker nor the master", x.caller),
        E::AmountTooLarge(x) => format!(
            "amount {} does not fit the market's 96-bit balances",
            x.amount
        ),
        E::TokenTransferFailed(x) => format!(
            "token transfer of {} from {} to {} failed",
            x.amount, x.from, x.to
        ),
        E::TimestampOverflow(x) => format!(
            "block timestamp {} is beyond the market's 32-bit clock",
            x.timestamp
        ),
    }
}

fn token_message(e: &FogTokenErrors) -> String {
    use FogTokenErrors as E;
    match e {
        E::ERC20InsufficientBalance(x) => {
            format!(
                "{} holds {} but {} is needed: get more tokens",
                x.sender, x.balance, x.needed
            )
        }
        E::ERC20InsufficientAllowance(x) => format!(
            "allowance of {} is {} but {} is needed: approve the market for more",
            x.spender, x.allowance, x.needed
        ),
        E::ERC20InvalidApprover(x) => format!("invalid approver {}", x.approver),
        E::ERC20InvalidReceiver(x) => format!("invalid receiver {}", x.receiver),
        E::ERC20InvalidSender(x) => format!("invalid sender {}", x.sender),
        E::ERC20InvalidSpender(x) => format!("invalid spender {}", x.spender),
        E::SupplyTooLarge(x) => format!("supply {} is above the maximum {}", x.supply, x.maxSupply),
    }
}

fn oracle_message(e: &OracleUSDErrors) -> String {
    use OracleUSDErrors as E;
    match e {
        E::NotFeeder(x) => format!("{} is not a price feeder", x.caller),
        E::PriceOutOfBounds(x) => format!(
            "price {} is outside [{}, {}]",
            x.price, x.minPrice, x.maxPrice
        ),
        E::PriceStepTooLarge(x) => {
            format!(
                "price {} moves more than {}x from {}; move in steps",
                x.proposed, x.maxStep, x.current
            )
        }
        E::AlreadyVoted(x) => format!("{} already voted for this in round {}", x.feeder, x.round),
        E::InvalidFeederSet(x) => format!(
            "a feeder set needs 1..=64 distinct non-zero feeders and 1 <= threshold <= size (got {} feeders, threshold {})",
            x.feeders, x.threshold
        ),
        E::InvalidBounds(x) => format!(
            "bounds must satisfy 0 < min <= initial <= max < 2^128 (got {}, {}, {})",
            x.minPrice, x.initialPrice, x.maxPrice
        ),
    }
}

fn profiles_message(e: &ProfileRegistryErrors) -> String {
    use ProfileRegistryErrors as E;
    match e {
        E::NotAdmin(x) => format!("{} is not the registry's admin", x.caller),
        E::NotPendingAdmin(x) => format!("{} is not the proposed admin", x.caller),
        E::InvalidValidatorLevel(x) => format!("validator level {} is not in 0..=9", x.level),
        E::InvalidAttribute(x) => format!("attribute {} is not in 1000..=9999", x.attribute),
        E::NotSelfIssued(x) => format!(
            "attribute {} is self-issued: only {} may certify it, not {}",
            x.attribute, x.owner, x.issuer
        ),
        E::ValidatorLevelTooLow(x) => {
            format!(
                "{} has validator level {}, below the {} this attribute needs",
                x.issuer, x.level, x.required
            )
        }
        E::EmptyValue(_) => "a certificate value may not be empty".to_owned(),
        E::ValueMismatch(x) => format!(
            "{} already holds a different value for single-valued attribute {}",
            x.owner, x.attribute
        ),
        E::NoSuchCertificate(x) => format!("no certificate {}", x.id),
        E::NotCertificateParty(x) => format!(
            "{} is neither owner nor issuer of certificate {}",
            x.caller, x.id
        ),
    }
}

fn blacklist_message(e: &BlacklistErrors) -> String {
    use BlacklistErrors as E;
    match e {
        E::MarketAlreadySet(x) => format!("the market is already wired ({})", x.market),
        E::NotDeployer(x) => format!("{} is not the blacklist's deployer", x.caller),
        E::NotMarket(x) => format!("{} is not the market", x.caller),
        E::AlreadyBlacklisted(x) => format!("{} has already blacklisted {}", x.who, x.whom),
        E::NotBlacklisted(x) => format!("{} has not blacklisted {}", x.who, x.whom),
        E::InvalidEntry(x) => format!(
            "{} cannot blacklist {} (zero address or itself)",
            x.who, x.whom
        ),
    }
}
