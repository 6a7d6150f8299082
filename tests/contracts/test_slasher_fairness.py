"""Promises judged fairly (issue #16): every deadline is judged by the L1 block a batch was
posted in (`SharedInbox.posted_block`), on both sides of every boundary, with the Python rule of
`sequencer.fisherman` checked against the contract's verdict each time.

- A covering batch posted at deadline - 1 or at the deadline keeps a promise; at deadline + 1 it
  is late, even inside the deadline's own term (the old rule looked only at the term).
- "Not posted" evidence that batches landing every L1 block cannot race: a batch posted after
  the deadline that starts at or below the promised block proves it, and stays valid as more
  batches land (the current-tip form goes stale at the next batch naming the rollup).
- Censorship: an item consumed by a batch posted after its deadline is still slashable, with the
  last batch posted by the deadline as evidence (or none if the first batch ever came after it);
  consumption at the deadline is on time. Each broken promise slashes exactly once.
"""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest
from l1_helpers import (
    CHAIN_A,
    FORCE_DELAY_BLOCKS,
    FORCE_FEE,
    MIN_STAKE,
    SLASH_AMOUNT,
    TERM_BLOCKS,
    current_term,
    height,
    mine_to_term_start,
    mine_until,
    payload_and_hash,
    rand32,
)

from sequencer import commitments as c
from sequencer.fisherman import consumed_late, last_on_time, posted_late


@pytest.fixture
def leader(slasher, staked):
    return staked


def post(chain, inbox, model, sender, tx_counts=(1,), at=None, forced_through=None):
    """Post the next blocks of rollup A (or no rollup: `tx_counts=()`) in L1 block `at`."""
    if at is not None:
        mine_until(chain, at)
    ranges = [model.range(model.next_blocks(CHAIN_A, list(tx_counts)))] if tx_counts else []
    payload, data_hash = payload_and_hash(64)
    header = model.header(current_term(chain), ranges, data_hash, forced_through)
    inbox.post_batch(header.as_tuple(), payload, sender=sender)
    model.accepted(header)
    if at is not None:
        assert inbox.posted_block(header.sequence) == at
    return header


def preconf_args(domain, signer, block, deadline):
    p = c.PreconfMsg(CHAIN_A, block, 0, rand32(), deadline)
    return (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline), signer.sign(domain, p)


def receipt_args(domain, signer, block, deadline, beneficiary):
    legs = [(CHAIN_A, block, 0, rand32())]
    msg = c.BundleReceiptMsg(rand32(), c.legs_hash(legs), beneficiary, deadline)
    receipt = (msg.bundle_hash, msg.legs_hash, beneficiary, deadline)
    return receipt, signer.sign(domain, msg), legs


def test_posted_block_is_recorded_per_sequence(chain, inbox, model, leader):
    with ape.reverts("inbox: no such batch"):
        inbox.posted_block(0)
    assert inbox.batch_record(0) == (b"\x00" * 32, 0)
    blocks = []
    for _ in range(6):  # more than one packed slot
        header = post(chain, inbox, model, leader)
        blocks.append(height(chain))
        assert inbox.batch_record(header.sequence) == (header.hash(), blocks[-1])
    chain.mine(3)
    post(chain, inbox, model, leader, at=height(chain) + 1)
    assert [inbox.posted_block(s) for s in range(6)] == blocks
    with ape.reverts("inbox: no such batch"):
        inbox.posted_block(7)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_lateness_is_judged_by_the_posting_block_as_the_python_rule_says(
    offset, chain, inbox, slasher, registry, model, leader, domain, seq_signer, trader, lp
):
    """The covering batch is posted at deadline + offset, in the middle of the deadline's term
    (so the term alone would call all three on time)."""
    posted = (current_term(chain) + 1) * TERM_BLOCKS + 2
    deadline = posted - offset
    assert posted // TERM_BLOCKS == deadline // TERM_BLOCKS
    header = post(chain, inbox, model, leader, tx_counts=(1, 1), at=posted)
    first, last = header.rollups[0].first_block, header.rollups[0].last_block
    late = posted_late(inbox.posted_block(header.sequence), deadline)
    assert late == (offset == 1)

    stake = registry.stake_of(leader)
    # covered (late or not) and not covered at all (the block after the range): both judged
    # by the posting block of a batch that starts at or below the promised block
    for block in (first, last + 1):
        evidence = (*preconf_args(domain, seq_signer, block, deadline), header.as_tuple(), 0)
        receipt, sig, legs = receipt_args(domain, seq_signer, block, deadline, lp.address)
        bundle = (receipt, sig, legs, 0, header.as_tuple(), 0)
        if late:
            assert slasher.slash_preconf_posted_late(*evidence, sender=trader).return_value > 0
            with ape.reverts("registry: evidence already used"):
                slasher.slash_preconf_posted_late(*evidence, sender=trader)
            assert slasher.slash_bundle_posted_late(*bundle, sender=trader).return_value > 0
        else:
            with ape.reverts("slasher: batch not late"):
                slasher.slash_preconf_posted_late(*evidence, sender=trader)
            with ape.reverts("slasher: batch not late"):
                slasher.slash_bundle_posted_late(*bundle, sender=trader)
    assert registry.stake_of(leader) == stake - (4 * SLASH_AMOUNT if late else 0)


def test_not_posted_evidence_survives_batches_landing_every_block(
    chain, inbox, slasher, registry, model, leader, domain, seq_signer, trader, lp
):
    """A promised block never posted while batches naming its rollup land in every L1 block."""
    post(chain, inbox, model, leader)
    deadline = height(chain) + 4
    promised = model.tips[CHAIN_A][0] + 10  # never reached below
    evidence = preconf_args(domain, seq_signer, promised, deadline)
    batches = {}
    for at in range(deadline - 1, deadline + 3):  # one batch in each L1 block around it
        batches[at] = post(chain, inbox, model, leader, at=at)

    # the current-tip form goes stale as soon as one more batch names the rollup
    stale_tip = model.tips[CHAIN_A]
    post(chain, inbox, model, leader)
    with ape.reverts("slasher: wrong rollup tip"):
        slasher.slash_preconf_not_posted(*evidence, *stale_tip, sender=trader)

    # a batch posted at the deadline is on time, whatever it holds; one posted after is proof
    for at in (deadline - 1, deadline):
        assert not posted_late(at, deadline)
        with ape.reverts("slasher: batch not late"):
            slasher.slash_preconf_posted_late(*evidence, batches[at].as_tuple(), 0, sender=trader)
    assert posted_late(deadline + 1, deadline)
    post(chain, inbox, model, leader)  # and more batches keep landing: still valid
    stake = registry.stake_of(leader)
    tx = slasher.slash_preconf_posted_late(
        *evidence, batches[deadline + 1].as_tuple(), 0, sender=trader
    )
    assert tx.return_value == SLASH_AMOUNT and registry.stake_of(leader) == stake - SLASH_AMOUNT
    with ape.reverts("registry: evidence already used"):  # once, whichever batch is shown
        slasher.slash_preconf_posted_late(
            *evidence, batches[deadline + 2].as_tuple(), 0, sender=trader
        )

    receipt, sig, legs = receipt_args(domain, seq_signer, promised, deadline, lp.address)
    assert (
        slasher.slash_bundle_posted_late(
            receipt, sig, legs, 0, batches[deadline + 2].as_tuple(), 0, sender=trader
        ).return_value
        == SLASH_AMOUNT
    )
    # a block that a batch by the deadline covered is not provable by a later batch
    covered = batches[deadline].rollups[0].first_block
    kept = preconf_args(domain, seq_signer, covered, deadline)
    with ape.reverts("slasher: block posted before this batch"):
        slasher.slash_preconf_posted_late(*kept, batches[deadline + 1].as_tuple(), 0, sender=trader)


def test_not_posted_by_current_tip_at_the_deadline_boundary(
    chain, inbox, slasher, model, leader, domain, seq_signer, trader
):
    post(chain, inbox, model, leader)
    deadline = height(chain) + 3
    evidence = preconf_args(domain, seq_signer, model.tips[CHAIN_A][0] + 1, deadline)
    mine_until(chain, deadline)  # the call lands in the deadline block: not yet broken
    with ape.reverts("slasher: deadline not passed"):
        slasher.slash_preconf_not_posted(*evidence, *model.tips[CHAIN_A], sender=trader)
    chain.mine(1)  # the next call lands one past the deadline
    tx = slasher.slash_preconf_not_posted(*evidence, *model.tips[CHAIN_A], sender=trader)
    assert tx.return_value == SLASH_AMOUNT


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_censorship_is_judged_by_the_block_of_the_consuming_batch(
    offset, chain, inbox, slasher, registry, model, leader, trader, fisherman
):
    """A forced item consumed by a batch posted at deadline + offset; the batch before it was
    posted well before the deadline."""
    inbox.force_include(CHAIN_A, b"\x02\xf8signed-tx", value=FORCE_FEE, sender=trader)
    deadline = inbox.forced_item(0).deadline
    before = post(chain, inbox, model, leader, forced_through=0)
    consuming = post(chain, inbox, model, leader, at=deadline + offset, forced_through=1)
    posted = [(s, inbox.posted_block(s)) for s in range(2)]
    late = consumed_late(0, 1, deadline + offset, {0: deadline}) == [0]
    assert late == (offset == 1)
    last = last_on_time(posted, deadline)
    assert last == (before.sequence if late else consuming.sequence)

    if height(chain) + 1 <= deadline:  # the call would land at the deadline: not yet
        with ape.reverts("slasher: deadline not passed"):
            slasher.slash_censorship_late(0, before.as_tuple(), sender=fisherman)
        mine_until(chain, deadline + 1)
    with ape.reverts("slasher: forced item was consumed"):
        slasher.slash_censorship(0, sender=fisherman)
    if not late:
        with ape.reverts("slasher: not the last batch by the deadline"):
            slasher.slash_censorship_late(0, before.as_tuple(), sender=fisherman)
        with ape.reverts("slasher: forced item consumed on time"):
            slasher.slash_censorship_late(0, consuming.as_tuple(), sender=fisherman)
        assert not registry.jailed(leader)
        return
    with ape.reverts("slasher: batch posted after the deadline"):
        slasher.slash_censorship_late(0, consuming.as_tuple(), sender=fisherman)
    with ape.reverts("slasher: header not committed"):
        forged = replace(before, bundle_root=rand32())
        slasher.slash_censorship_late(0, forged.as_tuple(), sender=fisherman)
    stake = registry.stake_of(leader)
    tx = slasher.slash_censorship_late(0, before.as_tuple(), sender=fisherman)
    assert tx.return_value == SLASH_AMOUNT
    assert registry.stake_of(leader) == stake - SLASH_AMOUNT and registry.jailed(leader)
    # the leader of the term holding the middle of the item's window, and only once per item
    assert slasher.censorship_term(deadline) == (deadline - FORCE_DELAY_BLOCKS // 2) // TERM_BLOCKS
    assert registry.leader_of(slasher.censorship_term(deadline)) == leader.address
    event = [e for e in tx.events if e.event_name == "ViolationProven"][0]
    assert (event.condition, event.sequencer, event.victim) == (4, leader.address, trader.address)
    with ape.reverts("registry: evidence already used"):
        slasher.slash_censorship_late(0, before.as_tuple(), sender=fisherman)


@pytest.mark.parametrize("offset", [0, 1])
def test_censorship_when_the_first_batch_ever_consumed_the_item(
    offset, chain, inbox, slasher, registry, model, leader, trader, fisherman
):
    inbox.force_include(CHAIN_A, b"\x02\xf8signed-tx", value=FORCE_FEE, sender=trader)
    deadline = inbox.forced_item(0).deadline
    post(chain, inbox, model, leader, at=deadline + offset, forced_through=1)
    assert last_on_time([(0, deadline + offset)], deadline) == (None if offset else 0)
    if height(chain) + 1 <= deadline:
        mine_until(chain, deadline + 1)
    if offset == 0:
        with ape.reverts("slasher: forced item was consumed"):
            slasher.slash_censorship(0, sender=fisherman)
        return
    assert slasher.slash_censorship(0, sender=fisherman).return_value == SLASH_AMOUNT
    assert registry.jailed(leader)
    with ape.reverts("registry: evidence already used"):
        slasher.slash_censorship(0, sender=fisherman)


def test_censorship_blames_the_leader_of_the_windows_middle_not_the_deadlines_term(
    chain, registry, inbox, slasher, sequencer_account, lp, trader, fisherman
):
    """Two sequencers. An item requested two blocks into term T-2 has its deadline in the first
    block of term T (FORCE_DELAY_BLOCKS 6, TERM_BLOCKS 4): the leader of T had one block of the
    window, the leader of T-1 all four. Left unconsumed, it is T-1's leader that pays."""
    assert (FORCE_DELAY_BLOCKS, TERM_BLOCKS) == (6, 4)
    for account in (sequencer_account, lp):
        registry.register(value=2 * MIN_STAKE, sender=account)
    mine_to_term_start(chain, current_term(chain) + 2)  # both weigh from here on
    for _ in range(40):  # until two consecutive terms have different leaders
        term = current_term(chain) + 2
        mine_until(chain, term * TERM_BLOCKS - FORCE_DELAY_BLOCKS)
        inbox.force_include(CHAIN_A, b"\x02\xf8signed-tx", value=FORCE_FEE, sender=trader)
        index = inbox.forced_count() - 1
        deadline = inbox.forced_item(index).deadline
        assert deadline == term * TERM_BLOCKS  # the first block of the term
        mine_until(chain, (term - 1) * TERM_BLOCKS + 2)  # term's seed block is mined
        if registry.leader_of(term - 1) != registry.leader_of(term):
            break
    else:
        pytest.fail("no two consecutive terms with different leaders")
    middle, last = registry.leader_of(term - 1), registry.leader_of(term)
    assert slasher.censorship_term(deadline) == term - 1
    mine_until(chain, deadline + 1)
    tx = slasher.slash_censorship(index, sender=fisherman)
    event = [e for e in tx.events if e.event_name == "ViolationProven"][0]
    assert event.sequencer == middle and event.amount == SLASH_AMOUNT
    assert registry.jailed(middle) and not registry.jailed(last)
