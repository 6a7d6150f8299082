"""The bundle book on in-memory engines (tests/sequencer/fakes.py): a bundle lands whole in one
slot with a signed receipt, or nothing of it is sealed.

The same on anvil with the real contracts: tests/e2e/test_sequencer_bundles.py.
"""

import asyncio

import pytest
from eth_utils import to_checksum_address
from fakes import ADDRESSES, GAS_LIMIT, KEYS, start_sequencer, transfer

from sequencer.commitments import BundleReceiptMsg, digest, legs_hash, recover
from sequencer.refusals import Refused

BENEFICIARY = "0x" + "be" * 20
REVERTS = to_checksum_address("0x" + "de" * 20)


def run(coro):
    return asyncio.run(coro)


async def _deadline(seq) -> int:
    earliest = seq.earliest_deadline()
    assert earliest is not None
    return earliest + 5


def test_a_bundle_lands_whole_in_one_slot_with_a_receipt_naming_each_legs_position(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            user = await seq.send_raw(901, transfer(KEYS[2], 901, 0))
            leg_a, leg_b = transfer(KEYS[0], 901, 0), transfer(KEYS[1], 902, 0)
            bundle = await seq.bundle_book.submit(
                {901: [leg_a], 902: [leg_b]}, BENEFICIARY, await _deadline(seq)
            )
            await seq.builder.build_slot()
            a, b = stack.a.blocks[1], stack.b.blocks[1]
            assert a.txs == [user.tx_hash, bundle.legs[0].tx_hash]  # after the promises
            assert b.txs == [bundle.legs[1].tx_hash]
            receipt = seq.journal.bundle(bundle.bundle_hash)
            assert receipt is not None
            assert list(receipt.legs) == [
                (901, 1, 1, bundle.legs[0].tx_hash),
                (902, 1, 0, bundle.legs[1].tx_hash),
            ]
            msg = BundleReceiptMsg(
                bundle.bundle_hash, legs_hash(receipt.legs), bundle.beneficiary, bundle.deadline
            )
            assert recover(digest(seq.domain, msg), receipt.signature) == seq.signer.address
            assert seq.bundle_book.status_json(bundle.bundle_hash)["status"] == "included"
            # its senders' next nonces are known to admission at once
            nxt = await seq.send_raw(901, transfer(KEYS[0], 901, 1))
            assert (nxt.block_number, nxt.index) == (2, 0)
        finally:
            await seq.stop()

    run(go())


def test_a_bundle_whose_leg_reverts_is_dropped_and_nothing_of_it_is_sealed(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        stack.b.reverting.add(REVERTS)
        try:
            user = await seq.send_raw(901, transfer(KEYS[2], 901, 0))
            bundle = await seq.bundle_book.submit(
                {901: [transfer(KEYS[0], 901, 0)], 902: [transfer(KEYS[1], 902, 0, to=REVERTS)]},
                BENEFICIARY,
                await _deadline(seq),
            )
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [user.tx_hash]  # A's leg was rolled back with it
            assert stack.b.blocks[1].txs == []
            assert stack.a.account(ADDRESSES[0]).nonce == 0
            assert seq.journal.bundle(bundle.bundle_hash) is None  # no receipt
            status = seq.bundle_book.status_json(bundle.bundle_hash)
            assert status["status"] == "dropped" and "leg failed" in status["reason"]
            await seq.journal.barrier()
            assert seq.journal.preconf(bundle.legs[0].tx_hash) is None
            assert seq.journal.block(901, 1).tx_hashes == (user.tx_hash,)
        finally:
            await seq.stop()

    run(go())


def test_a_bundle_whose_legs_cannot_fit_a_block_is_refused_and_nothing_is_stored(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            half = GAS_LIMIT // 2 + 1
            legs = [transfer(KEYS[0], 901, 0, gas=half), transfer(KEYS[0], 901, 1, gas=half)]
            with pytest.raises(Refused, match="exceeds block gas limit"):
                await seq.bundle_book.submit({901: legs}, BENEFICIARY, await _deadline(seq))
            assert seq.journal.bundle_requests() == []
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == []
        finally:
            await seq.stop()

    run(go())


def test_a_bundle_whose_nonce_a_promise_took_is_dropped_with_the_reason(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            bundle = await seq.bundle_book.submit(
                {901: [transfer(KEYS[0], 901, 0, value=7)]}, BENEFICIARY, await _deadline(seq)
            )
            taken = await seq.send_raw(901, transfer(KEYS[0], 901, 0))  # the same nonce
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [taken.tx_hash]
            status = seq.bundle_book.status_json(bundle.bundle_hash)
            assert status["status"] == "dropped" and "nonce too low" in status["reason"]
            assert [r.status for r in seq.journal.bundle_requests()] == ["dropped"]
        finally:
            await seq.stop()

    run(go())


def test_a_bundle_answered_before_a_restart_still_lands_after_it(tmp_path):
    async def first():
        stack = await start_sequencer(tmp_path)
        bundle = await stack.seq.bundle_book.submit(
            {901: [transfer(KEYS[0], 901, 0)], 902: [transfer(KEYS[1], 902, 0)]},
            BENEFICIARY,
            await _deadline(stack.seq),
        )
        await stack.seq.stop()  # before any slot took it
        return stack, bundle

    old, bundle = run(first())

    async def second():
        stack = await start_sequencer(tmp_path, l1=old.l1, engines=old.engines)
        seq = stack.seq
        try:
            assert seq.bundle_book.status_json(bundle.bundle_hash)["status"] == "pending"
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [bundle.legs[0].tx_hash]
            assert stack.b.blocks[1].txs == [bundle.legs[1].tx_hash]
            assert seq.journal.bundle(bundle.bundle_hash) is not None
        finally:
            await seq.stop()

    run(second())
