"""Derivation: blocks sealed on one engine are rebuilt on a fresh one from (header, payload)
alone, every commitment checks, and a tampered header or payload is named precisely."""

import asyncio
import dataclasses

import pytest
from eth_account import Account

from sequencer import batch_codec as bc
from sequencer import commitments as cm
from sequencer.derive import DerivationMismatch, derive_batch
from sequencer.devnet import ROLLUP_FLAGS, ROLLUP_GENESIS_TIMESTAMP, ChainSpec, Devnet, free_port
from sequencer.engine import EngineClient, engine_session

# anvil's well-known accounts 5..7 (DEVNET ONLY)
KEYS = [
    Account.from_key(k)
    for k in (
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    )
]
REVERTING_INIT = bytes.fromhex("60006000fd")  # contract creation whose init code reverts


def _sign(key, chain_id, nonce, **fields):
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerGas": 10**11,
        "gas": 60_000,
        "value": 0,
        **fields,
    }
    return bytes(key.sign_transaction(tx).raw_transaction)


def _seal_blocks(rollup, n_blocks=3):
    """Produce blocks on the harness engine the way the builder does; return payload + header."""
    rollup.set_automine(False)
    w3 = rollup.w3
    head = w3.eth.get_block("latest")
    nonces = {k.address: w3.eth.get_transaction_count(k.address) for k in KEYS}
    blocks, records = [], []
    timestamp = max(head["timestamp"], ROLLUP_GENESIS_TIMESTAMP) + 2
    for b in range(n_blocks):
        txs = []
        for i, key in enumerate(KEYS):
            fields = {"to": KEYS[(i + 1) % 3].address, "value": 10**15 * (b + 1)}
            if b == 1 and i == 2:
                fields = {"data": REVERTING_INIT}  # a reverted tx: status 0 in its leaf
            txs.append(_sign(key, rollup.chain_id, nonces[key.address], **fields))
            nonces[key.address] += 1
        for raw in txs:
            w3.eth.send_raw_transaction(raw)
        rollup.rpc("evm_mine", [{"timestamp": timestamp + b}])
        block = w3.eth.get_block("latest")
        receipts = [w3.eth.get_transaction_receipt(h) for h in block["transactions"]]
        blocks.append(bc.BlockData(block["number"], block["timestamp"], tuple(txs)))
        records.append(
            cm.BlockRecord(
                rollup.chain_id,
                block["number"],
                bytes(block["hash"]),
                tuple(
                    cm.TxRecord(i, bytes(r["transactionHash"]), r["status"])
                    for i, r in enumerate(receipts)
                ),
            )
        )
    statuses = [t.status for r in records for t in r.txs]
    assert 0 in statuses and 1 in statuses
    last = w3.eth.get_block("latest")
    commitment = cm.RollupCommitment(
        chain_id=rollup.chain_id,
        first_block=blocks[0].number,
        last_block=blocks[-1].number,
        parent_hash=bytes(head["hash"]),
        last_block_hash=bytes(last["hash"]),
        state_root=bytes(last["stateRoot"]),
        tx_root=cm.MerkleTree(cm.range_leaves(records)).root,
    )
    header = cm.BatchHeader(0, cm.ZERO_HASH, 0, (commitment,), cm.ZERO_HASH, 0, b"\x11" * 32)
    batch = bc.BatchData((bc.RangeData(rollup.chain_id, tuple(blocks)),))
    return header, batch


async def _derive_on_fresh_engine(tmp_path, chain_id, header, batch):
    spec = ChainSpec("fresh", "rollup", chain_id, free_port(), ROLLUP_FLAGS)
    with Devnet([spec], log_dir=tmp_path):
        async with engine_session() as session:
            engine = EngineClient(spec.url, chain_id, session)
            return await derive_batch(header, batch, {chain_id: engine})


def test_sealed_blocks_are_rebuilt_from_header_and_payload_alone(rollup_a, tmp_path):
    header, batch = _seal_blocks(rollup_a)
    payload = bc.encode(batch)  # what L1 would carry
    derived = asyncio.run(_derive_on_fresh_engine(tmp_path, 901, header, bc.decode(payload)))
    assert derived[0].blocks[-1].block_hash == header.rollups[0].last_block_hash
    assert derived[0].blocks[-1].state_root == header.rollups[0].state_root


@pytest.mark.parametrize("field", ["state_root", "tx_root", "last_block_hash", "parent_hash"])
def test_a_tampered_commitment_is_named(rollup_a, tmp_path, field):
    header, batch = _seal_blocks(rollup_a, n_blocks=2)
    bad = dataclasses.replace(header.rollups[0], **{field: b"\x42" * 32})
    header = dataclasses.replace(header, rollups=(bad,))
    with pytest.raises(DerivationMismatch, match=rf"batch 0, rollup 901.*{field} mismatch"):
        asyncio.run(_derive_on_fresh_engine(tmp_path, 901, header, batch))


def test_a_payload_missing_a_transaction_is_caught(rollup_a, tmp_path):
    header, batch = _seal_blocks(rollup_a, n_blocks=2)
    rng = batch.ranges[0]
    short = dataclasses.replace(rng.blocks[1], txs=rng.blocks[1].txs[:-1])
    batch = bc.BatchData((bc.RangeData(901, (rng.blocks[0], short)),))
    with pytest.raises(DerivationMismatch, match="rollup 901.*mismatch"):
        asyncio.run(_derive_on_fresh_engine(tmp_path, 901, header, batch))
