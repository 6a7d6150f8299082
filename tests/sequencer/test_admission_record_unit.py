"""The promise admission builds (`Sequencer._admit_one`, in-memory engines from fakes.py): a
complete `PreconfRecord` (every field, the same object the dataclass would make), signed by the
compiled signer with the sequencer's key over the promise's EIP-712 digest, and journaled as is.
"""

import asyncio
import dataclasses

from fakes import KEYS, start_sequencer, transfer

from sequencer.commitments import PreconfMsg, digest, recover
from sequencer.journal import PreconfRecord, TxKind


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
