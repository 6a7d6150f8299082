"""The fisherman's pure core, without a chain: proofs drawn from a rebuilt range verify against
its root (skipped forced items included), each verdict of a promise at its boundary, overdue
forced items, and conflicting headers."""

from __future__ import annotations

import os
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import commitments as cm
from sequencer.fisherman import (
    CommittedRange,
    ForcedItem,
    SignedHeader,
    SignedPreconf,
    conflicting,
    consumed_late,
    judge_position,
    judge_preconf,
    last_on_time,
    late_evidence,
    overdue,
    posted_late,
)

CHAIN = 901
TERM_BLOCKS = 32
DOMAIN = cm.Domain(31337, "0x00000000000000000000000000000000000051a5")
SEQUENCER = cm.Signer(b"\x11" * 32)


def _range(posted_block: int = 40, statuses=(1, 0, 1)) -> CommittedRange:
    """Blocks 5 (three txs), 6 (none, one skipped forced item), 7 (one tx)."""
    blocks = (
        cm.BlockRecord(
            CHAIN,
            5,
            os.urandom(32),
            tuple(cm.TxRecord(i, os.urandom(32), s) for i, s in enumerate(statuses)),
        ),
        cm.BlockRecord(CHAIN, 6, os.urandom(32), ()),
        cm.BlockRecord(CHAIN, 7, os.urandom(32), (cm.TxRecord(0, os.urandom(32), 1),)),
    )
    skipped = {6: [cm.skipped_leaf(CHAIN, 6, 3, os.urandom(32))]}
    root = cm.MerkleTree(cm.range_leaves(blocks, skipped)).root
    commitment = cm.RollupCommitment(
        CHAIN, 5, 7, os.urandom(32), blocks[-1].block_hash, os.urandom(32), root
    )
    term = posted_block // TERM_BLOCKS
    header = cm.BatchHeader(0, cm.ZERO_HASH, term, (commitment,), os.urandom(32), 4, os.urandom(32))
    return CommittedRange(header, 0, blocks, skipped, True, posted_block)


def test_proofs_drawn_from_a_range_verify_against_its_committed_root():
    rng = _range()
    root = rng.commitment.tx_root
    for block in rng.blocks:
        for tx in block.txs:
            leaf, proof = rng.tx_proof(block.number, tx.index)
            assert cm.verify_proof(proof, root, cm.tx_leaf(*leaf))
        leaf, proof = rng.block_proof(block.number)
        assert leaf[2] == len(block.txs)
        assert cm.verify_proof(proof, root, cm.block_leaf(*leaf))
    leaf, proof = rng.tx_proof(5, 0)
    assert not cm.verify_proof(proof, root, cm.tx_leaf(CHAIN, 5, 0, os.urandom(32), 1))


def test_each_verdict_at_its_boundary():
    rng = _range(posted_block=70)  # posted in L1 block 70, in the middle of term 2 (64..95)
    tx = rng.block(5).txs[0]
    kept = cm.PreconfMsg(CHAIN, 5, 0, tx.tx_hash, 70)

    # lateness by the posting block, not the term: at the deadline is on time, one past is late
    assert judge_preconf(kept, rng, 1_000).kind == "kept"
    assert judge_preconf(replace(kept, deadline=71), rng, 1_000).kind == "kept"
    assert judge_preconf(replace(kept, deadline=69), rng, 1_000).kind == "posted_late"
    assert judge_preconf(replace(kept, deadline=64), rng, 1_000).kind == "posted_late"
    wrong = replace(kept, tx_hash=os.urandom(32))
    assert judge_preconf(wrong, rng, 0).kind == "wrong_tx"
    short = replace(kept, block_number=6)  # an empty block (a skipped forced item is no tx)
    assert judge_preconf(short, rng, 0).kind == "short_block"
    assert judge_preconf(replace(kept, index=3), rng, 0).kind == "short_block"
    assert judge_preconf(kept, None, 70).kind == "waiting"  # at the deadline
    assert judge_preconf(kept, None, 71).kind == "not_posted"

    reverted = rng.block(5).txs[1]  # a bundle leg must also have succeeded
    leg = (CHAIN, 5, 1, reverted.tx_hash)
    assert judge_position(leg, 70, rng, 0).kind == "kept"
    assert judge_position(leg, 70, rng, 0, need_success=True).kind == "wrong_tx"


def test_the_lateness_rule_at_its_boundaries():
    assert [posted_late(p, 100) for p in (99, 100, 101)] == [False, False, True]
    posted = [(0, 10), (1, 99), (2, 100), (3, 101)]
    assert [last_on_time(posted, d) for d in (9, 10, 99, 100, 101)] == [None, 0, 1, 2, 3]
    deadlines = {0: 99, 1: 100, 2: 101}
    assert consumed_late(0, 3, 100, deadlines) == [0]
    assert consumed_late(0, 3, 101, deadlines) == [0, 1]
    assert consumed_late(1, 2, 101, deadlines) == [1]
    assert consumed_late(0, 3, 99, deadlines) == []


def test_the_race_free_evidence_is_the_first_batch_posted_after_the_deadline():
    early = _range(posted_block=50)  # blocks 5..7, renumbered 1..3 (only the range matters)
    other = replace(early.commitment, chain_id=CHAIN + 1, first_block=1, last_block=9)
    commitment = replace(early.commitment, first_block=1, last_block=3)
    early = (replace(early.header, rollups=(other, commitment)), 50)
    later = (_range(posted_block=60).header, 60)  # blocks 5..7, posted in L1 block 60
    batches = [early, later]
    assert late_evidence(batches, CHAIN, 9, 59) == (later[0], 0)  # ends below 9, late
    assert late_evidence(batches, CHAIN, 6, 59) == (later[0], 0)  # covers block 6, late
    assert late_evidence(batches, CHAIN, 9, 60) is None  # posted at the deadline: on time
    assert late_evidence(batches, CHAIN, 4, 49) == (early[0], 1)  # the rollup's own index
    assert late_evidence(batches, CHAIN + 1, 4, 49) == (early[0], 0)
    assert late_evidence([later], CHAIN, 4, 59) is None  # starts above block 4: covered earlier
    assert late_evidence(batches, CHAIN + 2, 4, 10) is None  # never named


def test_overdue_forced_items():
    items = [
        ForcedItem(0, "0x" + "00" * 20, 10, True),  # consumed
        ForcedItem(1, "0x" + "00" * 20, 10, False),
        ForcedItem(2, "0x" + "00" * 20, 11, False),
    ]
    assert overdue(items, 10) == []  # the Slasher wants block.number > deadline
    assert overdue(items, 11) == [1]
    assert overdue(items, 12) == [1, 2]


def test_signed_messages_round_trip_and_conflicts():
    msg = cm.PreconfMsg(CHAIN, 5, 0, os.urandom(32), 64)
    data = {
        "chainId": CHAIN,
        "blockNumber": 5,
        "index": 0,
        "txHash": "0x" + msg.tx_hash.hex(),
        "deadline": 64,
        "signature": "0x" + SEQUENCER.sign(DOMAIN, msg).hex(),
    }
    signed = SignedPreconf.from_json(data)
    assert signed.msg == msg and signed.signer(DOMAIN) == SEQUENCER.address
    assert signed.signer(replace(DOMAIN, chain_id=1)) != SEQUENCER.address

    one = cm.BlockHeaderMsg(CHAIN, 5, os.urandom(32), os.urandom(32))
    two = replace(one, block_hash=os.urandom(32))
    other_block = replace(two, block_number=6)
    h1, h2, h3 = (SignedHeader(m, SEQUENCER.sign(DOMAIN, m)) for m in (one, two, other_block))
    assert conflicting([h1], h1) is None
    assert conflicting([h1, h3], h2) == h1
    assert conflicting([h3], h2) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=8),
    st.integers(1, 12),
    st.integers(0, 20),
)
def test_late_evidence_is_found_exactly_when_no_batch_by_the_deadline_covered_the_block(
    steps, number, deadline
):
    """Batches of one rollup with contiguous ranges (each step: L1 blocks waited, rollup blocks
    posted, 0 for a batch naming another rollup only), posted in increasing L1 blocks. Whatever
    the shape, evidence is found only for a block no batch by the deadline covered, and always
    for one once a batch after the deadline names the rollup."""
    template = _range().header
    batches, covered_by, tip, block = [], {}, 0, 0
    for wait, count in steps:
        block += wait + 1
        if count:
            c = replace(template.rollups[0], first_block=tip + 1, last_block=tip + count)
            for n in range(tip + 1, tip + count + 1):
                covered_by[n] = block
            tip += count
        else:
            c = replace(template.rollups[0], chain_id=CHAIN + 1)
        batches.append((replace(template, rollups=(c,)), block))
    kept = number in covered_by and not posted_late(covered_by[number], deadline)
    named_after = any(
        posted_late(b, deadline) and h.rollups[0].chain_id == CHAIN for h, b in batches
    )
    found = late_evidence(batches, CHAIN, number, deadline)
    if kept:
        assert found is None
    else:
        assert (found is not None) == named_after
