"""Derivation: rebuild the rollups from what L1 holds, and check every commitment.

Owns the replay of decoded batches onto fresh rollup engines (same chain id, same genesis:
`sequencer.devnet.ROLLUP_FLAGS`) and the comparison of what the replay produced with what each
batch header committed: every block's number and parent, the last block hash, the state root and
the tx root (tx leaves and block leaves, `sequencer.commitments`). It never trusts the sequencer:
the only inputs are the batch headers and payloads read from L1. A mismatch names the batch, the
rollup, the block and the field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import keccak

from sequencer import commitments as cm
from sequencer.batch_codec import BatchData, BlockData, RangeData, from_blob

log = logging.getLogger("sequencer.derive")

SEND_CHUNK = 500


class DerivationMismatch(Exception):
    """What L1 committed is not what replaying L1's data produces."""

    def __init__(self, sequence: int, chain_id: int, block: int | None, field: str, detail: str):
        where = f"batch {sequence}, rollup {chain_id}" + (f", block {block}" if block else "")
        super().__init__(f"{where}: {field} mismatch: {detail}")
        self.sequence = sequence
        self.chain_id = chain_id
        self.block = block
        self.field = field


class Engine(Protocol):
    chain_id: int

    async def call(self, method: str, params: list[Any] | None = None) -> Any: ...

    async def send_in_order(self, raws: list[bytes]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class DerivedBlock:
    number: int
    block_hash: bytes
    parent_hash: bytes
    state_root: bytes
    tx_hashes: tuple[bytes, ...]
    statuses: tuple[int, ...]

    def record(self, chain_id: int) -> cm.BlockRecord:
        txs = tuple(
            cm.TxRecord(i, h, s)
            for i, (h, s) in enumerate(zip(self.tx_hashes, self.statuses, strict=True))
        )
        return cm.BlockRecord(chain_id, self.number, self.block_hash, txs)


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str[2:])


async def replay_block(engine: Engine, block: BlockData, sequence: int = 0) -> DerivedBlock:
    """Send the block's transactions in order to the engine, mine at its timestamp, read back."""
    chain_id = engine.chain_id
    await engine.call("anvil_dropAllTransactions")
    for start in range(0, len(block.txs), SEND_CHUNK):
        chunk = list(block.txs[start : start + SEND_CHUNK])
        answers = await engine.send_in_order(chunk)
        for offset, answer in enumerate(answers):
            if "error" in answer:
                raise DerivationMismatch(
                    sequence,
                    chain_id,
                    block.number,
                    "transaction",
                    f"the engine refuses tx {start + offset}: {answer['error']}",
                )
    await engine.call("evm_mine", [{"timestamp": block.timestamp}])
    mined = await engine.call("eth_getBlockByNumber", [hex(block.number), False])
    if mined is None:
        raise DerivationMismatch(
            sequence,
            chain_id,
            block.number,
            "number",
            "the engine did not produce this block number",
        )
    hashes = tuple(_b(h) for h in mined["transactions"])
    if len(hashes) != len(block.txs):
        raise DerivationMismatch(
            sequence,
            chain_id,
            block.number,
            "tx_count",
            f"{len(block.txs)} transactions in the payload, {len(hashes)} in the replayed block",
        )
    statuses: tuple[int, ...] = ()
    if hashes:
        receipts = await engine.call("eth_getBlockReceipts", [hex(block.number)])
        statuses = tuple(int(r["status"], 16) for r in receipts)
    return DerivedBlock(
        number=block.number,
        block_hash=_b(mined["hash"]),
        parent_hash=_b(mined["parentHash"]),
        state_root=_b(mined["stateRoot"]),
        tx_hashes=hashes,
        statuses=statuses,
    )


def skipped_leaves(
    chain_id: int, block: BlockData, queue: Sequence[tuple[int, bytes]]
) -> list[bytes]:
    """Leaves for the forced items the sequencer recorded as skipped in `block`.

    `queue` is this rollup's forced items processed at the block's start, as (queue index, tx
    hash), in queue order (`commitments.skipped_leaf`).
    """
    return [
        cm.skipped_leaf(chain_id, block.number, queue[offset][0], queue[offset][1])
        for offset in block.forced_skipped
    ]


def check_range(
    sequence: int,
    commitment: cm.RollupCommitment,
    rng: RangeData,
    derived: Sequence[DerivedBlock],
    extra_leaves: dict[int, list[bytes]] | None = None,
) -> None:
    """Compare a replayed range with the header's commitment for that rollup."""
    chain_id = commitment.chain_id
    first, last = rng.blocks[0].number, rng.blocks[-1].number
    if (commitment.first_block, commitment.last_block) != (first, last):
        raise DerivationMismatch(
            sequence,
            chain_id,
            None,
            "block range",
            f"header commits {commitment.first_block}..{commitment.last_block}, "
            f"payload holds {first}..{last}",
        )
    if derived[0].parent_hash != commitment.parent_hash:
        raise DerivationMismatch(
            sequence,
            chain_id,
            first,
            "parent_hash",
            f"0x{derived[0].parent_hash.hex()} replayed, "
            f"0x{commitment.parent_hash.hex()} committed",
        )
    if derived[-1].block_hash != commitment.last_block_hash:
        raise DerivationMismatch(
            sequence,
            chain_id,
            last,
            "last_block_hash",
            f"0x{derived[-1].block_hash.hex()} replayed, "
            f"0x{commitment.last_block_hash.hex()} committed",
        )
    if derived[-1].state_root != commitment.state_root:
        raise DerivationMismatch(
            sequence,
            chain_id,
            last,
            "state_root",
            f"0x{derived[-1].state_root.hex()} replayed, 0x{commitment.state_root.hex()} committed",
        )
    leaves = cm.range_leaves([block.record(chain_id) for block in derived], extra_leaves)
    root = cm.MerkleTree(leaves).root
    if root != commitment.tx_root:
        raise DerivationMismatch(
            sequence,
            chain_id,
            None,
            "tx_root",
            f"0x{root.hex()} replayed, 0x{commitment.tx_root.hex()} committed",
        )


@dataclass(frozen=True)
class DerivedRange:
    chain_id: int
    blocks: tuple[DerivedBlock, ...]


async def derive_batch(
    header: cm.BatchHeader,
    batch: BatchData,
    engines: Mapping[int, Engine],
    forced: dict[int, list[tuple[int, bytes]]] | None = None,
) -> list[DerivedRange]:
    """Replay one batch onto the engines (one per chain id) and check it against its header.

    `forced`: per chain id, the forced-queue items (queue index, tx hash) this batch processed,
    in order; needed only when the batch records skipped items.
    """
    by_chain = {r.chain_id: r for r in batch.ranges}
    committed = {c.chain_id: c for c in header.rollups}
    if set(by_chain) != set(committed):
        raise DerivationMismatch(
            header.sequence,
            0,
            None,
            "rollups",
            f"header commits {sorted(committed)}, payload has {sorted(by_chain)}",
        )
    out = []
    for commitment in header.rollups:  # in header order: rollup A's range first
        rng = by_chain[commitment.chain_id]
        engine = engines.get(commitment.chain_id)
        if engine is None:
            raise DerivationMismatch(
                header.sequence, commitment.chain_id, None, "engine", "no engine for this rollup"
            )
        queue = list((forced or {}).get(commitment.chain_id, []))
        derived, extra = [], {}
        for block in rng.blocks:
            items, queue = queue[: block.forced_count], queue[block.forced_count :]
            if block.forced_count and forced is not None:
                if len(items) < block.forced_count:
                    raise DerivationMismatch(
                        header.sequence,
                        commitment.chain_id,
                        block.number,
                        "forced queue",
                        f"{block.forced_count} items recorded, {len(items)} left in the L1 queue",
                    )
                included = [it for k, it in enumerate(items) if k not in block.forced_skipped]
                for position, (index, tx_hash) in enumerate(included):
                    if keccak(block.txs[position]) != tx_hash:
                        raise DerivationMismatch(
                            header.sequence,
                            commitment.chain_id,
                            block.number,
                            "forced transaction",
                            f"index {position} is not forced-queue item {index}",
                        )
                if block.forced_skipped:
                    extra[block.number] = skipped_leaves(commitment.chain_id, block, items)
            elif block.forced_skipped:
                raise DerivationMismatch(
                    header.sequence,
                    commitment.chain_id,
                    block.number,
                    "forced queue",
                    "skipped items recorded but the L1 queue was not given",
                )
            derived.append(await replay_block(engine, block, header.sequence))
        check_range(header.sequence, commitment, rng, derived, extra)
        out.append(DerivedRange(commitment.chain_id, tuple(derived)))
    return out


async def derive_all(
    batches: Iterable[tuple[cm.BatchHeader, BatchData]], engines: dict[int, Engine]
) -> int:
    """Replay and check batches in order; returns the number of L2 transactions replayed."""
    count = 0
    for header, batch in batches:
        await derive_batch(header, batch, engines)
        count += len(batch.raw_txs())
        log.info("batch %d derived and checked", header.sequence)
    return count


# --- reading batches from L1 ---


@dataclass(frozen=True)
class PostedBatch:
    header: cm.BatchHeader
    payload: bytes
    mode: str  # "calldata" or "blob"
    l1_block: int
    l1_tx: bytes


class L1BatchSource:
    """Every batch the SharedInbox accepted, with its payload, read from the L1 node alone."""

    def __init__(self, w3: Any, inbox_address: str, inbox_abi: list) -> None:
        from web3 import Web3

        self.w3 = w3
        self.inbox = w3.eth.contract(address=Web3.to_checksum_address(inbox_address), abi=inbox_abi)

    def forced_queue(self) -> dict[int, list[tuple[int, bytes]]]:
        """Every forced-inclusion request, per rollup chain id: (queue index, tx hash), in order."""
        out: dict[int, list[tuple[int, bytes]]] = {}
        logs = self.inbox.events.ForcedInclusionRequested().get_logs(from_block=0)
        for entry in sorted(logs, key=lambda e: e["args"]["index"]):
            args = entry["args"]
            out.setdefault(args["chain_id"], []).append((args["index"], bytes(args["tx_hash"])))
        return out

    def batches(self, from_block: int = 0, to_block: int | str = "latest") -> list[PostedBatch]:
        from eth_utils import keccak

        logs = self.inbox.events.BatchPosted().get_logs(from_block=from_block, to_block=to_block)
        out = []
        for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
            header = cm.header_from_abi(entry["args"]["header"])
            tx = self.w3.eth.get_transaction(entry["transactionHash"])
            func, args = self.inbox.decode_function_input(tx["input"])
            if func.fn_name == "post_batch":
                payload, mode = bytes(args["payload"]), "calldata"
                if keccak(payload) != header.data_hash:
                    raise DerivationMismatch(
                        header.sequence,
                        0,
                        None,
                        "data_hash",
                        "calldata payload does not hash to data_hash",
                    )
            else:
                blob = self.w3.provider.make_request(
                    "anvil_getBlobByHash", ["0x" + header.data_hash.hex()]
                ).get("result")
                if not blob:
                    raise DerivationMismatch(
                        header.sequence,
                        0,
                        None,
                        "blob",
                        "the L1 node does not serve the batch's blob",
                    )
                payload, mode = from_blob(bytes.fromhex(blob[2:])), "blob"
            out.append(
                PostedBatch(
                    header, payload, mode, entry["blockNumber"], bytes(entry["transactionHash"])
                )
            )
        return out
