# pragma version ~=0.4.3
"""
@title Slasher
@custom:contract-name Slasher
@license AGPL-3.0-only
@notice Turns evidence of a broken promise into a slash of the sequencer's stake, with no
        trusted party: every condition of DESIGN §4.1 is checked here, from signatures made in
        this contract's EIP-712 domain ("SharedSequencer", "1", the L1 chain id, this address)
        and from batch headers whose hashes the SharedInbox stored.
@dev Conditions (each evidence id is usable once, enforced by the registry):
     1. equivocation: two signed `BlockHeader`s for one (chain, block) with different hashes;
     2. pre-confirmation violation: a signed `Preconf` and either a committed tx leaf at that
        position with another tx hash (or status skipped), or the block's leaf showing fewer
        transactions, or proof that no batch posted by the deadline covers the block (below);
     3. bundle violation: a signed `BundleReceipt`, its legs, and for one leg the same kinds of
        proof (a committed tx other than the leg's, or not successful);
     4. censorship: a forced item that no batch posted by its deadline consumed (below): the
        leader of the term holding the middle of the item's window is slashed and jailed;
     5. malformed batch: two different leaves for one position under one committed root.
     Deadlines are L1 block numbers, judged by the block a batch was posted in (the inbox's
     `posted_block`): a batch posted in block P keeps a deadline D on time iff P <= D (the
     deadline block itself is on time); P > D is late. A promised (chain, block) is covered on
     time iff some batch with P <= D covers it. Since each rollup's ranges are contiguous and
     sequences are posted in order, that fails iff either
       a. (`*_posted_late`, race-free) a committed batch with P > D names the rollup and starts
          at or below the promised block (it covers the block late, or ends below it: every
          batch posted by D ended that rollup below the block), or
       b. (`*_not_posted`) the deadline has passed (block.number > D) and the rollup's current
          tip is below the block (or the rollup was never posted): the current tip is checked
          against `rollup_tip`, so this form goes stale when a batch naming the rollup lands;
          that batch (P > D, starting at or below the block) is then evidence of form a, which
          never goes stale. A leader that posts every L1 block cannot keep the evidence away.
     A forced item with deadline D is consumed on time iff a batch with P <= D moved
     `forced_through` past it. It is not, shown by either `slash_censorship` (the deadline
     has passed and the item is still unconsumed, or the first batch ever was posted after D)
     or `slash_censorship_late` (the last batch posted by D, re-supplied, left it unconsumed).
     Either way one leader is slashed and jailed, once per item, however long the item stayed
     overdue and whoever consumed it later: the leader of the term holding block
     D - FORCE_DELAY_BLOCKS // 2, the middle of the item's window (it was requested at
     D - FORCE_DELAY_BLOCKS). That leader led for at least min(TERM_BLOCKS,
     FORCE_DELAY_BLOCKS // 2 + 1) blocks of the window, so an honest leader is never blamed for
     an item a previous leader left it with a block or two to spare; leaders of the terms after
     the deadline (who must consume the item in their first batch) are never blamed for it.
     The victim of a pre-confirmation violation is the reporter (the preconf names no account:
     whoever holds it is taken to be the user it was given to); of a bundle violation, the
     receipt's beneficiary; of censorship, the forced item's sender; equivocation and
     malformed batches have no victim (the treasury takes that share).
"""

from snekmate.utils import eip712_domain_separator
from ..lib import commitments

initializes: eip712_domain_separator

exports: eip712_domain_separator.eip712Domain


interface IRegistry:
    def slash(
        sequencer: address,
        amount: uint256,
        evidence_id: bytes32,
        reporter: address,
        victim: address,
        jail: bool,
    ) -> uint256: nonpayable
    def fix_leader(term: uint256) -> address: nonpayable
    def stake_of(sequencer: address) -> uint256: view
    def TERM_BLOCKS() -> uint256: view


interface IInbox:
    def batch_hash(sequence: uint256) -> bytes32: view
    def batch_record(sequence: uint256) -> (bytes32, uint256): view
    def posted_block(sequence: uint256) -> uint256: view
    def next_sequence() -> uint256: view
    def rollup_tip(chain_id: uint256) -> bytes32: view
    def escape_poster(sequence: uint256) -> address: view
    def forced_status(index: uint256) -> (address, uint256, bool): view
    def FORCE_DELAY_BLOCKS() -> uint256: view


# @dev Conditions, as logged in `ViolationProven`.
EQUIVOCATION: constant(uint8) = 1
PRECONF_VIOLATION: constant(uint8) = 2
BUNDLE_VIOLATION: constant(uint8) = 3
CENSORSHIP: constant(uint8) = 4
MALFORMED_BATCH: constant(uint8) = 5


# @notice The SequencerRegistry holding the stakes.
REGISTRY: public(immutable(IRegistry))
# @notice The SharedInbox holding the committed batch headers.
INBOX: public(immutable(IInbox))
# @notice Wei taken per proven violation (capped at the stake left).
SLASH_AMOUNT: public(immutable(uint256))
# @notice The registry's term length (L1 blocks).
TERM_BLOCKS: public(immutable(uint256))
# @notice The inbox's forced-inclusion delay (L1 blocks): a forced item's window is
#         [deadline - FORCE_DELAY_BLOCKS, deadline].
FORCE_DELAY_BLOCKS: public(immutable(uint256))


event ViolationProven:
    condition: indexed(uint8)
    sequencer: indexed(address)
    evidence_id: indexed(bytes32)
    reporter: address
    victim: address
    amount: uint256


@deploy
def __init__(registry: IRegistry, inbox: IInbox, slash_amount: uint256):
    """
    @param registry The SequencerRegistry (which must then `set_slasher` this contract).
    @param inbox The SharedInbox.
    @param slash_amount Wei taken per proven violation.
    """
    assert slash_amount > 0, "slasher: zero slash amount"
    eip712_domain_separator.__init__("SharedSequencer", "1")
    REGISTRY = registry
    INBOX = inbox
    SLASH_AMOUNT = slash_amount
    TERM_BLOCKS = staticcall registry.TERM_BLOCKS()
    FORCE_DELAY_BLOCKS = staticcall inbox.FORCE_DELAY_BLOCKS()


# --- 1. equivocation ---


@external
def slash_equivocation(
    first: commitments.BlockHeaderMsg,
    first_signature: Bytes[65],
    second: commitments.BlockHeaderMsg,
    second_signature: Bytes[65],
) -> uint256:
    """
    @notice Slash a sequencer that signed two different headers for one rollup block.
    @return The wei slashed.
    """
    assert (
        first.chain_id == second.chain_id and first.block_number == second.block_number
    ), "slasher: headers for different blocks"
    assert first.block_hash != second.block_hash, "slasher: same block hash"
    signer: address = self._signer(commitments._block_header_struct_hash(first), first_signature)
    assert signer == self._signer(
        commitments._block_header_struct_hash(second), second_signature
    ), "slasher: signed by different keys"
    evidence_id: bytes32 = keccak256(
        abi_encode(EQUIVOCATION, signer, first.chain_id, first.block_number)
    )
    return self._slash(EQUIVOCATION, signer, evidence_id, empty(address), False)


# --- 2. pre-confirmation violation ---


@external
def slash_preconf_wrong_tx(
    preconf: commitments.PreconfMsg,
    signature: Bytes[65],
    header: commitments.BatchHeader,
    rollup_index: uint256,
    committed: commitments.TxLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice The committed batch holds another transaction (or a skipped one) at the promised
            position: `committed` is the tx leaf at (chain, block, index), proven by `proof`
            under the tx root of `header.rollups[rollup_index]`.
    @return The wei slashed.
    """
    digest_id: bytes32 = commitments._preconf_struct_hash(preconf)
    signer: address = self._signer(digest_id, signature)
    self._check_tx_leaf(
        header,
        rollup_index,
        committed,
        proof,
        preconf.chain_id,
        preconf.block_number,
        preconf.index,
    )
    assert (
        committed.tx_hash != preconf.tx_hash or committed.status == commitments.STATUS_SKIPPED
    ), "slasher: promise kept"
    return self._slash_preconf(signer, digest_id)


@external
def slash_preconf_short_block(
    preconf: commitments.PreconfMsg,
    signature: Bytes[65],
    header: commitments.BatchHeader,
    rollup_index: uint256,
    committed: commitments.BlockLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice The committed block has fewer transactions than the promised index: `committed` is
            its block leaf, proven by `proof`.
    @return The wei slashed.
    """
    digest_id: bytes32 = commitments._preconf_struct_hash(preconf)
    signer: address = self._signer(digest_id, signature)
    self._check_block_leaf(
        header, rollup_index, committed, proof, preconf.chain_id, preconf.block_number
    )
    assert committed.tx_count <= preconf.index, "slasher: block holds the position"
    return self._slash_preconf(signer, digest_id)


@external
def slash_preconf_not_posted(
    preconf: commitments.PreconfMsg, signature: Bytes[65], tip_block: uint256, tip_hash: bytes32
) -> uint256:
    """
    @notice The deadline has passed and no batch has covered the promised block: the rollup's
            current tip is below it. Goes stale when a batch naming the rollup lands; then use
            `slash_preconf_posted_late` with that batch.
    @param tip_block The rollup's last committed block (from the last `BatchPosted` naming it;
           ignored if the rollup was never posted).
    @param tip_hash That block's hash.
    @return The wei slashed.
    """
    digest_id: bytes32 = commitments._preconf_struct_hash(preconf)
    signer: address = self._signer(digest_id, signature)
    self._check_not_posted(
        preconf.chain_id, preconf.block_number, preconf.deadline, tip_block, tip_hash
    )
    return self._slash_preconf(signer, digest_id)


@external
def slash_preconf_posted_late(
    preconf: commitments.PreconfMsg,
    signature: Bytes[65],
    header: commitments.BatchHeader,
    rollup_index: uint256,
) -> uint256:
    """
    @notice No batch posted by the deadline covers the promised block: `header`, a committed
            batch posted after the deadline (`posted_block > deadline`), names the rollup and
            starts at or below the block. It covers the block (posted late) or ends below it
            (not posted yet); either way every batch posted by the deadline ended the rollup
            below the block. Unlike `slash_preconf_not_posted`, this never goes stale.
    @param header A committed batch header posted after the deadline.
    @param rollup_index The index of the promised block's rollup in `header.rollups`.
    @return The wei slashed.
    """
    digest_id: bytes32 = commitments._preconf_struct_hash(preconf)
    signer: address = self._signer(digest_id, signature)
    self._check_posted_late(
        header, rollup_index, preconf.chain_id, preconf.block_number, preconf.deadline
    )
    return self._slash_preconf(signer, digest_id)


# --- 3. bundle violation ---


@external
def slash_bundle_wrong_tx(
    receipt: commitments.BundleReceiptMsg,
    signature: Bytes[65],
    legs: DynArray[commitments.Leg, commitments.MAX_LEGS],
    leg_index: uint256,
    header: commitments.BatchHeader,
    rollup_index: uint256,
    committed: commitments.TxLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice One leg of a receipted bundle is not at its position with success: `committed` is
            the tx leaf at the leg's position (another tx hash, or a status other than success).
    @return The wei slashed.
    """
    leg: commitments.Leg = self._leg(receipt, legs, leg_index)
    digest_id: bytes32 = commitments._bundle_receipt_struct_hash(receipt)
    signer: address = self._signer(digest_id, signature)
    self._check_tx_leaf(
        header, rollup_index, committed, proof, leg.chain_id, leg.block_number, leg.index
    )
    assert (
        committed.tx_hash != leg.tx_hash or committed.status != commitments.STATUS_SUCCESS
    ), "slasher: promise kept"
    return self._slash_bundle(signer, digest_id, receipt.beneficiary)


@external
def slash_bundle_short_block(
    receipt: commitments.BundleReceiptMsg,
    signature: Bytes[65],
    legs: DynArray[commitments.Leg, commitments.MAX_LEGS],
    leg_index: uint256,
    header: commitments.BatchHeader,
    rollup_index: uint256,
    committed: commitments.BlockLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice The block of one leg has fewer transactions than the leg's index.
    @return The wei slashed.
    """
    leg: commitments.Leg = self._leg(receipt, legs, leg_index)
    digest_id: bytes32 = commitments._bundle_receipt_struct_hash(receipt)
    signer: address = self._signer(digest_id, signature)
    self._check_block_leaf(header, rollup_index, committed, proof, leg.chain_id, leg.block_number)
    assert committed.tx_count <= leg.index, "slasher: block holds the position"
    return self._slash_bundle(signer, digest_id, receipt.beneficiary)


@external
def slash_bundle_not_posted(
    receipt: commitments.BundleReceiptMsg,
    signature: Bytes[65],
    legs: DynArray[commitments.Leg, commitments.MAX_LEGS],
    leg_index: uint256,
    tip_block: uint256,
    tip_hash: bytes32,
) -> uint256:
    """
    @notice The receipt's deadline has passed and no batch has covered one leg's block (the
            leg rollup's current tip is below it; stale once a batch naming it lands: then use
            `slash_bundle_posted_late`).
    @param tip_block The leg rollup's last committed block (ignored if never posted).
    @param tip_hash That block's hash.
    @return The wei slashed.
    """
    leg: commitments.Leg = self._leg(receipt, legs, leg_index)
    digest_id: bytes32 = commitments._bundle_receipt_struct_hash(receipt)
    signer: address = self._signer(digest_id, signature)
    self._check_not_posted(leg.chain_id, leg.block_number, receipt.deadline, tip_block, tip_hash)
    return self._slash_bundle(signer, digest_id, receipt.beneficiary)


@external
def slash_bundle_posted_late(
    receipt: commitments.BundleReceiptMsg,
    signature: Bytes[65],
    legs: DynArray[commitments.Leg, commitments.MAX_LEGS],
    leg_index: uint256,
    header: commitments.BatchHeader,
    rollup_index: uint256,
) -> uint256:
    """
    @notice No batch posted by the receipt's deadline covers one leg's block: `header`, a
            committed batch posted after the deadline, names the leg's rollup and starts at or
            below the leg's block (as `slash_preconf_posted_late`).
    @return The wei slashed.
    """
    leg: commitments.Leg = self._leg(receipt, legs, leg_index)
    digest_id: bytes32 = commitments._bundle_receipt_struct_hash(receipt)
    signer: address = self._signer(digest_id, signature)
    self._check_posted_late(header, rollup_index, leg.chain_id, leg.block_number, receipt.deadline)
    return self._slash_bundle(signer, digest_id, receipt.beneficiary)


# --- 4. censorship ---


@external
def slash_censorship(queue_index: uint256) -> uint256:
    """
    @notice A forced item's deadline has passed and no batch posted by it consumed the item:
            it is still unconsumed, or the first batch ever was posted after the deadline.
            Slash and jail the leader of the term holding the middle of the item's window
            (`censorship_term`); the item's sender is the victim.
    @param queue_index The item's position in the Inbox's forced queue.
    @return The wei slashed.
    """
    sender: address = empty(address)
    deadline: uint256 = 0
    consumed: bool = False
    sender, deadline, consumed = staticcall INBOX.forced_status(queue_index)
    assert block.number > deadline, "slasher: deadline not passed"
    if consumed:
        # consumed, and by a batch posted after the deadline if no batch came before it
        assert staticcall INBOX.posted_block(0) > deadline, "slasher: forced item was consumed"
    return self._slash_censorship(queue_index, sender, deadline)


@external
def slash_censorship_late(
    queue_index: uint256, last_on_time: commitments.BatchHeader
) -> uint256:
    """
    @notice A forced item was consumed only after its deadline: `last_on_time` is the last
            batch posted at or before the deadline (committed, `posted_block <= deadline`, and
            the next sequence was posted after the deadline or not at all) and it left the item
            unconsumed (`forced_through <= queue_index`). Slash and jail the leader of
            `censorship_term`; the item's sender is the victim.
    @param queue_index The item's position in the Inbox's forced queue.
    @param last_on_time The header of the last batch posted at or before the item's deadline.
    @return The wei slashed.
    """
    sender: address = empty(address)
    deadline: uint256 = 0
    consumed: bool = False
    sender, deadline, consumed = staticcall INBOX.forced_status(queue_index)
    assert block.number > deadline, "slasher: deadline not passed"
    posted: uint256 = self._committed_batch(last_on_time)
    assert posted <= deadline, "slasher: batch posted after the deadline"
    following: uint256 = last_on_time.sequence + 1
    if following < staticcall INBOX.next_sequence():
        assert (
            staticcall INBOX.posted_block(following) > deadline
        ), "slasher: not the last batch by the deadline"
    assert last_on_time.forced_through <= queue_index, "slasher: forced item consumed on time"
    return self._slash_censorship(queue_index, sender, deadline)


# --- 5. malformed batch ---


@external
def slash_malformed_tx(
    header: commitments.BatchHeader,
    rollup_index: uint256,
    first: commitments.TxLeaf,
    first_proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
    second: commitments.TxLeaf,
    second_proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice One committed root holds two different tx leaves for one (chain, block, index):
            slash the batch's poster.
    @return The wei slashed.
    """
    assert (
        first.chain_id == second.chain_id
        and first.block_number == second.block_number
        and first.index == second.index
    ), "slasher: leaves for different positions"
    assert commitments._tx_leaf(first) != commitments._tx_leaf(second), "slasher: same leaf"
    self._check_tx_leaf(
        header, rollup_index, first, first_proof, first.chain_id, first.block_number, first.index
    )
    self._check_tx_leaf(
        header,
        rollup_index,
        second,
        second_proof,
        first.chain_id,
        first.block_number,
        first.index,
    )
    return self._slash_poster(header)


@external
def slash_malformed_block(
    header: commitments.BatchHeader,
    rollup_index: uint256,
    first: commitments.BlockLeaf,
    first_proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
    second: commitments.BlockLeaf,
    second_proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
) -> uint256:
    """
    @notice One committed root holds two different block leaves for one (chain, block): slash
            the batch's poster.
    @return The wei slashed.
    """
    assert (
        first.chain_id == second.chain_id and first.block_number == second.block_number
    ), "slasher: leaves for different positions"
    assert commitments._block_leaf(first) != commitments._block_leaf(second), "slasher: same leaf"
    self._check_block_leaf(
        header, rollup_index, first, first_proof, first.chain_id, first.block_number
    )
    self._check_block_leaf(
        header, rollup_index, second, second_proof, first.chain_id, first.block_number
    )
    return self._slash_poster(header)


# --- views ---


@external
@view
def censorship_term(deadline: uint256) -> uint256:
    """
    @notice The term whose leader answers for a forced item with this deadline: the term holding
            block `deadline - FORCE_DELAY_BLOCKS // 2`, the middle of the item's window.
    @param deadline The forced item's deadline (L1 block).
    @return The term number.
    """
    return self._censorship_term(deadline)


@external
@view
def domain_separator() -> bytes32:
    """
    @notice The EIP-712 domain separator every promise must be signed in.
    """
    return eip712_domain_separator._domain_separator_v4()


# --- internal ---


@internal
@view
def _signer(struct_hash: bytes32, signature: Bytes[65]) -> address:
    """
    @dev The signer of a typed message in this contract's domain; it must hold stake.
    """
    signer: address = commitments._recover(
        commitments._typed_digest(eip712_domain_separator._domain_separator_v4(), struct_hash),
        signature,
    )
    assert staticcall REGISTRY.stake_of(signer) > 0, "slasher: signer has no stake"
    return signer


@internal
@view
def _committed_rollup(
    header: commitments.BatchHeader, rollup_index: uint256
) -> commitments.RollupCommitment:
    assert (
        staticcall INBOX.batch_hash(header.sequence) == commitments._header_hash(header)
    ), "slasher: header not committed"
    assert rollup_index < len(header.rollups), "slasher: no such rollup in batch"
    return header.rollups[rollup_index]


@internal
@view
def _check_tx_leaf(
    header: commitments.BatchHeader,
    rollup_index: uint256,
    leaf: commitments.TxLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
    chain_id: uint256,
    block_number: uint256,
    index: uint256,
):
    assert (
        leaf.chain_id == chain_id and leaf.block_number == block_number and leaf.index == index
    ), "slasher: leaf is for another position"
    rollup: commitments.RollupCommitment = self._committed_rollup(header, rollup_index)
    self._check_in_range(rollup, chain_id, block_number)
    assert commitments._verify(
        proof, rollup.tx_root, commitments._tx_leaf(leaf)
    ), "slasher: invalid proof"


@internal
@view
def _check_block_leaf(
    header: commitments.BatchHeader,
    rollup_index: uint256,
    leaf: commitments.BlockLeaf,
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH],
    chain_id: uint256,
    block_number: uint256,
):
    assert (
        leaf.chain_id == chain_id and leaf.block_number == block_number
    ), "slasher: leaf is for another position"
    rollup: commitments.RollupCommitment = self._committed_rollup(header, rollup_index)
    self._check_in_range(rollup, chain_id, block_number)
    assert commitments._verify(
        proof, rollup.tx_root, commitments._block_leaf(leaf)
    ), "slasher: invalid proof"


@internal
@pure
def _check_in_range(
    rollup: commitments.RollupCommitment, chain_id: uint256, block_number: uint256
):
    assert rollup.chain_id == chain_id, "slasher: batch rollup is another chain"
    assert (
        rollup.first_block <= block_number and block_number <= rollup.last_block
    ), "slasher: block not in batch"


@internal
@view
def _check_not_posted(
    chain_id: uint256,
    block_number: uint256,
    deadline: uint256,
    tip_block: uint256,
    tip_hash: bytes32,
):
    assert block.number > deadline, "slasher: deadline not passed"
    tip: bytes32 = staticcall INBOX.rollup_tip(chain_id)
    if tip != empty(bytes32):
        assert tip == keccak256(abi_encode(tip_block, tip_hash)), "slasher: wrong rollup tip"
        assert tip_block < block_number, "slasher: block was posted"


@internal
@view
def _check_posted_late(
    header: commitments.BatchHeader,
    rollup_index: uint256,
    chain_id: uint256,
    block_number: uint256,
    deadline: uint256,
):
    """
    @dev Form a of "not covered on time" (see the contract's @dev): `header` is committed, was
         posted after the deadline, names the chain and starts at or below the block.
    """
    posted: uint256 = self._committed_batch(header)
    assert rollup_index < len(header.rollups), "slasher: no such rollup in batch"
    rollup: commitments.RollupCommitment = header.rollups[rollup_index]
    assert rollup.chain_id == chain_id, "slasher: batch rollup is another chain"
    # a batch starting above the block: the block was covered by an earlier batch
    assert rollup.first_block <= block_number, "slasher: block posted before this batch"
    assert posted > deadline, "slasher: batch not late"


@internal
@view
def _committed_batch(header: commitments.BatchHeader) -> uint256:
    """
    @dev The L1 block `header` was posted in; reverts unless the inbox holds its hash.
    """
    header_hash: bytes32 = empty(bytes32)
    posted: uint256 = 0
    header_hash, posted = staticcall INBOX.batch_record(header.sequence)
    assert header_hash == commitments._header_hash(header), "slasher: header not committed"
    return posted


@internal
@view
def _leg(
    receipt: commitments.BundleReceiptMsg,
    legs: DynArray[commitments.Leg, commitments.MAX_LEGS],
    leg_index: uint256,
) -> commitments.Leg:
    assert commitments._legs_hash(legs) == receipt.legs_hash, "slasher: legs do not match receipt"
    assert leg_index < len(legs), "slasher: no such leg"
    return legs[leg_index]


@internal
def _slash_preconf(signer: address, struct_hash: bytes32) -> uint256:
    evidence_id: bytes32 = keccak256(abi_encode(PRECONF_VIOLATION, struct_hash))
    return self._slash(PRECONF_VIOLATION, signer, evidence_id, msg.sender, False)


@internal
def _slash_bundle(signer: address, struct_hash: bytes32, beneficiary: address) -> uint256:
    evidence_id: bytes32 = keccak256(abi_encode(BUNDLE_VIOLATION, struct_hash))
    return self._slash(BUNDLE_VIOLATION, signer, evidence_id, beneficiary, False)


@internal
def _slash_censorship(queue_index: uint256, sender: address, deadline: uint256) -> uint256:
    leader: address = extcall REGISTRY.fix_leader(self._censorship_term(deadline))
    assert leader != empty(address), "slasher: no leader in that term"
    evidence_id: bytes32 = keccak256(abi_encode(CENSORSHIP, queue_index))
    return self._slash(CENSORSHIP, leader, evidence_id, sender, True)


@internal
@view
def _censorship_term(deadline: uint256) -> uint256:
    return (deadline - min(deadline, FORCE_DELAY_BLOCKS // 2)) // TERM_BLOCKS


@internal
def _slash_poster(header: commitments.BatchHeader) -> uint256:
    poster: address = staticcall INBOX.escape_poster(header.sequence)
    if poster == empty(address):
        poster = extcall REGISTRY.fix_leader(header.term)
    assert staticcall REGISTRY.stake_of(poster) > 0, "slasher: poster has no stake"
    evidence_id: bytes32 = keccak256(abi_encode(MALFORMED_BATCH, header.sequence))
    return self._slash(MALFORMED_BATCH, poster, evidence_id, empty(address), False)


@internal
def _slash(
    condition: uint8, sequencer: address, evidence_id: bytes32, victim: address, jail: bool
) -> uint256:
    amount: uint256 = extcall REGISTRY.slash(
        sequencer, SLASH_AMOUNT, evidence_id, msg.sender, victim, jail
    )
    log ViolationProven(
        condition=condition,
        sequencer=sequencer,
        evidence_id=evidence_id,
        reporter=msg.sender,
        victim=victim,
        amount=amount,
    )
    return amount
