"""SharedInbox: who may post, checks on every batch, blobs, the escape hatch, forced inclusion."""

from __future__ import annotations

import os
from dataclasses import replace

import ape
import pytest
from eth_account import Account
from eth_account.typed_transactions.base import Blob, BlobPooledTransactionData
from hexbytes import HexBytes
from l1_helpers import (
    CHAIN_A,
    CHAIN_B,
    ESCAPE_BLOCKS,
    FORCE_DELAY_BLOCKS,
    FORCE_FEE,
    current_term,
    height,
    mine_to_term_start,
    mine_until,
    payload_and_hash,
    rand32,
)

from sequencer import commitments as c

ZERO = "0x0000000000000000000000000000000000000000"


def two_rollup_batch(chain, model, tx_counts=(3, 2)):
    ranges = [
        model.range(model.next_blocks(CHAIN_A, [tx_counts[0]])),
        model.range(model.next_blocks(CHAIN_B, [tx_counts[1]])),
    ]
    payload, data_hash = payload_and_hash()
    return model.header(current_term(chain), ranges, data_hash), payload


def post(inbox, model, header, payload, sender):
    tx = inbox.post_batch(header.as_tuple(), payload, sender=sender)
    model.accepted(header)
    return tx


def header_from_event(h) -> c.BatchHeader:
    """The header as ape decodes it from the event (a list in the struct's field order)."""
    rollups = tuple(
        c.RollupCommitment(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]), bytes(r[5]), bytes(r[6]))
        for r in h[3]
    )
    return c.BatchHeader(h[0], bytes(h[1]), h[2], rollups, bytes(h[4]), h[5], bytes(h[6]))


def test_leader_posts_a_chain_of_batches(chain, inbox, staked, model):
    for _ in range(3):
        header, payload = two_rollup_batch(chain, model)
        tx = post(inbox, model, header, payload, staked)
        event = tx.events[-1]
        assert event.event_name == "BatchPosted"
        assert bytes(event.header_hash) == header.hash()
        assert header_from_event(event.header) == header  # the full header is in the event
        assert not event.escape
        assert bytes(inbox.batch_hash(header.sequence)) == header.hash()
    assert inbox.next_sequence() == 3
    for chain_id in (CHAIN_A, CHAIN_B):
        number, block_hash = model.tips[chain_id]
        assert number == 3
        assert bytes(inbox.rollup_tip(chain_id)) == c.keccak((3).to_bytes(32, "big") + block_hash)
        assert inbox.rollup_tip_matches(chain_id, 3, block_hash)
        assert not inbox.rollup_tip_matches(chain_id, 2, block_hash)


def test_batch_checks(chain, inbox, staked, model):
    header, payload = two_rollup_batch(chain, model)
    post(inbox, model, header, payload, staked)
    good, payload = two_rollup_batch(chain, model)
    a, b = good.rollups

    def attempt(reason, data=payload, **changes):
        # a reverted transaction is still mined, so the term is taken afresh for each attempt
        bad = replace(good, **{"term": current_term(chain), **changes})
        with ape.reverts(reason):
            inbox.post_batch(bad.as_tuple(), data, sender=staked)

    attempt("inbox: data hash mismatch", data=payload + b"\x00")
    attempt("inbox: wrong sequence", sequence=2)
    attempt("inbox: prev_hash mismatch", prev_hash=rand32())
    attempt("inbox: wrong term", term=current_term(chain) + 1)
    attempt("inbox: rollups not sorted by chain id", rollups=(b, a))
    attempt("inbox: rollups not sorted by chain id", rollups=(a, a))
    gap = replace(a, first_block=a.first_block + 1, last_block=a.first_block + 1)
    attempt("inbox: rollup does not continue its last block", rollups=(gap, b))
    fork = replace(a, parent_hash=rand32())
    attempt("inbox: rollup does not continue its last block", rollups=(fork, b))
    attempt("inbox: forced_through beyond queue", forced_through=1)
    # and the untouched header still goes through
    post(inbox, model, replace(good, term=current_term(chain)), payload, staked)


def test_only_the_active_leader_posts(
    chain, inbox, registry, staked, model, trader, deployer, keeper
):
    registry.set_slasher(keeper, sender=deployer)
    term = current_term(chain) + 1
    mine_to_term_start(chain, term)  # the four transactions below share one term
    header, payload = two_rollup_batch(chain, model)
    post(inbox, model, header, payload, staked)
    header, payload = two_rollup_batch(chain, model)
    with ape.reverts("inbox: poster is not the active leader"):
        inbox.post_batch(header.as_tuple(), payload, sender=trader)
    # a jailed leader cannot post, even within its own term
    registry.slash(staked, 1, b"\x09" * 32, trader, ZERO, True, sender=keeper)
    assert registry.leader_of(term) == staked.address and current_term(chain) == term
    header, payload = two_rollup_batch(chain, model)
    with ape.reverts("inbox: poster is not the active leader"):
        inbox.post_batch(header.as_tuple(), payload, sender=staked)


def test_escape_hatch_opens_exactly_at_escape_blocks(chain, inbox, staked, model, trader):
    header, payload = two_rollup_batch(chain, model)
    last = post(inbox, model, header, payload, staked).block_number
    assert inbox.last_batch_block() == last
    mine_until(chain, last + ESCAPE_BLOCKS - 1)
    header, payload = two_rollup_batch(chain, model)
    snapshot = chain.snapshot()
    with ape.reverts("inbox: poster is not the active leader"):
        tx = inbox.post_batch(header.as_tuple(), payload, sender=trader)
    # that attempt was for block last + ESCAPE - 1; a reverted transaction may still be mined,
    # so go back and mine exactly one block: the next transaction lands at last + ESCAPE
    chain.restore(snapshot)
    chain.mine(1)
    assert height(chain) + 1 == last + ESCAPE_BLOCKS
    tx = post(inbox, model, header, payload, trader)
    assert tx.block_number == last + ESCAPE_BLOCKS
    assert tx.events[-1].escape
    assert inbox.escape_poster(header.sequence) == trader.address
    # the hatch closes again with that batch
    header, payload = two_rollup_batch(chain, model)
    with ape.reverts("inbox: poster is not the active leader"):
        inbox.post_batch(header.as_tuple(), payload, sender=trader)


def test_forced_inclusion_queue_and_deadline(chain, inbox, staked, model, trader):
    raw = os.urandom(120)
    with ape.reverts("inbox: fee too low"):
        inbox.force_include(CHAIN_A, raw, value=FORCE_FEE - 1, sender=trader)
    with ape.reverts("inbox: empty transaction"):
        inbox.force_include(CHAIN_A, b"", value=FORCE_FEE, sender=trader)
    tx = inbox.force_include(CHAIN_A, raw, value=FORCE_FEE, sender=trader)
    deadline = tx.block_number + FORCE_DELAY_BLOCKS
    event = tx.events[0]
    assert (event.index, event.chain_id, event.sender, bytes(event.raw_tx)) == (
        0,
        CHAIN_A,
        trader.address,
        raw,
    )
    assert event.deadline == deadline
    item = inbox.forced_item(0)
    assert (item.chain_id, item.sender, item.deadline, item.fee) == (
        CHAIN_A,
        trader.address,
        deadline,
        FORCE_FEE,
    )
    assert bytes(item.tx_hash) == c.keccak(raw)
    assert inbox.forced_count() == 1
    with ape.reverts("inbox: no such forced item"):
        inbox.forced_item(1)

    # until the deadline a batch may leave it in the queue
    mine_until(chain, deadline)
    header, payload = two_rollup_batch(chain, model)
    post(inbox, model, header, payload, staked)
    # after it, a batch that leaves it unconsumed is still accepted (after an outage the blocks
    # up to the item may take several batches; refusing them would stop every batch for good),
    # the item stays unconsumed (censorship evidence), and a later batch consumes it
    header, payload = two_rollup_batch(chain, model)
    post(inbox, model, header, payload, staked)
    assert inbox.forced_through() == 0
    assert inbox.forced_status(0)[2] is False
    header, payload = two_rollup_batch(chain, model)
    consuming = c.BatchHeader(**{**header.__dict__, "forced_through": 1})
    post(inbox, model, consuming, payload, staked)
    assert inbox.forced_through() == 1
    backwards, payload = two_rollup_batch(chain, model)
    with ape.reverts("inbox: forced_through went backwards"):
        inbox.post_batch(
            c.BatchHeader(**{**backwards.__dict__, "forced_through": 0}).as_tuple(),
            payload,
            sender=staked,
        )


def test_fees_go_to_the_treasury(inbox, trader, treasury, keeper):
    inbox.force_include(CHAIN_B, b"\x01\x02", value=3 * FORCE_FEE, sender=trader)
    before = treasury.balance
    inbox.sweep_fees(sender=keeper)
    assert treasury.balance == before + 3 * FORCE_FEE
    with ape.reverts("inbox: no fees"):
        inbox.sweep_fees(sender=keeper)


def test_constructor_refuses_a_force_delay_beyond_the_evidence_window(project, registry, deployer):
    with ape.reverts("inbox: force delay exceeds evidence window"):
        project.SharedInbox.deploy(
            registry, ESCAPE_BLOCKS, 17, FORCE_FEE, [CHAIN_A], sender=deployer
        )
    with ape.reverts("inbox: zero escape delay"):
        project.SharedInbox.deploy(
            registry, 0, FORCE_DELAY_BLOCKS, FORCE_FEE, [CHAIN_A], sender=deployer
        )


def blob_of(seed: bytes) -> bytes:
    """A blob of 4096 field elements, each below the BLS modulus (leading zero byte)."""
    out = bytearray()
    for i in range(4096):
        out += b"\x00" + c.keccak(seed + i.to_bytes(4, "big"))[:31]
    return bytes(out)


def send_blob_batch(chain, inbox, header, blob, sender_key):
    w3 = chain.provider.web3
    account = Account.from_key(sender_key)
    latest = w3.eth.get_block("latest")
    tx = {
        "type": 3,
        "chainId": chain.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address),
        "to": str(inbox.address),
        "value": 0,
        "data": inbox.post_batch_blob.as_transaction(
            header.as_tuple(), sender=account.address
        ).data,
        "gas": 500_000,
        "maxFeePerGas": 2 * latest["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**10,
    }
    signed = account.sign_transaction(tx, blobs=[blob])
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)


@pytest.mark.parametrize("matching", [True, False])
def test_post_batch_blob_with_a_real_type3_transaction(
    chain, inbox, staked, model, matching, eth_account_kzg_setup_once
):
    blob = blob_of(os.urandom(8))
    versioned = bytes(
        BlobPooledTransactionData(blobs=[Blob(data=HexBytes(blob))]).versioned_hashes[0].data
    )
    assert versioned[0] == 1
    ranges = [model.range(model.next_blocks(CHAIN_A, [2]))]
    header = model.header(current_term(chain), ranges, versioned if matching else rand32())
    receipt = send_blob_batch(chain, inbox, header, blob, staked.private_key)
    assert receipt["type"] == 3
    if matching:
        assert receipt["status"] == 1
        assert bytes(inbox.batch_hash(0)) == header.hash()
        assert receipt["blobGasUsed"] == 2**17
    else:
        assert receipt["status"] == 0
        assert inbox.next_sequence() == 0


def test_post_batch_blob_without_a_blob(chain, inbox, staked, model):
    ranges = [model.range(model.next_blocks(CHAIN_A, [1]))]
    header = model.header(current_term(chain), ranges, rand32())
    with ape.reverts("inbox: no blob"):
        inbox.post_batch_blob(header.as_tuple(), sender=staked)
