"""Slot planning and sealing on in-memory engines (tests/sequencer/fakes.py): promised positions
are where the transactions land, headers commit to them, and nothing else gets in.

The same on anvil, through HTTP: tests/e2e/test_sequencer_blocks.py and test_sequencer_preconfs.py.
"""

import asyncio

import pytest
from fakes import ADDRESSES, GWEI, KEYS, FakeEngine, settle, start_sequencer, transfer

from sequencer.builder import BuildError, preload
from sequencer.commitments import BlockHeaderMsg, PreconfMsg, digest, recover
from sequencer.engine import EngineFault


def run(coro):
    return asyncio.run(coro)


def test_promised_transactions_land_at_their_promised_positions_under_a_signed_header(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            raws = [transfer(KEYS[0], 901, 0), transfer(KEYS[1], 901, 0), transfer(KEYS[0], 901, 1)]
            promises = [await seq.send_raw(901, raw) for raw in raws]
            other = await seq.send_raw(902, transfer(KEYS[2], 902, 0))
            await seq.builder.build_slot()
            await seq.journal.barrier()
            mined = stack.a.blocks[1]
            for record in promises:
                assert mined.txs[record.index] == record.tx_hash
                assert record.block_number == 1
                assert stack.a.receipts[record.tx_hash]["status"] == "0x1"
                pre = PreconfMsg(901, 1, record.index, record.tx_hash, record.deadline)
                assert recover(digest(seq.domain, pre), record.signature) == seq.signer.address
            assert stack.b.blocks[1].txs == [other.tx_hash]  # one block per rollup per slot
            sealed = seq.journal.block(901, 1)
            assert sealed.block_hash == mined.block_hash
            assert list(sealed.tx_hashes) == [r.tx_hash for r in promises]
            header = BlockHeaderMsg(901, 1, mined.block_hash, mined.parent_hash)
            assert recover(digest(seq.domain, header), sealed.signature) == seq.signer.address
            await settle(seq)  # the statuses are read from the receipts after the seal
            assert seq.preconf_json(seq.preconf(promises[0].tx_hash))["status"] == "success"
        finally:
            await seq.stop()

    run(go())


def test_a_full_block_sends_the_next_transaction_to_the_next_block_and_slot(tmp_path):
    funded = {a: 10**21 for a in ADDRESSES}
    engines = {901: FakeEngine(901, funded, gas_limit=50_000), 902: FakeEngine(902, funded)}

    async def go():
        stack = await start_sequencer(tmp_path, engines=engines)
        seq = stack.seq
        try:
            records = [await seq.send_raw(901, transfer(KEYS[i], 901, 0)) for i in range(3)]
            assert [(r.block_number, r.index) for r in records] == [(1, 0), (1, 1), (2, 0)]
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [records[0].tx_hash, records[1].tx_hash]
            assert stack.a.head.number == 1 and stack.b.head.number == 1  # B: an empty block
            await seq.builder.build_slot()
            assert stack.a.blocks[2].txs == [records[2].tx_hash]
        finally:
            await seq.stop()

    run(go())


def test_a_transaction_sent_to_the_engine_behind_the_sequencers_back_is_not_sealed(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            promised = await seq.send_raw(901, transfer(KEYS[0], 901, 0))
            stray = transfer(KEYS[1], 901, 0)
            await stack.a.call("eth_sendRawTransaction", ["0x" + stray.hex()])
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [promised.tx_hash]
            assert stack.a.account(ADDRESSES[1]).nonce == 0
        finally:
            await seq.stop()

    run(go())


def test_an_idle_slot_asks_each_engine_four_calls_and_still_keeps_a_stray_out(tmp_path):
    """Idle, the builder seals an empty block on each rollup every slot (250 ms), and each engine
    call costs the service CPU (bench/idle.py: the service idled above 3 % of a core). An empty
    block needs no pool drop before the pool check, the preloader has nothing to prepare for it,
    and it sent no message to collect; a stray transaction is still kept out of it."""

    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        assert seq.builder is not None
        preloaders = [asyncio.create_task(preload(rt)) for rt in seq.builder.chains]
        try:
            await seq.builder.build_slot()  # wakes the preloaders for the next (empty) block
            await asyncio.sleep(0.1)
            stack.a.calls.clear()
            stack.b.calls.clear()
            await seq.builder.build_slot()
            await asyncio.sleep(0.1)
            mined = ["txpool_status", "eth_getBlockByNumber", "evm_mine", "eth_getBlockByNumber"]
            assert stack.a.calls == mined and stack.b.calls == mined
            stray = transfer(KEYS[1], 901, 0)
            await stack.a.call("eth_sendRawTransaction", ["0x" + stray.hex()])
            await seq.builder.build_slot()
            assert stack.a.blocks[-1].txs == [] and stack.a.pool == []
            assert stack.a.account(ADDRESSES[1]).nonce == 0
            promised = await seq.send_raw(901, transfer(KEYS[0], 901, 0))
            await seq.builder.build_slot()  # a block with transactions still starts clean
            assert stack.a.blocks[-1].txs == [promised.tx_hash]
        finally:
            for task in preloaders:
                task.cancel()
            await seq.stop()

    run(go())


def test_no_header_is_signed_when_the_engine_refuses_a_promised_transaction(tmp_path):
    """The sender's nonce moved on the engine behind the sequencer's back: the promise cannot be
    kept as planned, and the builder halts rather than mine and sign some other block."""

    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            await seq.send_raw(901, transfer(KEYS[0], 901, 0))
            stack.a.pool.clear()  # the preloader's copy, if it was sent already
            stack.a.head.state[ADDRESSES[0]].nonce = 1  # state changed outside the sequencer
            with pytest.raises(BuildError, match="engine refused promised tx"):
                await seq.builder.build_slot()
            await seq.journal.barrier()
            assert stack.a.head.number == 0 and seq.journal.block(901, 1) is None
        finally:
            await seq.stop()

    run(go())


def test_an_engine_that_stops_answering_mid_slot_gets_the_promise_at_its_position_after(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            record = await seq.send_raw(901, transfer(KEYS[0], 901, 0, fee_cap=80 * GWEI))
            stack.a.down = True
            with pytest.raises(EngineFault):
                await seq.builder.build_slot()
            stack.a.down = False
            await seq.builder.recover()
            await seq.builder.build_slot()
            assert stack.a.blocks[record.block_number].txs[record.index] == record.tx_hash
            await seq.journal.barrier()
            assert seq.journal.block(901, record.block_number).tx_hashes == (record.tx_hash,)
        finally:
            await seq.stop()

    run(go())
