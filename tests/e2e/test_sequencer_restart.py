"""Restart: blocks the engine mined before a crash but the journal did not record are sealed on
restart only if they are exactly the journaled plan; otherwise the service refuses to start."""

import sqlite3

import pytest
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.builder import BuildError
from sequencer.commitments import BlockHeaderMsg, digest, recover
from sequencer.config import DEVNET_SEQUENCER_ADDRESS


def _promise_block(start_service, rollup_a, trader, lp):
    service = start_service()
    promises = [
        service.result(
            "/901",
            "seq_sendRawTransaction",
            [signed_transfer(trader.private_key, 901, n, lp.address)],
        )
        for n in range(3)
    ]
    for promise in promises:
        wait_sealed(service, 901, promise["txHash"])
    service.stop()
    return service, promises


def _forget_sealing_from(journal, number):
    """What a crash between evm_mine and the journal write leaves: blocks mined, not recorded."""
    db = sqlite3.connect(journal)
    db.execute("DELETE FROM blocks WHERE chain_id = 901 AND number >= ?", (number,))
    db.execute("UPDATE txs SET status = NULL WHERE chain_id = 901 AND block_number >= ?", (number,))
    db.commit()
    db.close()


def test_mined_but_unjournaled_blocks_are_sealed_on_restart(
    start_service, rollup_a, trader, lp, tmp_path
):
    first, promises = _promise_block(start_service, rollup_a, trader, lp)
    number = promises[0]["blockNumber"]
    assert all(p["blockNumber"] == number for p in promises)
    _forget_sealing_from(first.config.journal, number)

    service = start_service()
    header = service.result("/901", "seq_getBlockHeader", [number])
    block = rollup_a.w3.eth.get_block(number)
    assert header["blockHash"] == block["hash"].to_0x_hex()
    assert header["transactions"] == [p["txHash"] for p in promises]
    msg = BlockHeaderMsg(901, number, bytes(block["hash"]), bytes(block["parentHash"]))
    signature = bytes.fromhex(header["signature"][2:])
    assert recover(digest(service.domain, msg), signature) == DEVNET_SEQUENCER_ADDRESS
    for promise in promises:
        assert wait_sealed(service, 901, promise["txHash"])["index"] == promise["index"]
    nonce = service.result("/901", "eth_getTransactionCount", [trader.address, "pending"])
    assert nonce == "0x3"


def test_a_journal_that_contradicts_the_engine_is_refused(start_service, rollup_a, trader, lp):
    first, promises = _promise_block(start_service, rollup_a, trader, lp)
    number = promises[0]["blockNumber"]
    _forget_sealing_from(first.config.journal, number)
    db = sqlite3.connect(first.config.journal)  # the journal now says: index 0 and 1 swapped
    for idx, new in ((0, 100), (1, 0), (100, 1)):
        db.execute(
            "UPDATE txs SET idx = ? WHERE chain_id = 901 AND block_number = ? AND idx = ?",
            (new, number, idx),
        )
    db.commit()
    db.close()
    with pytest.raises(BuildError, match=f"block {number} differs from its plan"):
        start_service()
