"""The promise admission builds (`Sequencer._admit_one`, in-memory engines from fakes.py): a
complete `PreconfRecord` (every field, the same object the dataclass would make), signed by the
compiled signer with the sequencer's key over the promise's EIP-712 digest, and journaled as is.
"""

import asyncio
import dataclasses

from fakes import KEYS, start_sequencer, transfer

from sequencer.commitments import PreconfMsg, digest, recover
from sequencer.journal import PreconfRecord, TxKind
from sequencer.mempool import Candidate, decode_tx


def test_an_admitted_promise_is_a_whole_record_signed_and_journaled(tmp_path):
    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            records = [await seq.send_raw(901, transfer(KEYS[i], 901, 0)) for i in range(3)]
            await seq.journal.barrier()
            for record in records:
                fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
                assert set(vars(record)) == set(fields)  # no field left out
                assert record == PreconfRecord(**fields)
                assert hash(record) == hash(PreconfRecord(**fields))
                assert record.kind == TxKind.PROMISED and record.status is None
                assert record.promised
                msg = PreconfMsg(
                    901, record.block_number, record.index, record.tx_hash, record.deadline
                )
                assert recover(digest(seq.domain, msg), record.signature) == seq.signer.address
                assert seq.journal.preconf(record.tx_hash) == record
        finally:
            await seq.stop()

    asyncio.run(go())


def test_a_cancelled_request_does_not_stop_the_others_of_its_turn(tmp_path):
    """A request cancelled while it waits for admission (its client gone, shutdown) and then
    refused must not take the turn's other requests down with it (old code: InvalidStateError
    out of `_admit`, the valid transaction of the same turn never answered)."""

    async def go():
        stack = await start_sequencer(tmp_path)
        seq = stack.seq
        try:
            await seq.send_raw(901, transfer(KEYS[0], 901, 0))  # the sender's account is known
            loop = asyncio.get_running_loop()
            refused = decode_tx(transfer(KEYS[0], 901, 0, value=2))  # nonce too low by then
            valid = decode_tx(transfer(KEYS[0], 901, 1))
            gone, waiting = loop.create_future(), loop.create_future()
            gone.cancel()
            for tx, future in ((refused, gone), (valid, waiting)):
                seq._arrivals.append((901, Candidate(next(seq._arrival_seq), tx), future))
            seq._admit()
            record = await asyncio.wait_for(waiting, 10)
            assert record.tx_hash == valid.tx_hash and record.promised
            assert seq.journal.preconf(valid.tx_hash) == record
            assert seq.journal.preconf(refused.tx_hash) is None
        finally:
            await seq.stop()

    asyncio.run(go())
