"""Rebuilding a rollup engine that lost blocks, from L1's batches and the journal's sealed blocks.

Owns `rebuild_engine`: it replays onto an engine (a fresh one started from the rollup's genesis,
or one that lost its last blocks) every block up to the last one the journal sealed: a block
the journal sealed from the journal's own raw transactions and timestamp; a block it never
sealed (the deployment's, or blocks derived while following another leader) from the batch
payload L1 holds for it (`derive.L1BatchSource`). Every replayed block the journal sealed must
come out with exactly the hash it signed, and a block from L1 with the hash its batch committed
(when the batch names it): otherwise `RecoveryError`, and the service does not start: it never
signs a header for a block it rebuilt differently. The promised but unsealed blocks above are
then planned again by the service as after any restart (`Sequencer._resume_chain`).
It never signs and never writes the journal; it only sends transactions and mines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sequencer import batch_codec as bc
from sequencer.batch_codec import BlockData
from sequencer.builder import Engine, head_from_block, rewind
from sequencer.derive import DerivationMismatch, replay_block
from sequencer.journal import Journal

log = logging.getLogger("sequencer.recovery")

# (chain id, block number) -> (the block as posted, the hash its batch committed or None)
L1Blocks = dict[tuple[int, int], tuple[BlockData, bytes | None]]


class RecoveryError(RuntimeError):
    """The engine cannot be rebuilt to exactly the blocks the journal signed."""


def l1_blocks(source: Any) -> L1Blocks:
    """Every rollup block L1 holds, from the batches a `derive.L1BatchSource` reads (blocking)."""
    out: L1Blocks = {}
    for posted in source.batches():
        data = bc.decode(posted.payload)
        tips = {c.chain_id: (c.last_block, c.last_block_hash) for c in posted.header.rollups}
        for rng in data.ranges:
            last, last_hash = tips.get(rng.chain_id, (None, None))
            for block in rng.blocks:
                known = last_hash if block.number == last else None
                out[(rng.chain_id, block.number)] = (block, known)
    return out


async def rebuild_engine(
    engine: Engine,
    journal: Journal,
    load_l1: Callable[[], L1Blocks] | None = None,
) -> int:
    """Replay onto `engine` the blocks it lacks up to the journal's last sealed block of its
    rollup; returns how many blocks were replayed. `load_l1` (blocking, run in a thread, at
    most once) gives the blocks L1 holds, for those the journal never sealed."""
    chain_id = engine.chain_id
    target = journal.last_sealed(chain_id)
    latest = await engine.call("eth_getBlockByNumber", ["latest", False])
    head = int(latest["number"], 16)
    if target is None or head >= target:
        return 0
    keep = head  # blocks the engine mined that contradict a signed header are never kept
    while keep > 0:
        signed = journal.signed_hash(chain_id, keep)
        block = await engine.call("eth_getBlockByNumber", [hex(keep), False])
        if signed is None or bytes.fromhex(block["hash"][2:]) == signed:
            break
        keep -= 1
    if keep < head:
        log.warning(
            "engine blocks contradict the signed headers: rolled back",
            extra={"event": "rebuild_rollback", "chain": chain_id, "from": head, "to": keep},
        )
        parent = await engine.call("eth_getBlockByNumber", [hex(keep), False])
        await rewind(engine, head_from_block(parent))  # also the next block's base fee
        head = keep
    log.warning(
        "engine lost blocks: rebuilding it",
        extra={"event": "rebuild", "chain": chain_id, "from": head + 1, "to": target},
    )
    from_l1: L1Blocks | None = None
    want: bytes | None  # the hash signed (journal) or committed on L1, if any
    for number in range(head + 1, target + 1):
        sealed = journal.block(chain_id, number)
        if sealed is not None:
            raws = journal.block_raws(chain_id, number)
            data, want = BlockData(number, sealed.timestamp, tuple(raws)), sealed.block_hash
            origin = "journal"
        else:
            if from_l1 is None:
                if load_l1 is None:
                    raise RecoveryError(
                        f"chain {chain_id}: block {number} is not in the journal and there is "
                        "no SharedInbox to read it from"
                    )
                from_l1 = await asyncio.to_thread(load_l1)
            found = from_l1.get((chain_id, number))
            if found is None:
                raise RecoveryError(
                    f"chain {chain_id}: block {number} is neither in the journal nor on L1"
                )
            (data, want), origin = found, "L1"
        try:
            derived = await replay_block(engine, data)
        except DerivationMismatch as exc:
            raise RecoveryError(f"chain {chain_id}: replaying block {number}: {exc}") from exc
        if want is not None and derived.block_hash != want:
            raise RecoveryError(
                f"chain {chain_id}: block {number} replayed from the {origin} as "
                f"0x{derived.block_hash.hex()}, not the signed 0x{want.hex()}"
            )
    log.warning(
        "engine rebuilt",
        extra={"event": "rebuilt", "chain": chain_id, "blocks": target - head},
    )
    return target - head
