"""Slasher: each condition of DESIGN §4.1 with real keys signing real evidence.

Every condition succeeds against a dishonest sequencer (amounts checked to the wei), and the same
kind of evidence fails against an honest one, when replayed, with a wrong signer, with a
signature from another domain (chain id or verifying contract), or with a proof for another batch.
"""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest
from l1_helpers import (
    CHAIN_A,
    CHAIN_B,
    FORCE_FEE,
    SLASH_AMOUNT,
    current_term,
    height,
    mine_to_term_start,
    mine_until,
    payload_and_hash,
    rand32,
    split,
)

from sequencer import commitments as c

STRANGER = c.Signer(b"\x42" * 32)  # a key with no stake


@pytest.fixture
def fixture_ready(slasher, staked):
    return staked


def post_ranges(chain, inbox, model, ranges, sender, forced_through=None):
    payload, data_hash = payload_and_hash(64)
    header = model.header(current_term(chain), ranges, data_hash, forced_through)
    inbox.post_batch(header.as_tuple(), payload, sender=sender)
    model.accepted(header)
    return header


class Payouts:
    """Claimable balances before a slash, to check the split to the wei afterwards."""

    def __init__(self, registry, *accounts):
        self.registry = registry
        self.accounts = [str(a) for a in accounts] + [registry.TREASURY()]
        self.before = {a: registry.claimable(a) for a in self.accounts}

    def delta(self, account) -> int:
        account = str(account)
        return self.registry.claimable(account) - self.before[account]


def check_split(payouts, reporter, victim, amount=SLASH_AMOUNT):
    """Reporter: REPORTER_BPS; victim: VICTIM_BPS (treasury if none); treasury: the rest."""
    to_reporter, to_victim, to_treasury = split(amount)
    treasury = payouts.registry.TREASURY()
    if victim is None:
        assert payouts.delta(reporter) == to_reporter
        assert payouts.delta(treasury) == to_victim + to_treasury
    elif str(victim) == str(reporter):
        assert payouts.delta(reporter) == to_reporter + to_victim
        assert payouts.delta(treasury) == to_treasury
    else:
        assert payouts.delta(reporter) == to_reporter
        assert payouts.delta(victim) == to_victim
        assert payouts.delta(treasury) == to_treasury


# --- 1. equivocation ---


def test_equivocation(registry, slasher, fixture_ready, domain, seq_signer, fisherman, chain):
    sequencer = fixture_ready
    one = c.BlockHeaderMsg(CHAIN_A, 7, rand32(), rand32())
    two = replace(one, block_hash=rand32())
    sig_one, sig_two = seq_signer.sign(domain, one), seq_signer.sign(domain, two)

    def call(a, sa, b, sb):
        return slasher.slash_equivocation(
            (a.chain_id, a.block_number, a.block_hash, a.parent_hash),
            sa,
            (b.chain_id, b.block_number, b.block_hash, b.parent_hash),
            sb,
            sender=fisherman,
        )

    # honest: the same header twice, or two headers for different blocks
    with ape.reverts("slasher: same block hash"):
        call(one, sig_one, one, sig_one)
    other_block = replace(two, block_number=8)
    with ape.reverts("slasher: headers for different blocks"):
        call(one, sig_one, other_block, seq_signer.sign(domain, other_block))
    # wrong signer, and signatures made for another chain id or another verifying contract
    with ape.reverts("slasher: signer has no stake"):
        call(one, STRANGER.sign(domain, one), two, STRANGER.sign(domain, two))
    for wrong in (replace(domain, chain_id=1), replace(domain, verifying_contract=rand32()[:20])):
        with ape.reverts("slasher: signer has no stake"):
            call(one, seq_signer.sign(wrong, one), two, seq_signer.sign(wrong, two))

    stake = registry.stake_of(sequencer)
    payouts = Payouts(registry, fisherman)
    tx = call(one, sig_one, two, sig_two)
    assert tx.return_value == SLASH_AMOUNT
    assert registry.stake_of(sequencer) == stake - SLASH_AMOUNT
    event = [e for e in tx.events if e.event_name == "ViolationProven"][0]
    assert (event.condition, event.sequencer, event.amount) == (1, sequencer.address, SLASH_AMOUNT)
    check_split(payouts, fisherman, None)
    with ape.reverts("registry: evidence already used"):
        call(two, sig_two, one, sig_one)


# --- 2. pre-confirmation violations ---


@pytest.fixture
def committed(chain, inbox, model, fixture_ready):
    """Two batches: rollup A blocks 1-2 (3 and 2 txs) and B block 1; then A block 3 (1 tx)."""
    first = model.range(model.next_blocks(CHAIN_A, [3, 2]))
    b = model.range(model.next_blocks(CHAIN_B, [1]))
    header_one = post_ranges(chain, inbox, model, [first, b], fixture_ready)
    second = model.range(model.next_blocks(CHAIN_A, [1]))
    header_two = post_ranges(chain, inbox, model, [second], fixture_ready)
    return {"h1": header_one, "a1": first, "b1": b, "h2": header_two, "a2": second}


def preconf_tuple(p: c.PreconfMsg) -> tuple:
    return (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline)


def test_preconf_wrong_tx(chain, registry, slasher, committed, domain, seq_signer, trader):
    header, rng = committed["h1"], committed["a1"]
    leaf, proof = rng.tx_proof(1, 2)  # what the batch holds at (A, block 1, index 2)
    kept = c.PreconfMsg(CHAIN_A, 1, 2, leaf[3], chain.blocks.height + 50)
    broken = replace(kept, tx_hash=rand32())

    def call(p, sig, header=header, leaf=leaf, proof=proof, rollup_index=0):
        return slasher.slash_preconf_wrong_tx(
            preconf_tuple(p), sig, header.as_tuple(), rollup_index, leaf, proof, sender=trader
        )

    with ape.reverts("slasher: promise kept"):
        call(kept, seq_signer.sign(domain, kept))
    sig = seq_signer.sign(domain, broken)
    with ape.reverts("slasher: signer has no stake"):
        call(broken, STRANGER.sign(domain, broken))
    with ape.reverts("slasher: signer has no stake"):
        call(broken, seq_signer.sign(replace(domain, chain_id=5), broken))
    # a proof for another batch: the leaf and proof of batch 2 against batch 1's header
    other_leaf, other_proof = committed["a2"].tx_proof(3, 0)
    moved = replace(broken, block_number=3, index=0)
    with ape.reverts("slasher: block not in batch"):
        call(moved, seq_signer.sign(domain, moved), leaf=other_leaf, proof=other_proof)
    with ape.reverts("slasher: invalid proof"):
        call(broken, sig, proof=committed["a1"].tx_proof(1, 1)[1])
    with ape.reverts("slasher: header not committed"):
        call(broken, sig, header=replace(header, bundle_root=rand32()))
    with ape.reverts("slasher: batch rollup is another chain"):
        call(broken, sig, rollup_index=1)
    with ape.reverts("slasher: leaf is for another position"):
        call(broken, sig, leaf=rng.tx_proof(1, 1)[0])

    payouts = Payouts(registry, trader)
    tx = call(broken, sig)
    assert tx.return_value == SLASH_AMOUNT
    check_split(payouts, trader, trader)  # the preconf's holder is its victim
    with ape.reverts("registry: evidence already used"):
        call(broken, sig)


def test_preconf_block_too_short(chain, registry, slasher, committed, domain, seq_signer, trader):
    header, rng = committed["h1"], committed["a1"]
    leaf, proof = rng.block_proof(2)  # block A2 holds 2 transactions
    deadline = chain.blocks.height + 50
    kept = c.PreconfMsg(CHAIN_A, 2, 1, rand32(), deadline)
    broken = c.PreconfMsg(CHAIN_A, 2, 2, rand32(), deadline)

    def call(p, sig, header=header, proof=proof):
        return slasher.slash_preconf_short_block(
            preconf_tuple(p), sig, header.as_tuple(), 0, leaf, proof, sender=trader
        )

    with ape.reverts("slasher: block holds the position"):
        call(kept, seq_signer.sign(domain, kept))
    sig = seq_signer.sign(domain, broken)
    with ape.reverts("slasher: signer has no stake"):
        call(broken, STRANGER.sign(domain, broken))
    with ape.reverts("slasher: signer has no stake"):  # signed for another verifying contract
        call(broken, seq_signer.sign(replace(domain, verifying_contract=rand32()[:20]), broken))
    with ape.reverts("slasher: block not in batch"):  # another batch's header
        call(broken, sig, header=committed["h2"])
    with ape.reverts("slasher: header not committed"):
        call(broken, sig, header=replace(header, forced_through=9))
    with ape.reverts("slasher: invalid proof"):
        call(broken, sig, proof=rng.block_proof(1)[1])
    payouts = Payouts(registry, trader)
    assert call(broken, sig).return_value == SLASH_AMOUNT
    check_split(payouts, trader, trader)
    with ape.reverts("registry: evidence already used"):
        call(broken, sig)


def test_preconf_block_not_posted_by_deadline(
    chain, registry, slasher, committed, domain, seq_signer, trader, inbox, model, fixture_ready
):
    deadline = chain.blocks.height + 5
    late = c.PreconfMsg(CHAIN_A, 5, 0, rand32(), deadline)  # A is posted up to block 3
    posted = c.PreconfMsg(CHAIN_A, 3, 0, rand32(), deadline)
    sig = seq_signer.sign(domain, late)

    tip = model.tips[CHAIN_A]

    def call(p, sig, tip=tip):
        return slasher.slash_preconf_not_posted(preconf_tuple(p), sig, *tip, sender=trader)

    with ape.reverts("slasher: deadline not passed"):
        call(late, sig)
    mine_until(chain, deadline + 1)
    with ape.reverts("slasher: wrong rollup tip"):  # claiming the rollup stopped earlier
        call(late, sig, tip=(2, committed["a1"].blocks[-1].block_hash))
    with ape.reverts("slasher: block was posted"):
        call(posted, seq_signer.sign(domain, posted))
    with ape.reverts("slasher: signer has no stake"):
        call(late, STRANGER.sign(domain, late))
    with ape.reverts("slasher: signer has no stake"):  # signed for another L1
        call(late, seq_signer.sign(replace(domain, chain_id=1), late))
    payouts = Payouts(registry, trader)
    assert call(late, sig).return_value == SLASH_AMOUNT
    check_split(payouts, trader, trader)
    with ape.reverts("registry: evidence already used"):
        call(late, sig)


def test_preconf_and_bundle_posted_late(
    chain, registry, slasher, inbox, model, fixture_ready, domain, seq_signer, trader, lp
):
    deadline = height(chain) + 2
    on_time = post_ranges(
        chain, inbox, model, [model.range(model.next_blocks(CHAIN_A, [1]))], fixture_ready
    )
    mine_to_term_start(chain, current_term(chain) + 2)  # this term began after the deadline
    late = post_ranges(
        chain, inbox, model, [model.range(model.next_blocks(CHAIN_A, [1]))], fixture_ready
    )
    assert inbox.posted_block(late.sequence) > deadline >= inbox.posted_block(on_time.sequence)

    def preconf(block):
        p = c.PreconfMsg(CHAIN_A, block, 0, rand32(), deadline)
        return preconf_tuple(p), seq_signer.sign(domain, p)

    with ape.reverts("slasher: batch not late"):
        slasher.slash_preconf_posted_late(*preconf(1), on_time.as_tuple(), 0, sender=trader)
    with ape.reverts("slasher: block posted before this batch"):  # block 1 was on time
        slasher.slash_preconf_posted_late(*preconf(1), late.as_tuple(), 0, sender=trader)
    with ape.reverts("slasher: header not committed"):
        slasher.slash_preconf_posted_late(
            *preconf(2), replace(late, sequence=9).as_tuple(), 0, sender=trader
        )
    with ape.reverts("slasher: no such rollup in batch"):
        slasher.slash_preconf_posted_late(*preconf(2), late.as_tuple(), 1, sender=trader)
    evidence = preconf(2)
    payouts = Payouts(registry, trader)
    tx = slasher.slash_preconf_posted_late(*evidence, late.as_tuple(), 0, sender=trader)
    assert tx.return_value == SLASH_AMOUNT
    check_split(payouts, trader, trader)
    with ape.reverts("registry: evidence already used"):
        slasher.slash_preconf_posted_late(*evidence, late.as_tuple(), 0, sender=trader)

    legs = [(CHAIN_A, 1, 0, rand32()), (CHAIN_A, 2, 0, rand32())]
    receipt = c.BundleReceiptMsg(rand32(), c.legs_hash(legs), lp.address, deadline)
    r = (receipt.bundle_hash, receipt.legs_hash, lp.address, deadline)
    sig = seq_signer.sign(domain, receipt)
    with ape.reverts("slasher: batch not late"):
        slasher.slash_bundle_posted_late(r, sig, legs, 0, on_time.as_tuple(), 0, sender=trader)
    with ape.reverts("slasher: signer has no stake"):
        slasher.slash_bundle_posted_late(
            r, STRANGER.sign(domain, receipt), legs, 1, late.as_tuple(), 0, sender=trader
        )
    payouts = Payouts(registry, trader, lp)
    tx = slasher.slash_bundle_posted_late(r, sig, legs, 1, late.as_tuple(), 0, sender=trader)
    assert tx.return_value == SLASH_AMOUNT
    check_split(payouts, trader, lp)


# --- 3. bundle violation ---


@pytest.fixture
def bundle(chain, inbox, model, fixture_ready):
    """A bundle with one leg on each rollup; the batch commits leg B as reverted."""
    a_blocks = model.next_blocks(CHAIN_A, [2])
    b_blocks = model.next_blocks(CHAIN_B, [3])
    b_reverted = c.BlockRecord(
        CHAIN_B,
        b_blocks[0].number,
        b_blocks[0].block_hash,
        (
            b_blocks[0].txs[0],
            c.TxRecord(1, b_blocks[0].txs[1].tx_hash, c.STATUS_REVERTED),
            b_blocks[0].txs[2],
        ),
    )
    ranges = [model.range(a_blocks), model.range([b_reverted])]
    header = post_ranges(chain, inbox, model, ranges, fixture_ready)
    legs = [
        (CHAIN_A, a_blocks[0].number, 1, a_blocks[0].txs[1].tx_hash),
        (CHAIN_B, b_reverted.number, 1, b_reverted.txs[1].tx_hash),
    ]
    return {"header": header, "ranges": ranges, "legs": legs}


def test_bundle_leg_not_successful(
    chain, registry, slasher, bundle, domain, seq_signer, lp, trader
):
    legs, header, ranges = bundle["legs"], bundle["header"], bundle["ranges"]
    receipt = c.BundleReceiptMsg(rand32(), c.legs_hash(legs), lp.address, chain.blocks.height + 40)
    sig = seq_signer.sign(domain, receipt)
    receipt_tuple = (receipt.bundle_hash, receipt.legs_hash, receipt.beneficiary, receipt.deadline)
    leaf_a, proof_a = ranges[0].tx_proof(legs[0][1], 1)
    leaf_b, proof_b = ranges[1].tx_proof(legs[1][1], 1)

    def call(leg_index, rollup_index, leaf, proof, sig=sig, legs=legs):
        return slasher.slash_bundle_wrong_tx(
            receipt_tuple,
            sig,
            legs,
            leg_index,
            header.as_tuple(),
            rollup_index,
            leaf,
            proof,
            sender=trader,
        )

    with ape.reverts("slasher: promise kept"):  # leg A landed, successful, at its position
        call(0, 0, leaf_a, proof_a)
    with ape.reverts("slasher: legs do not match receipt"):
        call(1, 1, leaf_b, proof_b, legs=[legs[1], legs[0]])
    with ape.reverts("slasher: no such leg"):
        call(2, 1, leaf_b, proof_b)
    with ape.reverts("slasher: signer has no stake"):
        call(1, 1, leaf_b, proof_b, sig=STRANGER.sign(domain, receipt))
    with ape.reverts("slasher: signer has no stake"):
        call(1, 1, leaf_b, proof_b, sig=seq_signer.sign(replace(domain, chain_id=902), receipt))
    with ape.reverts("slasher: invalid proof"):
        call(1, 1, leaf_b, proof_a)
    payouts = Payouts(registry, trader, lp)
    assert call(1, 1, leaf_b, proof_b).return_value == SLASH_AMOUNT
    check_split(payouts, trader, lp)  # compensation to the bundle's beneficiary
    with ape.reverts("registry: evidence already used"):
        call(1, 1, leaf_b, proof_b)


def test_bundle_short_block_and_not_posted(
    chain, registry, slasher, bundle, domain, seq_signer, lp, trader, model
):
    header, ranges = bundle["header"], bundle["ranges"]
    block_a = bundle["legs"][0][1]
    leaf, proof = ranges[0].block_proof(block_a)  # 2 transactions
    legs = [(CHAIN_A, block_a, 2, rand32()), (CHAIN_B, 50, 0, rand32())]
    deadline = chain.blocks.height + 4
    receipt = c.BundleReceiptMsg(rand32(), c.legs_hash(legs), lp.address, deadline)
    receipt_tuple = (receipt.bundle_hash, receipt.legs_hash, receipt.beneficiary, receipt.deadline)
    sig = seq_signer.sign(domain, receipt)
    payouts = Payouts(registry, trader, lp)
    tx = slasher.slash_bundle_short_block(
        receipt_tuple, sig, legs, 0, header.as_tuple(), 0, leaf, proof, sender=trader
    )
    assert tx.return_value == SLASH_AMOUNT
    check_split(payouts, trader, lp)
    # the same receipt is one piece of evidence: its other leg cannot slash again
    mine_until(chain, deadline + 1)
    tip_b = model.tips[CHAIN_B]
    with ape.reverts("registry: evidence already used"):
        slasher.slash_bundle_not_posted(receipt_tuple, sig, legs, 1, *tip_b, sender=trader)
    with ape.reverts("slasher: signer has no stake"):
        slasher.slash_bundle_not_posted(
            receipt_tuple, STRANGER.sign(domain, receipt), legs, 1, *tip_b, sender=trader
        )
    # a fresh receipt whose leg B block was never posted
    legs2 = [(CHAIN_B, 50, 0, rand32())]
    receipt2 = c.BundleReceiptMsg(rand32(), c.legs_hash(legs2), lp.address, deadline)
    r2 = (receipt2.bundle_hash, receipt2.legs_hash, receipt2.beneficiary, receipt2.deadline)
    sig2 = seq_signer.sign(domain, receipt2)
    payouts = Payouts(registry, trader, lp)
    assert slasher.slash_bundle_not_posted(
        r2, sig2, legs2, 0, *tip_b, sender=trader
    ).return_value == (SLASH_AMOUNT)
    check_split(payouts, trader, lp)
    posted_legs = [(CHAIN_B, bundle["legs"][1][1], 0, rand32())]
    receipt3 = replace(receipt2, legs_hash=c.legs_hash(posted_legs))
    r3 = (receipt3.bundle_hash, receipt3.legs_hash, receipt3.beneficiary, receipt3.deadline)
    with ape.reverts("slasher: block was posted"):
        slasher.slash_bundle_not_posted(
            r3, seq_signer.sign(domain, receipt3), posted_legs, 0, *tip_b, sender=trader
        )


# --- 4. censorship ---


def test_censorship_slashes_and_jails_the_terms_leader(
    chain, registry, slasher, inbox, model, fixture_ready, trader, fisherman
):
    sequencer = fixture_ready
    tx = inbox.force_include(CHAIN_A, b"\x02\xf8signed-tx", value=FORCE_FEE, sender=trader)
    deadline = inbox.forced_item(0).deadline
    with ape.reverts("slasher: deadline not passed"):
        slasher.slash_censorship(0, sender=fisherman)
    with ape.reverts("inbox: no such forced item"):
        slasher.slash_censorship(1, sender=fisherman)
    mine_until(chain, deadline + 1)
    stake = registry.stake_of(sequencer)
    payouts = Payouts(registry, fisherman, trader)
    tx = slasher.slash_censorship(0, sender=fisherman)
    assert tx.return_value == SLASH_AMOUNT
    assert registry.stake_of(sequencer) == stake - SLASH_AMOUNT
    assert registry.jailed(sequencer)
    assert registry.leader_of(slasher.censorship_term(deadline)) == sequencer.address
    check_split(payouts, fisherman, trader)  # the forced item's sender is the victim
    with ape.reverts("registry: evidence already used"):
        slasher.slash_censorship(0, sender=fisherman)


def test_censorship_fails_when_the_item_was_consumed(
    chain, slasher, inbox, model, fixture_ready, trader, fisherman
):
    inbox.force_include(CHAIN_A, b"\x02\xf8signed-tx", value=FORCE_FEE, sender=trader)
    deadline = inbox.forced_item(0).deadline
    ranges = [model.range(model.next_blocks(CHAIN_A, [1]))]
    post_ranges(chain, inbox, model, ranges, fixture_ready, forced_through=1)
    mine_until(chain, deadline + 1)
    with ape.reverts("slasher: forced item was consumed"):
        slasher.slash_censorship(0, sender=fisherman)


# --- 5. malformed batch ---


@pytest.fixture
def malformed(chain, inbox, model, fixture_ready):
    """A batch whose rollup-A root holds, besides the honest leaves of block A1, a second tx
    leaf for (A1, index 1) and a second block leaf for A1."""
    blocks = model.next_blocks(CHAIN_A, [2])
    block = blocks[0]
    honest = c.range_leaves(blocks)  # tx 0, tx 1, block leaf
    fake_tx = (CHAIN_A, block.number, 1, rand32(), c.STATUS_SUCCESS)
    fake_block = (CHAIN_A, block.number, 7, block.block_hash)
    leaves = honest + [c.tx_leaf(*fake_tx), c.block_leaf(*fake_block)]
    rng = model.range(blocks, leaves)
    header = post_ranges(chain, inbox, model, [rng], fixture_ready)
    real_tx = (CHAIN_A, block.number, 1, block.txs[1].tx_hash, c.STATUS_SUCCESS)
    real_block = (CHAIN_A, block.number, 2, block.block_hash)
    return {
        "header": header,
        "tree": rng.tree,
        "tx": (real_tx, rng.tree.proof(1), fake_tx, rng.tree.proof(3)),
        "block": (real_block, rng.tree.proof(2), fake_block, rng.tree.proof(4)),
        "tx0": ((CHAIN_A, block.number, 0, block.txs[0].tx_hash, 1), rng.tree.proof(0)),
    }


def test_malformed_batch_two_tx_leaves(registry, slasher, malformed, fixture_ready, fisherman):
    header = malformed["header"].as_tuple()
    real, real_proof, fake, fake_proof = malformed["tx"]
    tx0, tx0_proof = malformed["tx0"]
    with ape.reverts("slasher: same leaf"):
        slasher.slash_malformed_tx(header, 0, real, real_proof, real, real_proof, sender=fisherman)
    with ape.reverts("slasher: leaves for different positions"):
        slasher.slash_malformed_tx(header, 0, real, real_proof, tx0, tx0_proof, sender=fisherman)
    with ape.reverts("slasher: invalid proof"):
        slasher.slash_malformed_tx(header, 0, real, real_proof, fake, real_proof, sender=fisherman)
    stake = registry.stake_of(fixture_ready)
    payouts = Payouts(registry, fisherman)
    tx = slasher.slash_malformed_tx(header, 0, real, real_proof, fake, fake_proof, sender=fisherman)
    assert tx.return_value == SLASH_AMOUNT
    assert registry.stake_of(fixture_ready) == stake - SLASH_AMOUNT
    check_split(payouts, fisherman, None)
    with ape.reverts("registry: evidence already used"):
        slasher.slash_malformed_tx(header, 0, fake, fake_proof, real, real_proof, sender=fisherman)


def test_malformed_batch_two_block_leaves(
    chain, registry, slasher, inbox, model, malformed, fixture_ready, fisherman
):
    real, real_proof, fake, fake_proof = malformed["block"]
    # an honest batch: the same evidence shape finds only one block leaf
    good = model.range(model.next_blocks(CHAIN_A, [1]))
    honest = post_ranges(chain, inbox, model, [good], fixture_ready)
    leaf, proof = good.block_proof(good.blocks[0].number)
    with ape.reverts("slasher: same leaf"):
        slasher.slash_malformed_block(
            honest.as_tuple(), 0, leaf, proof, leaf, proof, sender=fisherman
        )
    # leaves and proofs of another batch
    with ape.reverts("slasher: block not in batch"):
        slasher.slash_malformed_block(
            honest.as_tuple(), 0, real, real_proof, fake, fake_proof, sender=fisherman
        )
    header = malformed["header"].as_tuple()
    payouts = Payouts(registry, fisherman)
    tx = slasher.slash_malformed_block(
        header, 0, real, real_proof, fake, fake_proof, sender=fisherman
    )
    assert tx.return_value == SLASH_AMOUNT
    check_split(payouts, fisherman, None)
