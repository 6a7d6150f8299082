"""The forced inbox on an in-memory L1 and engines (tests/sequencer/fakes.py): items queued on L1
go first in the next block, items that can never be taken are recorded skipped and the queue
moves on, and nothing is placed twice across a restart.

The same on anvil with the SharedInbox: tests/e2e/test_sequencer_forced.py, test_forced_batch.py.
"""

import asyncio

import pytest
from eth_utils import keccak
from fakes import ADDRESSES, INBOX, KEYS, FakeInbox, FakeL1, start_sequencer, transfer

from sequencer.engine import EngineUnreachable


def run(coro):
    return asyncio.run(coro)


async def _stack(tmp_path, l1=None, engines=None):
    l1 = l1 or FakeL1()
    inbox = FakeInbox(l1)
    stack = await start_sequencer(
        tmp_path, l1=l1, engines=engines, l1_contracts=(("SharedInbox", INBOX),)
    )
    return stack, inbox


def test_a_forced_transaction_goes_before_the_users_promised_ones(tmp_path):
    async def go():
        stack, inbox = await _stack(tmp_path)
        seq = stack.seq
        try:
            forced = transfer(KEYS[1], 901, 0)
            inbox.force_include(901, forced)
            await seq.forced.poll()
            user = await seq.send_raw(901, transfer(KEYS[0], 901, 0))
            assert (user.block_number, user.index) == (1, 1)  # index 0 is the forced one
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [keccak(forced), user.tx_hash]
            await seq.journal.barrier()
            assert seq.journal.forced_for_block(901, 1) == ((0,), ())
            assert seq.block_json(901, 1)["forced"] == [0]
            assert stack.b.blocks[1].txs == []  # the item names rollup A only
        finally:
            await seq.stop()

    run(go())


def test_an_item_that_can_never_be_taken_is_recorded_skipped_and_the_queue_moves_on(tmp_path):
    async def go():
        stack, inbox = await _stack(tmp_path)
        seq = stack.seq
        try:
            inbox.force_include(901, transfer(KEYS[1], 901, 5))  # a nonce gap: never valid now
            inbox.force_include(901, b"\x02not a transaction")
            good = transfer(KEYS[2], 901, 0)
            inbox.force_include(901, good)
            await seq.forced.poll()
            await seq.builder.build_slot()
            await seq.journal.barrier()
            mined = stack.a.blocks[1].txs
            assert len(mined) == 1 and stack.a.account(ADDRESSES[2]).nonce == 1
            assert seq.journal.forced_for_block(901, 1) == ((0, 1, 2), (0, 1))
            assert seq.block_json(901, 1)["forcedSkipped"] == [0, 1]
            assert seq.forced.queued_count() == 0 and seq.forced.skipped == 2
            await seq.builder.build_slot()  # nothing is taken again
            assert stack.a.blocks[2].txs == []
            assert seq.journal.forced_for_block(901, 2) == ((), ())
        finally:
            await seq.stop()

    run(go())


def test_an_item_waits_for_a_block_with_room_and_a_big_promise_never_starves_it(tmp_path):
    """A user transaction that would leave no room for the queue's next item goes to the block
    after, and the next block opens for the forced item alone."""

    async def go():
        stack, inbox = await _stack(tmp_path)
        seq = stack.seq
        limit = stack.a.head.gas_limit
        try:
            inbox.force_include(901, transfer(KEYS[1], 901, 0, gas=limit // 2))
            await seq.forced.poll()
            big = await seq.send_raw(901, transfer(KEYS[0], 901, 0, gas=limit - 30_000))
            assert big.block_number == 2  # block 1 is the forced item's
            await seq.builder.build_slot()
            await seq.builder.build_slot()
            assert len(stack.a.blocks[1].txs) == 1 and stack.a.account(ADDRESSES[1]).nonce == 1
            assert stack.a.blocks[2].txs == [big.tx_hash]
        finally:
            await seq.stop()

    run(go())


def test_after_a_restart_an_item_placed_before_is_not_placed_again(tmp_path):
    l1 = FakeL1()

    async def first():
        stack, inbox = await _stack(tmp_path, l1)
        inbox.force_include(901, transfer(KEYS[1], 901, 0))
        await stack.seq.forced.poll()
        await stack.seq.builder.build_slot()
        await stack.seq.stop()
        return stack.engines

    engines = run(first())

    async def second():
        stack = await start_sequencer(
            tmp_path, l1=l1, engines=engines, l1_contracts=(("SharedInbox", INBOX),)
        )
        seq = stack.seq
        try:
            await seq.forced.poll()  # the L1 still shows item 0, from block 0 on
            assert seq.forced.queued_count() == 0
            await seq.builder.build_slot()
            assert stack.a.blocks[2].txs == []
        finally:
            await seq.stop()

    run(second())


def test_an_item_near_its_deadline_that_cannot_be_placed_yet_is_reported_at_risk(tmp_path):
    async def go():
        stack, inbox = await _stack(tmp_path)
        seq = stack.seq
        try:
            stack.a.down = True  # its sender's account cannot be read: the item waits
            inbox.force_include(901, transfer(KEYS[1], 901, 0), deadline=stack.l1.head + 5)
            with pytest.raises(EngineUnreachable):  # `run` logs it and polls again
                await seq.forced.poll()
            status = seq.status()["forced"]
            assert (status["queued"], status["atRisk"]) == (1, 1)
            assert status["nearestDeadline"] == stack.l1.head + 4
            stack.a.down = False
            stack.l1.head += 1
            await seq.forced.poll()  # at the next L1 block: reads the account
            await seq.builder.build_slot()
            assert seq.status()["forced"] == {
                "queued": 0,
                "placed": 1,
                "skipped": 0,
                "nearestDeadline": None,
                "atRisk": 0,
            }
        finally:
            await seq.stop()

    run(go())
