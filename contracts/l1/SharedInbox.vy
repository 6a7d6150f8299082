# pragma version ~=0.4.3
"""
@title Shared batch inbox
@custom:contract-name SharedInbox
@license AGPL-3.0-only
@notice One commitment per batch for every rollup at once, posted by the current term's leader
        (or by anyone once no batch has landed for `ESCAPE_BLOCKS` L1 blocks), and the
        forced-inclusion queue that the sequencer must drain before each item's deadline.
@dev Checks on every batch: the sequence is next, `prev_hash` chains to the last header, the
     header's term is the current term, rollups are sorted by chain id and each one's range
     continues the last posted block of that rollup (number and parent hash, kept as one hash
     per rollup), and `forced_through` never goes back nor beyond the queue. An overdue forced
     item does not stop a batch (consumption may take several batches after an outage); the
     Slasher punishes the lateness. Per sequence only the header hash and the L1 block the batch was posted in
     are stored (`batch_hash`, `posted_block`); the header itself is in the `BatchPosted` event
     and is re-supplied to the Slasher as evidence. The first batch that names a rollup anchors
     it (any first block and parent hash).
     The posting block is what every deadline is judged by: a promise or forced item with
     deadline D is kept on time by a batch with `posted_block <= D` (the deadline block itself is
     on time) and late by one with `posted_block > D`. Sequences are posted in order, so
     `posted_block` never decreases with the sequence.
     Forced inclusion is open only for the registered rollups (`is_rollup`): an item for a chain
     no sequencer runs could never be consumed, and would make the honest leader liable for
     censorship. The owner (snekmate `ownable`, the deployer) changes the set with `set_rollup`.
"""

from snekmate.auth import ownable

from ..lib import commitments

initializes: ownable

exports: (ownable.owner, ownable.transfer_ownership, ownable.renounce_ownership)


interface IRegistry:
    def can_post(poster: address) -> bool: nonpayable
    def TERM_BLOCKS() -> uint256: view
    def EVIDENCE_WINDOW_BLOCKS() -> uint256: view
    def TREASURY() -> address: view


# @dev Largest calldata payload (bytes); larger batches go in blobs.
MAX_PAYLOAD_BYTES: constant(uint256) = 65_536
# @dev Largest raw transaction accepted for forced inclusion (bytes).
MAX_FORCED_TX_BYTES: constant(uint256) = 4_096
# @dev Most rollups the constructor registers (more with `set_rollup`).
MAX_INITIAL_ROLLUPS: constant(uint256) = commitments.MAX_ROLLUPS
# @dev Fields of the packed `_head` slot.
_MASK64: constant(uint256) = 2**64 - 1
_LAST_BLOCK_SHIFT: constant(uint256) = 64
# @dev `_posted` holds four 64-bit posting blocks per slot (sequence % 4 picks the field).
_POSTED_PER_SLOT_LOG2: constant(uint256) = 2
_FORCED_THROUGH_SHIFT: constant(uint256) = 128
_FORCED_COUNT_SHIFT: constant(uint256) = 192


# @notice The SequencerRegistry that says who leads each term.
REGISTRY: public(immutable(IRegistry))
# @notice Term length, copied from the registry (L1 blocks).
TERM_BLOCKS: public(immutable(uint256))
# @notice After this many L1 blocks without a batch anyone may post (L1 blocks).
ESCAPE_BLOCKS: public(immutable(uint256))
# @notice A forced item must be consumed within this many L1 blocks of its request.
FORCE_DELAY_BLOCKS: public(immutable(uint256))
# @notice Smallest fee for a forced-inclusion request (wei).
FORCE_FEE: public(immutable(uint256))


# @notice Header hash of each posted batch, by sequence.
batch_hash: public(HashMap[uint256, bytes32])
# @notice Per rollup chain id: keccak256(abi_encode(last_block, last_block_hash)) of the last
#         rollup block committed (zero: never posted). The number and hash are in the last
#         `BatchPosted` event that names the rollup; `rollup_tip_matches` checks a pair.
rollup_tip: public(HashMap[uint256, bytes32])
# @notice Poster of a batch that came in through the escape hatch (empty: the term's leader).
escape_poster: public(HashMap[uint256, address])
# @notice Forced-inclusion fees not yet swept to the treasury (wei).
fees_accrued: public(uint256)
# @notice Whether `chain_id` is a registered rollup (forced inclusion is open only for those).
is_rollup: public(HashMap[uint256, bool])

_forced: HashMap[uint256, commitments.ForcedItem]
# L1 block each batch was posted in: sequence s in slot s // 4, bits 64 * (s % 4) up. Packed so
# that three batches in four write a slot that is already non-zero (5,000 gas, not 22,100).
_posted: HashMap[uint256, uint256]
# One slot read and written by every batch (64 bits each, low to high): next sequence,
# L1 block of the last batch, forced items consumed, forced items requested.
_head: uint256


event BatchPosted:
    sequence: indexed(uint256)
    header_hash: indexed(bytes32)
    poster: indexed(address)
    escape: bool
    header: commitments.BatchHeader


event ForcedInclusionRequested:
    index: indexed(uint256)
    chain_id: indexed(uint256)
    sender: indexed(address)
    tx_hash: bytes32
    deadline: uint256
    fee: uint256
    raw_tx: Bytes[MAX_FORCED_TX_BYTES]


event FeesSwept:
    treasury: indexed(address)
    amount: uint256


event RollupSet:
    chain_id: indexed(uint256)
    enabled: bool


@deploy
def __init__(
    registry: IRegistry,
    escape_blocks: uint256,
    force_delay_blocks: uint256,
    force_fee: uint256,
    rollups: DynArray[uint256, MAX_INITIAL_ROLLUPS],
):
    """
    @param registry The SequencerRegistry.
    @param escape_blocks L1 blocks without a batch after which anyone may post.
    @param force_delay_blocks L1 blocks a forced item may wait; with one term it must fit in
           the registry's evidence window (so a censoring leader cannot unbond first).
    @param force_fee Smallest forced-inclusion fee (wei).
    @param rollups The chain ids of the rollups registered from the start (non-zero).
    """
    assert escape_blocks > 0, "inbox: zero escape delay"
    assert force_delay_blocks > 0, "inbox: zero force delay"
    term_blocks: uint256 = staticcall registry.TERM_BLOCKS()
    assert (
        force_delay_blocks + term_blocks <= staticcall registry.EVIDENCE_WINDOW_BLOCKS()
    ), "inbox: force delay exceeds evidence window"
    REGISTRY = registry
    TERM_BLOCKS = term_blocks
    ESCAPE_BLOCKS = escape_blocks
    FORCE_DELAY_BLOCKS = force_delay_blocks
    FORCE_FEE = force_fee
    self._head = block.number << _LAST_BLOCK_SHIFT
    ownable.__init__()
    for chain_id: uint256 in rollups:
        self._set_rollup(chain_id, True)


# --- batches ---


@external
def post_batch(header: commitments.BatchHeader, payload: Bytes[MAX_PAYLOAD_BYTES]):
    """
    @notice Commit a batch whose payload travels in this call's calldata.
    @param header The batch header; `data_hash` must be keccak256(payload).
    @param payload The encoded batch (at most 64 KiB; use blobs beyond).
    """
    assert header.data_hash == keccak256(payload), "inbox: data hash mismatch"
    self._accept(header)


@external
def post_batch_blob(header: commitments.BatchHeader):
    """
    @notice Commit a batch whose payload travels in this transaction's first EIP-4844 blob.
    @param header The batch header; `data_hash` must be the blob's versioned hash.
    """
    versioned_hash: bytes32 = blobhash(0)
    assert versioned_hash != empty(bytes32), "inbox: no blob"
    assert header.data_hash == versioned_hash, "inbox: blob hash mismatch"
    self._accept(header)


@external
@view
def escape_hatch_open() -> bool:
    """
    @notice Whether anyone may post now (no batch for `ESCAPE_BLOCKS` L1 blocks).
    """
    return block.number >= ((self._head >> _LAST_BLOCK_SHIFT) & _MASK64) + ESCAPE_BLOCKS


@external
@view
def next_sequence() -> uint256:
    """
    @notice The sequence number the next batch must carry.
    """
    return self._head & _MASK64


@external
@view
def last_batch_block() -> uint256:
    """
    @notice L1 block of the last batch (of the deployment, before the first batch).
    """
    return (self._head >> _LAST_BLOCK_SHIFT) & _MASK64


@external
@view
def posted_block(sequence: uint256) -> uint256:
    """
    @notice The L1 block in which batch `sequence` was posted: the block every deadline is
            judged by (on time iff `posted_block <= deadline`).
    @param sequence A sequence already posted (reverts "inbox: no such batch" otherwise).
    @return The L1 block number.
    """
    assert sequence < self._head & _MASK64, "inbox: no such batch"
    return self._posted_block(sequence)


@external
@view
def batch_record(sequence: uint256) -> (bytes32, uint256):
    """
    @notice Header hash and posting L1 block of batch `sequence`, in one call (what the Slasher
            reads of a batch it is shown); both zero for a sequence not yet posted.
    @param sequence The batch's sequence.
    @return (header hash, L1 block number).
    """
    return self.batch_hash[sequence], self._posted_block(sequence)


@external
@view
def forced_through() -> uint256:
    """
    @notice Forced-inclusion items consumed so far (the queue index of the next one).
    """
    return (self._head >> _FORCED_THROUGH_SHIFT) & _MASK64


@external
@view
def forced_count() -> uint256:
    """
    @notice Forced-inclusion items ever requested.
    """
    return self._head >> _FORCED_COUNT_SHIFT


@external
@view
def rollup_tip_matches(chain_id: uint256, block_number: uint256, block_hash: bytes32) -> bool:
    """
    @notice Whether (block_number, block_hash) is the last committed block of rollup `chain_id`.
    """
    tip: bytes32 = self.rollup_tip[chain_id]
    return tip != empty(bytes32) and tip == keccak256(abi_encode(block_number, block_hash))


# --- rollups ---


@external
def set_rollup(chain_id: uint256, enabled: bool):
    """
    @notice Open (`enabled`) or close forced inclusion for rollup `chain_id`. Only the owner.
    @dev Items already queued for a rollup stay in the queue either way.
    @param chain_id The rollup's chain id (non-zero).
    @param enabled Whether `force_include` accepts items for it.
    """
    ownable._check_owner()
    self._set_rollup(chain_id, enabled)


# --- forced inclusion ---


@external
@payable
def force_include(chain_id: uint256, raw_tx: Bytes[MAX_FORCED_TX_BYTES]) -> uint256:
    """
    @notice Queue a signed rollup transaction that the sequencer must place, in queue order, at
            the start of the next block it opens; a batch must consume it within
            `FORCE_DELAY_BLOCKS` L1 blocks, or the term's leader can be slashed and jailed.
    @param chain_id The rollup's chain id (a registered rollup: `is_rollup`).
    @param raw_tx The raw signed transaction (at most 4 KiB).
    @return The item's queue index.
    """
    assert msg.value >= FORCE_FEE, "inbox: fee too low"
    assert len(raw_tx) > 0, "inbox: empty transaction"
    assert chain_id != 0, "inbox: zero chain id"
    assert self.is_rollup[chain_id], "inbox: unknown rollup"
    head: uint256 = self._head
    index: uint256 = head >> _FORCED_COUNT_SHIFT
    deadline: uint256 = block.number + FORCE_DELAY_BLOCKS
    tx_hash: bytes32 = keccak256(raw_tx)
    self._forced[index] = commitments.ForcedItem(
        chain_id=chain_id, sender=msg.sender, tx_hash=tx_hash, deadline=deadline, fee=msg.value
    )
    self._head = (head & (2**_FORCED_COUNT_SHIFT - 1)) | ((index + 1) << _FORCED_COUNT_SHIFT)
    self.fees_accrued += msg.value
    log ForcedInclusionRequested(
        index=index,
        chain_id=chain_id,
        sender=msg.sender,
        tx_hash=tx_hash,
        deadline=deadline,
        fee=msg.value,
        raw_tx=raw_tx,
    )
    return index


@external
@view
def forced_item(index: uint256) -> commitments.ForcedItem:
    """
    @notice The forced-inclusion item at queue position `index`.
    """
    assert index < self._head >> _FORCED_COUNT_SHIFT, "inbox: no such forced item"
    return self._forced[index]


@external
@view
def forced_status(index: uint256) -> (address, uint256, bool):
    """
    @notice What the Slasher needs of a forced item: its sender, its deadline (L1 block), and
            whether a batch has consumed it.
    """
    head: uint256 = self._head
    assert index < head >> _FORCED_COUNT_SHIFT, "inbox: no such forced item"
    consumed: bool = index < (head >> _FORCED_THROUGH_SHIFT) & _MASK64
    return self._forced[index].sender, self._forced[index].deadline, consumed


@external
@nonreentrant
def sweep_fees():
    """
    @notice Send the forced-inclusion fees collected so far to the registry's treasury.
    """
    amount: uint256 = self.fees_accrued
    assert amount > 0, "inbox: no fees"
    self.fees_accrued = 0
    treasury: address = staticcall REGISTRY.TREASURY()
    log FeesSwept(treasury=treasury, amount=amount)
    send(treasury, amount)


# --- internal ---


@internal
def _set_rollup(chain_id: uint256, enabled: bool):
    assert chain_id != 0, "inbox: zero chain id"
    self.is_rollup[chain_id] = enabled
    log RollupSet(chain_id=chain_id, enabled=enabled)


@internal
def _accept(header: commitments.BatchHeader):
    head: uint256 = self._head
    sequence: uint256 = head & _MASK64
    last_batch_block: uint256 = (head >> _LAST_BLOCK_SHIFT) & _MASK64
    consumed: uint256 = (head >> _FORCED_THROUGH_SHIFT) & _MASK64
    queued: uint256 = head >> _FORCED_COUNT_SHIFT

    escape: bool = False
    if not extcall REGISTRY.can_post(msg.sender):
        assert (
            block.number >= last_batch_block + ESCAPE_BLOCKS
        ), "inbox: poster is not the active leader"
        escape = True
    assert header.term == block.number // TERM_BLOCKS, "inbox: wrong term"
    assert header.sequence == sequence, "inbox: wrong sequence"
    prev_hash: bytes32 = empty(bytes32)
    if sequence > 0:
        prev_hash = self.batch_hash[sequence - 1]
    assert header.prev_hash == prev_hash, "inbox: prev_hash mismatch"

    last_chain: uint256 = 0
    for rollup: commitments.RollupCommitment in header.rollups:
        assert rollup.chain_id > last_chain, "inbox: rollups not sorted by chain id"
        last_chain = rollup.chain_id
        assert rollup.last_block >= rollup.first_block, "inbox: empty block range"
        tip: bytes32 = self.rollup_tip[rollup.chain_id]
        if tip != empty(bytes32):
            assert rollup.first_block > 0 and tip == keccak256(
                abi_encode(rollup.first_block - 1, rollup.parent_hash)
            ), "inbox: rollup does not continue its last block"
        self.rollup_tip[rollup.chain_id] = keccak256(
            abi_encode(rollup.last_block, rollup.last_block_hash)
        )

    forced_through: uint256 = header.forced_through
    assert forced_through >= consumed, "inbox: forced_through went backwards"
    assert forced_through <= queued, "inbox: forced_through beyond queue"
    # An overdue item may be left for a later batch: after an outage the blocks up to the one
    # that placed it may need several batches, and refusing them would stop every batch for good
    # (and slash the leader again and again). Being late is the Slasher's business: an item no
    # batch posted by its deadline consumed is `slash_censorship` / `slash_censorship_late`
    # evidence against one leader, whenever and by whomever it is consumed afterwards.

    header_hash: bytes32 = commitments._header_hash(header)
    self.batch_hash[sequence] = header_hash
    slot: uint256 = sequence >> _POSTED_PER_SLOT_LOG2
    self._posted[slot] = self._posted[slot] | (block.number << ((sequence & 3) << 6))
    self._head = (
        (sequence + 1)
        | (block.number << _LAST_BLOCK_SHIFT)
        | (forced_through << _FORCED_THROUGH_SHIFT)
        | (queued << _FORCED_COUNT_SHIFT)
    )
    if escape:
        self.escape_poster[sequence] = msg.sender
    log BatchPosted(
        sequence=sequence, header_hash=header_hash, poster=msg.sender, escape=escape, header=header
    )


@internal
@view
def _posted_block(sequence: uint256) -> uint256:
    return (self._posted[sequence >> _POSTED_PER_SLOT_LOG2] >> ((sequence & 3) << 6)) & _MASK64
