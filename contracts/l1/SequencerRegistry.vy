# pragma version ~=0.4.3
"""
@title Sequencer registry
@custom:contract-name SequencerRegistry
@license AGPL-3.0-only
@notice ETH stake of the shared sequencer's operators, leader rotation by stake-weighted lottery
        per term of `TERM_BLOCKS` L1 blocks, jailing, and slashing (only by the Slasher, once per
        evidence id) with the slashed amount split between reporter, victim and treasury.
@dev Stake changes take effect from the next term: every change writes a checkpoint
     (`from_term`, weight) for the sequencer, and `leader_of(term)` reads the weights of `term`
     (the total is their sum), which can no longer change once the term has begun. The lottery
     seed of term T is the hash of the first L1 block of term T - 1 (known one term ahead, not
     chosen by T's leader; read through snekmate's `block_hash`, which reaches 8,191 blocks
     back via the EIP-2935 history contract); the leader is cached at its first use
     (`fix_leader`), so it stays fixed even after that hash has left the history.
     The lottery walks every listed sequencer (at most `MAX_SEQUENCERS`, never unlisted), so
     drawing a leader costs a few cold storage reads per sequencer; a jailed leader keeps its
     term but is barred from posting in it.
     Slashing payouts are credited and pulled with `claim()`, so a reverting recipient cannot
     block a slash. Invariant: this contract's ETH balance equals the sum of all stakes
     (active or unbonding) plus the sum of unclaimed payouts.
"""

from snekmate.auth import ownable
from snekmate.utils import block_hash

initializes: ownable

exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)


# @dev Basis points in one whole.
BPS: constant(uint256) = 10_000
# @dev At most this many sequencers are ever listed (the lottery walks the list).
MAX_SEQUENCERS: constant(uint256) = 32
# @dev Binary search over checkpoints: 2**64 checkpoints is more than enough.
_SEARCH_STEPS: constant(uint256) = 64
# @dev A checkpoint packs its first term above its weight.
_WEIGHT_BITS: constant(uint256) = 192
_WEIGHT_MASK: constant(uint256) = 2**192 - 1
# @dev Flags of a term's cached leader slot.
_FIXED: constant(uint256) = 1 << 255
_BARRED: constant(uint256) = 1 << 254
_ADDRESS_MASK: constant(uint256) = 2**160 - 1
# @dev Fields of an account's status slot.
_REGISTERED: constant(uint256) = 1
_JAILED: constant(uint256) = 2
_LISTED: constant(uint256) = 4
_EXIT_SHIFT: constant(uint256) = 64
# @dev Longest RPC endpoint URL a sequencer may publish (bytes).
MAX_ENDPOINT_BYTES: constant(uint256) = 256


# @notice Smallest stake that may register and stay eligible (wei).
MIN_STAKE: public(immutable(uint256))
# @notice Length of a term (L1 blocks).
TERM_BLOCKS: public(immutable(uint256))
# @notice Time between `request_exit` and `withdraw` (L1 blocks).
UNBONDING_BLOCKS: public(immutable(uint256))
# @notice Longest time from a signed promise to the moment its breach is provable (L1 blocks):
#         promise deadlines, forced-inclusion delays and one term all fit in it.
EVIDENCE_WINDOW_BLOCKS: public(immutable(uint256))
# @notice Share of a slash paid to the reporter (basis points).
REPORTER_BPS: public(immutable(uint256))
# @notice Share of a slash paid to the victim (basis points); the treasury gets the rest.
VICTIM_BPS: public(immutable(uint256))
# @notice Receives what is left of each slash.
TREASURY: public(immutable(address))


# @notice The only contract that may slash (set once by the owner).
slasher: public(address)

# @notice Stake held for a sequencer, active or unbonding (wei).
stake_of: public(HashMap[address, uint256])
# Per account, one slot: _REGISTERED | _JAILED | _LISTED | exit request block << _EXIT_SHIFT
# (views: `registered`, `jailed`, `exit_requested_at`).
_status: HashMap[address, uint256]
# @notice Unclaimed slashing payouts per beneficiary (wei).
claimable: public(HashMap[address, uint256])
# @notice Evidence ids already used by a slash.
evidence_used: public(HashMap[bytes32, bool])
# @notice Every account that ever registered, in registration order (the lottery order).
sequencers: public(DynArray[address, MAX_SEQUENCERS])
# @notice The JSON-RPC URL a sequencer publishes for its service (empty: none), where the
#         other sequencers forward writes while it leads.
endpoint: public(HashMap[address, String[MAX_ENDPOINT_BYTES]])

# weight checkpoints per sequencer, one slot each (the total is summed when needed):
# from_term << 192 | weight (wei of stake counted in the lottery from `from_term` on)
_checkpoints: HashMap[address, HashMap[uint256, uint256]]
_checkpoint_count: HashMap[address, uint256]
# leader cached at first use, per term, in one slot: _FIXED | _BARRED (jailed during the term,
# may no longer post) | leader address in the low 160 bits
_term_leader: HashMap[uint256, uint256]


event SlasherSet:
    slasher: indexed(address)


event Registered:
    sequencer: indexed(address)
    stake: uint256
    effective_term: uint256


event ToppedUp:
    sequencer: indexed(address)
    amount: uint256
    stake: uint256
    effective_term: uint256


event ExitRequested:
    sequencer: indexed(address)
    withdrawable_at: uint256


event Withdrawn:
    sequencer: indexed(address)
    amount: uint256


event Slashed:
    sequencer: indexed(address)
    evidence_id: indexed(bytes32)
    amount: uint256
    reporter: address
    reporter_amount: uint256
    victim: address
    victim_amount: uint256
    treasury_amount: uint256
    remaining_stake: uint256


event Jailed:
    sequencer: indexed(address)
    evidence_id: indexed(bytes32)


event Claimed:
    beneficiary: indexed(address)
    amount: uint256


event LeaderFixed:
    term: indexed(uint256)
    leader: indexed(address)


event EndpointSet:
    sequencer: indexed(address)
    url: String[MAX_ENDPOINT_BYTES]


@deploy
def __init__(
    min_stake: uint256,
    term_blocks: uint256,
    unbonding_blocks: uint256,
    evidence_window_blocks: uint256,
    reporter_bps: uint256,
    victim_bps: uint256,
    treasury: address,
):
    """
    @notice Set every parameter for good; the slasher is wired once afterwards (`set_slasher`).
    @param min_stake Smallest stake (wei).
    @param term_blocks Term length (L1 blocks).
    @param unbonding_blocks Exit delay (L1 blocks); must exceed the evidence window plus a term.
    @param evidence_window_blocks Longest promise-to-proof delay (L1 blocks), at least a term.
    @param reporter_bps Reporter share of a slash (basis points).
    @param victim_bps Victim share of a slash (basis points).
    @param treasury Receives the rest of each slash.
    """
    assert min_stake > 0, "registry: zero min stake"
    assert min_stake < 2**128, "registry: min stake too large"
    assert term_blocks > 0, "registry: zero term"
    assert evidence_window_blocks >= term_blocks, "registry: evidence window shorter than a term"
    assert (
        unbonding_blocks > evidence_window_blocks + term_blocks
    ), "registry: unbonding shorter than evidence window"
    assert reporter_bps + victim_bps <= BPS, "registry: shares above 100%"
    assert treasury != empty(address), "registry: zero treasury"
    ownable.__init__()
    MIN_STAKE = min_stake
    TERM_BLOCKS = term_blocks
    UNBONDING_BLOCKS = unbonding_blocks
    EVIDENCE_WINDOW_BLOCKS = evidence_window_blocks
    REPORTER_BPS = reporter_bps
    VICTIM_BPS = victim_bps
    TREASURY = treasury


# --- wiring ---


@external
def set_slasher(slasher: address):
    """
    @notice Wire the Slasher, once. Only the owner.
    @param slasher The Slasher contract.
    """
    ownable._check_owner()
    assert self.slasher == empty(address), "registry: slasher already set"
    assert slasher != empty(address), "registry: zero slasher"
    self.slasher = slasher
    log SlasherSet(slasher=slasher)


# --- staking ---


@external
@payable
def register():
    """
    @notice Become a sequencer with `msg.value` wei of stake (at least `MIN_STAKE`). Eligible for
            the lottery from the next term.
    """
    status: uint256 = self._status[msg.sender]
    assert status & _REGISTERED == 0, "registry: already registered"
    assert status & _JAILED == 0, "registry: jailed"
    assert msg.value >= MIN_STAKE, "registry: stake below minimum"
    if status & _LISTED == 0:
        assert len(self.sequencers) < MAX_SEQUENCERS, "registry: too many sequencers"
        self.sequencers.append(msg.sender)
    self._status[msg.sender] = _REGISTERED | _LISTED
    self.stake_of[msg.sender] = msg.value
    term: uint256 = self._set_weight(msg.sender, msg.value)
    log Registered(sequencer=msg.sender, stake=msg.value, effective_term=term)


@external
@payable
def top_up():
    """
    @notice Add `msg.value` wei to your stake; it counts in the lottery from the next term.
    """
    status: uint256 = self._status[msg.sender]
    assert status & _REGISTERED != 0, "registry: not registered"
    assert status >> _EXIT_SHIFT == 0, "registry: exiting"
    assert status & _JAILED == 0, "registry: jailed"
    assert msg.value > 0, "registry: zero top-up"
    stake: uint256 = self.stake_of[msg.sender] + msg.value
    self.stake_of[msg.sender] = stake
    term: uint256 = self._set_weight(msg.sender, stake)
    log ToppedUp(sequencer=msg.sender, amount=msg.value, stake=stake, effective_term=term)


@external
def request_exit():
    """
    @notice Start unbonding: no longer eligible from the next term; `withdraw` after
            `UNBONDING_BLOCKS` L1 blocks. The stake can still be slashed meanwhile.
    """
    status: uint256 = self._status[msg.sender]
    assert status & _REGISTERED != 0, "registry: not registered"
    assert status >> _EXIT_SHIFT == 0, "registry: exit already requested"
    self._status[msg.sender] = status | (block.number << _EXIT_SHIFT)
    self._set_weight(msg.sender, 0)
    log ExitRequested(sequencer=msg.sender, withdrawable_at=block.number + UNBONDING_BLOCKS)


@external
@nonreentrant
def withdraw():
    """
    @notice Take back what is left of your stake after unbonding (wei), once.
    """
    status: uint256 = self._status[msg.sender]
    assert status & _REGISTERED != 0, "registry: not registered"
    requested: uint256 = status >> _EXIT_SHIFT
    assert requested != 0, "registry: exit not requested"
    assert block.number >= requested + UNBONDING_BLOCKS, "registry: still unbonding"
    amount: uint256 = self.stake_of[msg.sender]
    self.stake_of[msg.sender] = 0
    self._status[msg.sender] = status & (_JAILED | _LISTED)
    log Withdrawn(sequencer=msg.sender, amount=amount)
    if amount > 0:
        send(msg.sender, amount)


@external
@nonreentrant
def claim():
    """
    @notice Take your slashing payouts (wei): reporter rewards, victim compensation, treasury.
    """
    amount: uint256 = self.claimable[msg.sender]
    assert amount > 0, "registry: nothing to claim"
    self.claimable[msg.sender] = 0
    log Claimed(beneficiary=msg.sender, amount=amount)
    send(msg.sender, amount)


@external
def set_endpoint(url: String[MAX_ENDPOINT_BYTES]):
    """
    @notice Publish (or, with an empty string, withdraw) the JSON-RPC URL of your sequencer
            service. Followers forward the writes they receive to the URL of the term's leader.
            Only a registered sequencer, for itself; takes effect at once.
    @param url The service's base URL (at most 256 bytes), e.g. "https://seq.example:8547".
    """
    assert self._status[msg.sender] & _REGISTERED != 0, "registry: not registered"
    self.endpoint[msg.sender] = url
    log EndpointSet(sequencer=msg.sender, url=url)


# --- slashing ---


@external
def slash(
    sequencer: address,
    amount: uint256,
    evidence_id: bytes32,
    reporter: address,
    victim: address,
    jail: bool,
) -> uint256:
    """
    @notice Take up to `amount` wei of a sequencer's stake (active or unbonding). Only the Slasher,
            once per evidence id. The reporter gets `REPORTER_BPS`, the victim `VICTIM_BPS` (the
            treasury instead when there is no victim), the treasury the rest. Jails when asked or
            when the stake left is below `MIN_STAKE`.
    @param sequencer Who broke a promise.
    @param amount Wei to take (capped at the stake).
    @param evidence_id Identifies the breach; usable once.
    @param reporter Who proved it.
    @param victim Who is compensated (empty: nobody in particular).
    @param jail Jail regardless of the stake left.
    @return The wei actually taken.
    """
    assert msg.sender == self.slasher, "registry: only slasher"
    assert not self.evidence_used[evidence_id], "registry: evidence already used"
    stake: uint256 = self.stake_of[sequencer]
    assert stake > 0, "registry: nothing to slash"
    self.evidence_used[evidence_id] = True
    taken: uint256 = min(amount, stake)
    stake -= taken
    self.stake_of[sequencer] = stake
    to_reporter: uint256 = taken * REPORTER_BPS // BPS
    to_victim: uint256 = taken * VICTIM_BPS // BPS
    to_treasury: uint256 = taken - to_reporter - to_victim
    if victim == empty(address):
        to_treasury += to_victim
        to_victim = 0
    self.claimable[reporter] += to_reporter
    self.claimable[victim] += to_victim
    self.claimable[TREASURY] += to_treasury
    log Slashed(
        sequencer=sequencer,
        evidence_id=evidence_id,
        amount=taken,
        reporter=reporter,
        reporter_amount=to_reporter,
        victim=victim,
        victim_amount=to_victim,
        treasury_amount=to_treasury,
        remaining_stake=stake,
    )
    status: uint256 = self._status[sequencer]
    if (jail or stake < MIN_STAKE) and status & _JAILED == 0:
        self._status[sequencer] = status | _JAILED
        # a jailed leader keeps its term (the leader is fixed) but may no longer post in it
        term: uint256 = block.number // TERM_BLOCKS
        packed: uint256 = self._term_leader[term]
        if packed & _FIXED != 0 and packed & _ADDRESS_MASK == convert(sequencer, uint256):
            self._term_leader[term] = packed | _BARRED
        log Jailed(sequencer=sequencer, evidence_id=evidence_id)
    self._set_weight(sequencer, self._eligible_weight(sequencer))
    return taken


# --- terms and leaders ---


@external
@view
def current_term() -> uint256:
    """
    @notice The term of the current L1 block.
    """
    return block.number // TERM_BLOCKS


@external
@view
def term_start(term: uint256) -> uint256:
    """
    @notice First L1 block of `term`.
    """
    return term * TERM_BLOCKS


@external
@view
def weight_at(sequencer: address, term: uint256) -> uint256:
    """
    @notice A sequencer's lottery weight in `term` (wei of stake; 0 when not eligible).
    """
    return self._weight_at(sequencer, term)


@external
@view
def total_weight_at(term: uint256) -> uint256:
    """
    @notice Sum of all lottery weights in `term` (wei).
    """
    return self._total_weight_at(term)


@external
@view
def registered(account: address) -> bool:
    """
    @notice Whether `account` is a registered sequencer (until it withdraws).
    """
    return self._status[account] & _REGISTERED != 0


@external
@view
def jailed(account: address) -> bool:
    """
    @notice Jailed sequencers are never eligible again and may not post batches.
    """
    return self._status[account] & _JAILED != 0


@external
@view
def exit_requested_at(account: address) -> uint256:
    """
    @notice L1 block at which `account` requested exit (0: not exiting).
    """
    return self._status[account] >> _EXIT_SHIFT


@external
@view
def sequencer_count() -> uint256:
    """
    @notice How many accounts ever registered.
    """
    return len(self.sequencers)


@external
@view
def leader_of(term: uint256) -> address:
    """
    @notice The leader of `term`: cached if fixed, otherwise computed from the term's weights
            and seed. Empty when nobody is eligible. Reverts for a term whose seed block is not
            yet mined or no longer in the EVM's history (and whose leader was never fixed).
    """
    packed: uint256 = self._term_leader[term]
    if packed & _FIXED != 0:
        return self._leader_address(packed)
    return self._draw_leader(term)


@external
def fix_leader(term: uint256) -> address:
    """
    @notice Compute and cache the leader of `term` (anyone may call; idempotent). The Inbox does
            it on the first batch of a term; fishermen may do it for every term.
    @return The leader (empty when nobody is eligible).
    """
    return self._leader_address(self._fix_leader(term))


@external
def can_post(poster: address) -> bool:
    """
    @notice Whether `poster` is the (fixed) leader of the current term and has not been jailed.
    @dev Fixes the current term's leader on first use.
    """
    packed: uint256 = self._fix_leader(block.number // TERM_BLOCKS)
    return (
        packed & _BARRED == 0
        and poster != empty(address)
        and packed & _ADDRESS_MASK == convert(poster, uint256)
    )


@internal
def _fix_leader(term: uint256) -> uint256:
    packed: uint256 = self._term_leader[term]
    if packed & _FIXED != 0:
        return packed
    assert term <= block.number // TERM_BLOCKS, "registry: term not started"
    leader: address = self._draw_leader(term)
    packed = _FIXED | convert(leader, uint256)
    if self._status[leader] & _JAILED != 0:
        packed |= _BARRED
    self._term_leader[term] = packed
    log LeaderFixed(term=term, leader=leader)
    return packed


@internal
@pure
def _leader_address(packed: uint256) -> address:
    return convert(convert(packed & _ADDRESS_MASK, uint160), address)


@internal
@view
def _draw_leader(term: uint256) -> address:
    total: uint256 = self._total_weight_at(term)
    if total == 0:
        return empty(address)
    seed: bytes32 = self._seed(term)
    ticket: uint256 = convert(keccak256(abi_encode(seed, term)), uint256) % total
    for sequencer: address in self.sequencers:
        weight: uint256 = self._weight_at(sequencer, term)
        if ticket < weight:
            return sequencer
        ticket -= weight
    raise "registry: weights out of balance"


@internal
@view
def _seed(term: uint256) -> bytes32:
    # The hash of the first block of the previous term; term 0 (nobody is eligible) has none.
    assert term > 0, "registry: no seed for term 0"
    seed_block: uint256 = (term - 1) * TERM_BLOCKS
    assert seed_block < block.number, "registry: seed not yet known"
    seed: bytes32 = block_hash._block_hash(seed_block)
    assert seed != empty(bytes32), "registry: seed no longer available"
    return seed


# --- weights ---


@internal
@view
def _eligible_weight(sequencer: address) -> uint256:
    status: uint256 = self._status[sequencer]
    if status & _REGISTERED == 0 or status & _JAILED != 0 or status >> _EXIT_SHIFT != 0:
        return 0
    stake: uint256 = self.stake_of[sequencer]
    if stake < MIN_STAKE:
        return 0
    return stake


@internal
def _set_weight(sequencer: address, weight: uint256) -> uint256:
    """
    @dev Make `weight` the sequencer's weight from the next term on. Returns that term.
    """
    effective: uint256 = block.number // TERM_BLOCKS + 1
    self._write_checkpoint(sequencer, effective, weight)
    return effective


@internal
@view
def _total_weight_at(term: uint256) -> uint256:
    # summed rather than checkpointed: a stake change then writes one checkpoint, not two, and
    # the lottery's second pass over the same slots is warm
    total: uint256 = 0
    for sequencer: address in self.sequencers:
        total += self._weight_at(sequencer, term)
    return total


@internal
def _write_checkpoint(key: address, effective: uint256, weight: uint256):
    packed: uint256 = (effective << _WEIGHT_BITS) | weight
    count: uint256 = self._checkpoint_count[key]
    if count > 0 and self._checkpoints[key][count - 1] >> _WEIGHT_BITS == effective:
        self._checkpoints[key][count - 1] = packed
        return
    self._checkpoints[key][count] = packed
    self._checkpoint_count[key] = count + 1


@internal
@view
def _weight_at(key: address, term: uint256) -> uint256:
    count: uint256 = self._checkpoint_count[key]
    if count == 0:
        return 0
    last: uint256 = self._checkpoints[key][count - 1]
    if last >> _WEIGHT_BITS <= term:
        return last & _WEIGHT_MASK
    # binary search for the last checkpoint with from_term <= term
    low: uint256 = 0
    high: uint256 = count - 1  # checkpoint `high` is known to start after `term`
    for _: uint256 in range(_SEARCH_STEPS):
        if low >= high:
            break
        mid: uint256 = (low + high) // 2
        if self._checkpoints[key][mid] >> _WEIGHT_BITS <= term:
            low = mid + 1
        else:
            high = mid
    # `low` is the first checkpoint starting after `term`
    if low == 0:
        return 0
    return self._checkpoints[key][low - 1] & _WEIGHT_MASK
