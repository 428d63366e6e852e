// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// The token price feed the market bills with.
interface IOracleUSD {
    function price() external view returns (uint256);
}

/// Identity levels derived from certificates.
interface IProfileRegistry {
    function identityLevel(address owner) external view returns (uint8);
}

/// Who refuses to deal with whom.
interface IBlacklist {
    function isBlacklisted(address who, address whom) external view returns (bool);
    function addFor(address who, address whom) external;
}

/// @title Market
/// @notice The fogmarket order book, deals and per-second billing.
///
/// Storage is lean because users pay for every slot: an order is stored as the
/// hash of its ABI encoding (the full order travels in the `OrderPlaced` event
/// and comes back as calldata). A live deal takes two slots, freed when it
/// closes: the hash of its fixed parties (supplier, consumer, master, start;
/// emitted in `DealOpened`, passed back as calldata) and its packed terms
/// (price, blocked balance, end, last bill). Events carry everything an
/// indexer needs.
///
/// Money flow: placing a bid blocks its first period (1 h for spot, min(duration,
/// 1 day) for forward) from the consumer; `bill` pays the deal's master for the
/// time served since the last bill and tops the blocked balance up for the next
/// period; if the consumer cannot pay, the deal closes. Closing refunds what is
/// still blocked to the consumer. The market has no owner: nobody can move
/// users' tokens other than by these rules.
contract Market {
    // ---------------------------------------------------------------- constants

    /// @notice Order type of a sell order (the supplier's).
    uint8 public constant ASK = 1;
    /// @notice Order type of a buy order (the consumer's).
    uint8 public constant BID = 2;

    /// @notice Deal status: never opened.
    uint8 public constant DEAL_NONE = 0;
    /// @notice Deal status: live.
    uint8 public constant DEAL_ACCEPTED = 1;
    /// @notice Deal status: closed.
    uint8 public constant DEAL_CLOSED = 2;

    /// @notice closeDeal: blacklist nobody.
    uint8 public constant BLACKLIST_NOBODY = 0;
    /// @notice closeDeal: the consumer blacklists the supplier (worker).
    uint8 public constant BLACKLIST_WORKER = 1;
    /// @notice closeDeal: the consumer blacklists the supplier's master.
    uint8 public constant BLACKLIST_MASTER = 2;

    /// @notice Why a deal closed: the consumer closed it.
    uint8 public constant CLOSED_BY_CONSUMER = 1;
    /// @notice Why a deal closed: the supplier or its master closed it.
    uint8 public constant CLOSED_BY_SUPPLIER = 2;
    /// @notice Why a deal closed: a forward deal reached its end.
    uint8 public constant CLOSED_EXPIRED = 3;
    /// @notice Why a deal closed: the consumer could not pay the next period.
    uint8 public constant CLOSED_OUT_OF_FUNDS = 4;

    /// @notice Blocked period of a spot deal.
    uint256 public constant SPOT_PERIOD = 1 hours;
    /// @notice Longest blocked period of a forward deal.
    uint256 public constant FORWARD_PERIOD = 1 days;
    /// @notice Most benchmark entries an order may carry.
    uint256 public constant MAX_BENCHMARKS = 64;
    /// @notice Benchmark entries packed into one 256-bit word.
    uint256 public constant BENCHMARKS_PER_WORD = 4;
    /// @notice Highest price in USD-wei per second (fits the deal's 96-bit field).
    uint256 public constant MAX_PRICE = type(uint96).max;
    /// @notice Longest forward duration (10 years), so deal ends fit 32 bits.
    uint64 public constant MAX_DURATION = 10 * 365 days;
    /// @notice Highest netflags value (bits: 0 overlay, 1 outbound, 2 incoming).
    uint8 public constant MAX_NETFLAGS = 7;
    /// @notice The lowest identity level, which every account has (ProfileRegistry.ANONYMOUS).
    uint8 public constant ANONYMOUS = 1;
    /// @notice Highest identity level an order may require.
    uint8 public constant MAX_IDENTITY_LEVEL = 4;

    // ---------------------------------------------------------------- types

    /// @notice An order as placed. `author` and `frozenSum` are filled in by the
    /// market; pass the order exactly as `OrderPlaced` emitted it to open a
    /// deal on it or cancel it. `benchmarks` packs four 64-bit entries per
    /// word: entry i is bits 64*(i%4) .. 64*(i%4)+63 of word i/4; missing
    /// entries are 0. (Packing cuts calldata and event bytes roughly by three.)
    struct Order {
        uint8 orderType;
        address author;
        address counterparty;
        uint64 duration;
        uint256 price;
        uint8 netflags;
        uint8 identityLevel;
        address blacklist;
        bytes32 tag;
        uint256[] benchmarks;
        uint256 frozenSum;
    }

    /// @notice Who a deal binds and when it began; fixed for the deal's life.
    /// Stored as a hash: pass it back exactly as `DealOpened` emitted it.
    struct DealParties {
        address supplier;
        address consumer;
        address master;
        uint32 start;
    }

    /// @notice A live deal's changing terms, packed into one slot.
    struct DealTerms {
        uint96 price;
        uint96 blockedBalance;
        uint32 end;
        uint32 lastBillTs;
    }

    /// @notice A pending change proposal of one side of a deal.
    struct ChangeRequest {
        uint96 price;
        uint64 duration;
        bool pending;
    }

    /// @notice A worker's link to its master; effective once confirmed.
    struct MasterLink {
        address master;
        bool confirmed;
    }

    /// A live deal in memory: its parties (checked against the stored hash) and terms.
    struct Deal {
        address supplier;
        address consumer;
        address master;
        uint32 start;
        uint96 price;
        uint96 blockedBalance;
        uint32 end;
        uint32 lastBillTs;
    }

    /// Outcome of billing, applied by the caller (stored, or the deal closed).
    struct Bill {
        uint256 paid;
        uint256 toppedUp;
        uint256 blocked;
        uint32 until;
        bool outOfFunds;
    }

    // ---------------------------------------------------------------- state

    /// @notice The payment token.
    IERC20 public immutable token;
    /// @notice Token wei per USD.
    IOracleUSD public immutable oracle;
    /// @notice Identity levels.
    IProfileRegistry public immutable profiles;
    /// @notice Blacklists.
    IBlacklist public immutable blacklist;

    /// @notice Orders ever placed (ids start at 1).
    uint128 public orderCount;
    /// @notice Deals ever opened (ids start at 1).
    uint128 public dealCount;

    /// @notice keccak256(abi.encode(order)) of each active order; zero once inactive.
    mapping(uint256 orderId => bytes32) public orderHash;
    /// @notice keccak256(abi.encode(parties)) of each live deal; zero once closed.
    mapping(uint256 dealId => bytes32) public dealPartiesHash;
    mapping(uint256 dealId => DealTerms) private dealTerms;
    mapping(uint256 dealId => mapping(uint8 side => ChangeRequest)) private changeRequests;
    mapping(address worker => MasterLink) private masterLinks;

    // ---------------------------------------------------------------- events

    /// @notice A new active order; `order` is what openDeal/cancelOrder take back.
    event OrderPlaced(uint256 indexed orderId, address indexed author, Order order);
    /// @notice The author withdrew an order; `refund` went back to the author.
    event OrderCancelled(uint256 indexed orderId, address indexed author, uint256 refund);
    /// @notice A deal opened; both orders are now inactive.
    event DealOpened(
        uint256 indexed dealId,
        uint256 indexed askId,
        uint256 indexed bidId,
        DealParties parties,
        uint256 price,
        uint64 duration,
        uint256 blockedBalance
    );
    /// @notice The deal was billed up to `billedUntil`; `paid` went to the master.
    event DealBilled(uint256 indexed dealId, uint256 paid, uint256 billedUntil, uint256 toppedUp, uint256 blockedBalance);
    /// @notice The deal closed; `refund` went back to the consumer.
    event DealClosed(uint256 indexed dealId, uint8 reason, uint256 closedAt, uint256 refund, uint8 blacklisted);
    /// @notice One side proposed new terms (side: ASK = supplier, BID = consumer).
    event ChangeRequestCreated(uint256 indexed dealId, uint8 indexed side, uint256 price, uint64 duration);
    /// @notice A side withdrew its proposal.
    event ChangeRequestCancelled(uint256 indexed dealId, uint8 indexed side);
    /// @notice New terms are in force; every pending request of the deal is gone.
    event DealChanged(uint256 indexed dealId, uint256 price, uint64 duration, uint256 end);
    /// @notice A worker asked to be bound to a master.
    event WorkerAnnounced(address indexed worker, address indexed master);
    /// @notice The master accepted the worker.
    event WorkerConfirmed(address indexed worker, address indexed master);
    /// @notice The link between worker and master is gone.
    event WorkerRemoved(address indexed worker, address indexed master);

    // ---------------------------------------------------------------- errors

    /// @notice Order type must be ASK (1) or BID (2).
    error InvalidOrderType(uint8 orderType);
    /// @notice An order carries at most MAX_BENCHMARKS entries (MAX_BENCHMARKS / 4 words).
    error TooManyBenchmarks(uint256 words, uint256 maxWords);
    /// @notice Price above MAX_PRICE.
    error PriceTooHigh(uint256 price, uint256 max);
    /// @notice Duration above MAX_DURATION.
    error DurationTooLong(uint64 duration, uint64 max);
    /// @notice Netflags above MAX_NETFLAGS.
    error InvalidNetflags(uint8 netflags);
    /// @notice Required identity level above MAX_IDENTITY_LEVEL.
    error InvalidIdentityLevel(uint8 level);
    /// @notice No active order with this id and these contents.
    error OrderNotActive(uint256 orderId);
    /// @notice Only the order's author may do this.
    error NotOrderAuthor(uint256 orderId, address caller);
    /// @notice openDeal takes an ask first and a bid second.
    error OrderTypeMismatch(uint256 askId, uint256 bidId);
    /// @notice Match rule: the ask costs more than the bid pays.
    error PriceMismatch(uint256 askPrice, uint256 bidPrice);
    /// @notice Match rule: the ask is shorter than the bid needs.
    error DurationMismatch(uint64 askDuration, uint64 bidDuration);
    /// @notice Match rule: the bid needs a network feature the ask lacks.
    error NetflagsMismatch(uint8 askNetflags, uint8 bidNetflags);
    /// @notice Match rule: benchmark `index` of the ask is below the bid's.
    error BenchmarkTooLow(uint256 index, uint64 ask, uint64 bid);
    /// @notice Match rule: an order is reserved for another counterparty.
    error CounterpartyMismatch(address required, address actual);
    /// @notice Match rule: an account's identity level is below what the other side requires.
    error IdentityLevelTooLow(address account, uint8 level, uint8 required);
    /// @notice Match rule: `who` has blacklisted `whom`.
    error Blacklisted(address who, address whom);
    /// @notice Only the ask's author or master, or the bid's author, opens a deal.
    error NotOrderParty(address caller);
    /// @notice No live deal with this id and these parties.
    error DealNotOpen(uint256 dealId);
    /// @notice Only the deal's consumer, supplier or master may do this.
    error NotDealParty(uint256 dealId, address caller);
    /// @notice Only the consumer closes a forward deal before its end.
    error ForwardDealNotEnded(uint256 dealId, uint256 end);
    /// @notice A forward deal past its end can only be billed or closed, not changed.
    error ForwardDealEnded(uint256 dealId, uint256 end);
    /// @notice Only the consumer may blacklist on close.
    error OnlyConsumerMayBlacklist(uint256 dealId);
    /// @notice closeDeal's blacklist must be 0 (nobody), 1 (worker) or 2 (master).
    error InvalidBlacklistChoice(uint8 choice);
    /// @notice Spot deals stay spot (duration 0); forward deals need an end after now.
    error InvalidChangeDuration(uint256 dealId, uint64 duration);
    /// @notice The side has no pending change request.
    error NoChangeRequest(uint256 dealId, uint8 side);
    /// @notice A worker is bound (or asked to be bound) to one master at a time.
    error WorkerAlreadyRegistered(address worker, address master);
    /// @notice A worker cannot be its own master, nor the zero address's.
    error InvalidMaster(address master);
    /// @notice This worker has not asked this master to confirm it.
    error NoPendingWorker(address worker, address master);
    /// @notice The worker is not linked to this master.
    error NotWorkerOf(address worker, address master);
    /// @notice Only the worker or the master may unlink them.
    error NotWorkerOrMaster(address caller);
    /// @notice A token amount outgrew the market's 96-bit fields.
    error AmountTooLarge(uint256 amount);
    /// @notice The token refused a transfer without reverting.
    error TokenTransferFailed(address from, address to, uint256 amount);
    /// @notice Deal times are 32-bit seconds; the chain's clock is past 2106.
    error TimestampOverflow(uint256 timestamp);

    constructor(IERC20 token_, IOracleUSD oracle_, IProfileRegistry profiles_, IBlacklist blacklist_) {
        token = token_;
        oracle = oracle_;
        profiles = profiles_;
        blacklist = blacklist_;
    }

    // ---------------------------------------------------------------- orders

    /// @notice Places an order. For a bid, the first period is blocked from the
    /// caller (approve the market first). Returns the new order's id.
    function placeOrder(Order calldata o) external returns (uint256 orderId) {
        _validate(o);
        Order memory m = o;
        m.author = msg.sender;
        m.frozenSum = o.orderType == BID ? _cost(o.price, _firstPeriod(o.duration)) : 0;
        orderId = ++orderCount;
        orderHash[orderId] = keccak256(abi.encode(m));
        emit OrderPlaced(orderId, msg.sender, m);
        if (m.frozenSum > 0) _pull(msg.sender, m.frozenSum);
    }

    /// @notice The author withdraws an active order; a bid's blocked sum is refunded.
    function cancelOrder(uint256 orderId, Order calldata o) external {
        _checkActive(orderId, o);
        if (o.author != msg.sender) revert NotOrderAuthor(orderId, msg.sender);
        delete orderHash[orderId];
        emit OrderCancelled(orderId, msg.sender, o.frozenSum);
        if (o.frozenSum > 0) _push(msg.sender, o.frozenSum);
    }

    /// @notice Opens a deal on an active ask and an active bid that match (see
    /// `checkMatch`). Called by the ask's author or master, or the bid's author.
    function openDeal(uint256 askId, Order calldata ask, uint256 bidId, Order calldata bid)
        external
        returns (uint256 dealId)
    {
        _checkActive(askId, ask);
        _checkActive(bidId, bid);
        if (ask.orderType != ASK || bid.orderType != BID) revert OrderTypeMismatch(askId, bidId);
        address master = masterOf(ask.author);
        if (msg.sender != ask.author && msg.sender != master && msg.sender != bid.author) {
            revert NotOrderParty(msg.sender);
        }
        _checkMatch(ask, bid, master);
        delete orderHash[askId];
        delete orderHash[bidId];
        dealId = _openDeal(askId, ask, bidId, bid.author, bid.duration, bid.frozenSum, master);
    }

    /// @notice Buys an active ask directly: places a matching bid for `duration`
    /// (0 = spot) at the ask's price and opens the deal in one transaction.
    function quickBuy(uint256 askId, Order calldata ask, uint64 duration) external returns (uint256 dealId) {
        _checkActive(askId, ask);
        if (ask.orderType != ASK) revert InvalidOrderType(ask.orderType);
        if (duration > MAX_DURATION) revert DurationTooLong(duration, MAX_DURATION);
        address master = masterOf(ask.author);
        Order memory bid = Order({
            orderType: BID,
            author: msg.sender,
            counterparty: master,
            duration: duration,
            price: ask.price,
            netflags: ask.netflags,
            identityLevel: 0,
            blacklist: address(0),
            tag: bytes32(0),
            benchmarks: ask.benchmarks,
            frozenSum: _cost(ask.price, _firstPeriod(duration))
        });
        _checkMatch(ask, bid, master);
        uint256 bidId = ++orderCount;
        emit OrderPlaced(bidId, msg.sender, bid);
        delete orderHash[askId];
        dealId = _openDeal(askId, ask, bidId, msg.sender, duration, bid.frozenSum, master);
        if (bid.frozenSum > 0) _pull(msg.sender, bid.frozenSum);
    }

    /// @notice Reverts with the first rule an ask/bid pair breaks (the same
    /// rule, in the same order, as fog-primitives' match predicate); returns
    /// normally when they match. Does not check that the orders are active.
    function checkMatch(Order calldata ask, Order calldata bid) external view {
        _checkMatch(ask, bid, masterOf(ask.author));
    }

    // ---------------------------------------------------------------- deals

    /// @notice Pays the master for the time served since the last bill and tops
    /// the blocked balance up for the next period; closes the deal if the
    /// consumer cannot pay or a forward deal has ended.
    function bill(uint256 dealId, DealParties calldata parties) external {
        Deal memory d = _liveDeal(dealId, parties);
        bool consumer = msg.sender == d.consumer;
        if (!consumer && msg.sender != d.supplier && msg.sender != d.master) revert NotDealParty(dealId, msg.sender);
        _billAndSettle(dealId, d, true);
    }

    /// @notice Closes a deal: bills it, then refunds what is still blocked to
    /// the consumer. Spot deals: any party, any time. Forward deals: only the
    /// consumer before the end, any party after. The consumer may blacklist the
    /// worker (1) or its master (2) at the same time.
    function closeDeal(uint256 dealId, DealParties calldata parties, uint8 blacklistChoice) external {
        Deal memory d = _liveDeal(dealId, parties);
        bool consumer = msg.sender == d.consumer;
        if (!consumer && msg.sender != d.supplier && msg.sender != d.master) revert NotDealParty(dealId, msg.sender);
        if (blacklistChoice > BLACKLIST_MASTER) revert InvalidBlacklistChoice(blacklistChoice);
        if (blacklistChoice != BLACKLIST_NOBODY && !consumer) revert OnlyConsumerMayBlacklist(dealId);
        if (d.end != 0 && block.timestamp < d.end && !consumer) revert ForwardDealNotEnded(dealId, d.end);

        Bill memory b = _bill(d, false);
        _emitBill(dealId, b);
        uint8 reason = b.outOfFunds ? CLOSED_OUT_OF_FUNDS : (consumer ? CLOSED_BY_CONSUMER : CLOSED_BY_SUPPLIER);
        if (d.end != 0 && block.timestamp >= d.end && !b.outOfFunds) reason = CLOSED_EXPIRED;
        _close(dealId, d, b, reason, blacklistChoice);
        address refused = blacklistChoice == BLACKLIST_WORKER ? d.supplier : d.master;
        // A consumer who dealt with itself has nobody to blacklist.
        if (blacklistChoice != BLACKLIST_NOBODY && refused != d.consumer) blacklist.addFor(d.consumer, refused);
    }

    /// @notice Proposes new terms. A consumer raising the price, or a supplier
    /// (or master) lowering it, with the duration unchanged, takes effect at
    /// once; otherwise a compatible pending request of the other side (same
    /// duration, consumer's price >= supplier's) accepts it at the supplier's
    /// price; otherwise it waits, replacing the side's previous request. The deal
    /// is billed before it changes. `duration` is the deal's new total length
    /// (0 for spot deals, which stay spot).
    function requestChange(uint256 dealId, DealParties calldata parties, uint256 newPrice, uint64 newDuration)
        external
    {
        Deal memory d = _liveDeal(dealId, parties);
        uint8 side;
        if (msg.sender == d.consumer) side = BID;
        else if (msg.sender == d.supplier || msg.sender == d.master) side = ASK;
        else revert NotDealParty(dealId, msg.sender);
        if (newPrice > MAX_PRICE) revert PriceTooHigh(newPrice, MAX_PRICE);
        if (d.end != 0 && block.timestamp >= d.end) revert ForwardDealEnded(dealId, d.end);
        if (d.end == 0) {
            if (newDuration != 0) revert InvalidChangeDuration(dealId, newDuration);
        } else if (newDuration == 0 || newDuration > MAX_DURATION || d.start + uint256(newDuration) <= block.timestamp) {
            revert InvalidChangeDuration(dealId, newDuration);
        }

        uint64 duration = d.end == 0 ? 0 : d.end - d.start;
        if (
            newDuration == duration
                && ((side == BID && newPrice > d.price) || (side == ASK && newPrice < d.price))
        ) {
            _applyChange(dealId, d, newPrice, newDuration);
            return;
        }
        uint8 other = side == BID ? ASK : BID;
        ChangeRequest memory o = changeRequests[dealId][other];
        if (o.pending && o.duration == newDuration && (side == BID ? newPrice >= o.price : newPrice <= o.price)) {
            _applyChange(dealId, d, side == BID ? o.price : newPrice, newDuration);
            return;
        }
        changeRequests[dealId][side] = ChangeRequest(uint96(newPrice), newDuration, true);
        emit ChangeRequestCreated(dealId, side, newPrice, newDuration);
    }

    /// @notice Withdraws the caller's side's pending change request.
    function cancelChangeRequest(uint256 dealId, DealParties calldata parties) external {
        Deal memory d = _liveDeal(dealId, parties);
        uint8 side;
        if (msg.sender == d.consumer) side = BID;
        else if (msg.sender == d.supplier || msg.sender == d.master) side = ASK;
        else revert NotDealParty(dealId, msg.sender);
        if (!changeRequests[dealId][side].pending) revert NoChangeRequest(dealId, side);
        delete changeRequests[dealId][side];
        emit ChangeRequestCancelled(dealId, side);
    }

    /// @notice A side's pending change request (pending = false when none).
    function changeRequest(uint256 dealId, uint8 side) external view returns (ChangeRequest memory) {
        return changeRequests[dealId][side];
    }

    /// @notice A live deal's current terms (all zero once closed or never opened).
    function dealTermsOf(uint256 dealId) external view returns (DealTerms memory) {
        return dealTerms[dealId];
    }

    /// @notice DEAL_NONE, DEAL_ACCEPTED or DEAL_CLOSED.
    function dealStatus(uint256 dealId) external view returns (uint8) {
        if (dealPartiesHash[dealId] != bytes32(0)) return DEAL_ACCEPTED;
        if (dealId != 0 && dealId <= dealCount) return DEAL_CLOSED;
        return DEAL_NONE;
    }

    // ---------------------------------------------------------------- workers

    /// @notice The caller (a worker) asks `master` to take it; effective once confirmed.
    function registerWorker(address master) external {
        if (master == address(0) || master == msg.sender) revert InvalidMaster(master);
        MasterLink memory l = masterLinks[msg.sender];
        if (l.master != address(0)) revert WorkerAlreadyRegistered(msg.sender, l.master);
        masterLinks[msg.sender] = MasterLink(master, false);
        emit WorkerAnnounced(msg.sender, master);
    }

    /// @notice The caller (a master) accepts `worker`; its payouts now go to the caller.
    function confirmWorker(address worker) external {
        MasterLink memory l = masterLinks[worker];
        if (l.master != msg.sender || l.confirmed) revert NoPendingWorker(worker, msg.sender);
        masterLinks[worker].confirmed = true;
        emit WorkerConfirmed(worker, msg.sender);
    }

    /// @notice The worker or its master ends their link (pending or confirmed).
    /// Live deals keep paying the master they were opened with.
    function removeWorker(address worker, address master) external {
        if (msg.sender != worker && msg.sender != master) revert NotWorkerOrMaster(msg.sender);
        if (masterLinks[worker].master != master || master == address(0)) revert NotWorkerOf(worker, master);
        delete masterLinks[worker];
        emit WorkerRemoved(worker, master);
    }

    /// @notice The account that receives `account`'s payouts: its confirmed
    /// master, or itself.
    function masterOf(address account) public view returns (address) {
        MasterLink memory l = masterLinks[account];
        return l.confirmed ? l.master : account;
    }

    /// @notice A worker's link: the master it asked for and whether confirmed.
    function masterLink(address worker) external view returns (MasterLink memory) {
        return masterLinks[worker];
    }

    // ---------------------------------------------------------------- internals

    function _validate(Order calldata o) private pure {
        if (o.orderType != ASK && o.orderType != BID) revert InvalidOrderType(o.orderType);
        uint256 maxWords = MAX_BENCHMARKS / BENCHMARKS_PER_WORD;
        if (o.benchmarks.length > maxWords) revert TooManyBenchmarks(o.benchmarks.length, maxWords);
        if (o.price > MAX_PRICE) revert PriceTooHigh(o.price, MAX_PRICE);
        if (o.duration > MAX_DURATION) revert DurationTooLong(o.duration, MAX_DURATION);
        if (o.netflags > MAX_NETFLAGS) revert InvalidNetflags(o.netflags);
        if (o.identityLevel > MAX_IDENTITY_LEVEL) revert InvalidIdentityLevel(o.identityLevel);
    }

    function _checkActive(uint256 orderId, Order calldata o) private view {
        bytes32 h = orderHash[orderId];
        if (h == bytes32(0) || h != keccak256(abi.encode(o))) revert OrderNotActive(orderId);
    }

    /// The match rule of DESIGN.md section 3, cheap checks first. fog-primitives
    /// implements the same checks in the same order.
    function _checkMatch(Order calldata ask, Order memory bid, address master) private view {
        if (ask.price > bid.price) revert PriceMismatch(ask.price, bid.price);
        if (ask.duration < bid.duration) revert DurationMismatch(ask.duration, bid.duration);
        if (bid.netflags & ~ask.netflags != 0) revert NetflagsMismatch(ask.netflags, bid.netflags);
        uint256 na = ask.benchmarks.length;
        uint256 nb = bid.benchmarks.length;
        for (uint256 w = 0; w < nb; w++) {
            uint256 needWord = bid.benchmarks[w];
            if (needWord == 0) continue;
            uint256 haveWord = w < na ? ask.benchmarks[w] : 0;
            for (uint256 k = 0; k < BENCHMARKS_PER_WORD; k++) {
                uint64 need = uint64(needWord >> (64 * k));
                uint64 have = uint64(haveWord >> (64 * k));
                if (have < need) revert BenchmarkTooLow(w * BENCHMARKS_PER_WORD + k, have, need);
            }
        }

        if (ask.counterparty != address(0)) {
            address bidMaster = masterOf(bid.author);
            if (ask.counterparty != bidMaster) revert CounterpartyMismatch(ask.counterparty, bidMaster);
        }
        if (bid.counterparty != address(0) && bid.counterparty != master) {
            revert CounterpartyMismatch(bid.counterparty, master);
        }

        if (ask.identityLevel > ANONYMOUS) {
            uint8 level = profiles.identityLevel(bid.author);
            if (level < ask.identityLevel) revert IdentityLevelTooLow(bid.author, level, ask.identityLevel);
        }
        if (bid.identityLevel > ANONYMOUS) {
            uint8 level = profiles.identityLevel(ask.author);
            if (level < bid.identityLevel) revert IdentityLevelTooLow(ask.author, level, bid.identityLevel);
        }

        // The seven directions, in DESIGN.md's order; repeats (master == author,
        // empty order blacklist) are skipped, which cannot change the outcome.
        bool ownMaster = master == ask.author;
        if (bid.blacklist != address(0)) {
            _refuse(bid.blacklist, master);
            if (!ownMaster) _refuse(bid.blacklist, ask.author);
        }
        _refuse(bid.author, master);
        if (!ownMaster) _refuse(bid.author, ask.author);
        if (ask.blacklist != address(0)) _refuse(ask.blacklist, bid.author);
        _refuse(master, bid.author);
        if (!ownMaster) _refuse(ask.author, bid.author);
    }

    function _refuse(address who, address whom) private view {
        if (blacklist.isBlacklisted(who, whom)) revert Blacklisted(who, whom);
    }

    function _openDeal(
        uint256 askId,
        Order calldata ask,
        uint256 bidId,
        address consumer,
        uint64 duration,
        uint256 blocked,
        address master
    ) private returns (uint256 dealId) {
        uint32 start = _now32();
        dealId = ++dealCount;
        DealParties memory parties = DealParties(ask.author, consumer, master, start);
        dealPartiesHash[dealId] = keccak256(abi.encode(parties));
        dealTerms[dealId] = DealTerms({
            price: uint96(ask.price), // ask.price <= MAX_PRICE, checked when placed
            blockedBalance: _amount96(blocked),
            end: duration == 0 ? 0 : start + uint32(duration),
            lastBillTs: start
        });
        emit DealOpened(dealId, askId, bidId, parties, ask.price, duration, blocked);
    }

    function _liveDeal(uint256 dealId, DealParties calldata p) private view returns (Deal memory d) {
        bytes32 h = dealPartiesHash[dealId];
        if (h == bytes32(0) || h != keccak256(abi.encode(p))) revert DealNotOpen(dealId);
        DealTerms memory t = dealTerms[dealId];
        d = Deal(p.supplier, p.consumer, p.master, p.start, t.price, t.blockedBalance, t.end, t.lastBillTs);
    }

    /// Computes a bill (no state change but token pulls from the consumer).
    function _bill(Deal memory d, bool topUp) private returns (Bill memory b) {
        uint256 now_ = block.timestamp;
        b.until = d.end != 0 && now_ > d.end ? d.end : uint32(now_);
        uint256 rate = oracle.price();
        uint256 due = _costAt(d.price, b.until - d.lastBillTs, rate);
        uint256 blocked = d.blockedBalance;
        if (due > blocked) {
            if (_tryPull(d.consumer, due - blocked)) {
                b.toppedUp = due - blocked;
                blocked = due;
            } else {
                due = blocked;
                b.outOfFunds = true;
            }
        }
        blocked -= due;
        b.paid = due;
        if (topUp && !b.outOfFunds) {
            uint256 next;
            if (d.end == 0) next = SPOT_PERIOD;
            else if (b.until < d.end) next = _min(d.end - b.until, FORWARD_PERIOD);
            uint256 needed = _costAt(d.price, next, rate);
            if (needed > blocked) {
                if (_tryPull(d.consumer, needed - blocked)) {
                    b.toppedUp += needed - blocked;
                    blocked = needed;
                } else {
                    b.outOfFunds = true;
                }
            }
        }
        b.blocked = blocked;
    }

    /// Bills, then stores the result or closes the deal when it cannot go on.
    function _billAndSettle(uint256 dealId, Deal memory d, bool topUp) private {
        Bill memory b = _bill(d, topUp);
        _emitBill(dealId, b);
        if (b.outOfFunds) {
            _close(dealId, d, b, CLOSED_OUT_OF_FUNDS, BLACKLIST_NOBODY);
        } else if (d.end != 0 && block.timestamp >= d.end) {
            _close(dealId, d, b, CLOSED_EXPIRED, BLACKLIST_NOBODY);
        } else {
            dealTerms[dealId] = DealTerms(d.price, _amount96(b.blocked), d.end, b.until);
            if (b.paid > 0) _push(d.master, b.paid);
        }
    }

    function _emitBill(uint256 dealId, Bill memory b) private {
        emit DealBilled(dealId, b.paid, b.until, b.toppedUp, b.blocked);
    }

    function _close(uint256 dealId, Deal memory d, Bill memory b, uint8 reason, uint8 blacklisted) private {
        // Pending change requests of a closed deal stay behind inert: deal ids
        // are never reused and every change needs a live deal.
        delete dealPartiesHash[dealId];
        delete dealTerms[dealId];
        emit DealClosed(dealId, reason, b.until, b.blocked, blacklisted);
        if (b.paid > 0) _push(d.master, b.paid);
        if (b.blocked > 0) _push(d.consumer, b.blocked);
    }

    function _applyChange(uint256 dealId, Deal memory d, uint256 newPrice, uint64 newDuration) private {
        Bill memory b = _bill(d, true);
        _emitBill(dealId, b);
        if (b.outOfFunds) {
            _close(dealId, d, b, CLOSED_OUT_OF_FUNDS, BLACKLIST_NOBODY);
            return;
        }
        uint32 end = newDuration == 0 ? 0 : d.start + uint32(newDuration);
        // newPrice <= MAX_PRICE, checked by the caller
        dealTerms[dealId] = DealTerms(uint96(newPrice), _amount96(b.blocked), end, b.until);
        delete changeRequests[dealId][ASK];
        delete changeRequests[dealId][BID];
        emit DealChanged(dealId, newPrice, newDuration, end);
        if (b.paid > 0) _push(d.master, b.paid);
    }

    function _firstPeriod(uint64 duration) private pure returns (uint256) {
        return duration == 0 ? SPOT_PERIOD : _min(duration, FORWARD_PERIOD);
    }

    function _cost(uint256 price, uint256 secs) private view returns (uint256) {
        return _costAt(price, secs, oracle.price());
    }

    /// Token wei for `secs` seconds at `price` USD-wei/s and `rate` token wei per USD.
    /// price < 2^96, secs < 2^32 and rate < 2^128 cannot overflow.
    function _costAt(uint256 price, uint256 secs, uint256 rate) private pure returns (uint256) {
        return price * secs * rate / 1e18;
    }

    function _pull(address from, uint256 amount) private {
        // FogToken reverts on failure (OpenZeppelin ERC20); the bool is checked for other tokens.
        if (!token.transferFrom(from, address(this), amount)) revert TokenTransferFailed(from, address(this), amount);
    }

    /// Pulls only when balance and allowance suffice, so a caller cannot fake
    /// "out of funds" by starving the token call of gas.
    function _tryPull(address from, uint256 amount) private returns (bool) {
        if (token.balanceOf(from) < amount || token.allowance(from, address(this)) < amount) return false;
        _pull(from, amount);
        return true;
    }

    function _push(address to, uint256 amount) private {
        if (!token.transfer(to, amount)) revert TokenTransferFailed(address(this), to, amount);
    }

    function _amount96(uint256 amount) private pure returns (uint96) {
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        return uint96(amount);
    }

    function _now32() private view returns (uint32) {
        // Deal times are 32-bit seconds (until 2106); a later clock is refused, never truncated.
        if (block.timestamp > type(uint32).max - MAX_DURATION) revert TimestampOverflow(block.timestamp);
        return uint32(block.timestamp);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
