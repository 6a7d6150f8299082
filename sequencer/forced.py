"""Forced inclusion: the L1 SharedInbox's queue, placed first in the next block each rollup opens.

Owns reading the queue (`ForcedInclusionRequested` logs of `contracts/l1/SharedInbox.vy`), the
choice of the items that open a block (`select_forced`, pure: in queue order, up to
`MAX_FORCED_PER_BLOCK` and the block's gas room; an item the rollup would refuse is *skipped*,
never silently dropped), and the journal record of what each block processed
(`Journal.forced_for_block`: queue indexes and skipped offsets, which the batcher turns into
`BlockData.forced_count/forced_skipped` and the header's `forced_through`).

The service places items as soon as it can; an item still queued when its L1 deadline is within
`forced_deadline_margin_l1_blocks` of the L1 head is *at risk* (`deadline_at_risk`, pure): it is
logged as a warning once and counted in `seq_forced_deadline_at_risk`.

Each item is judged when the block opens by the same judge as a pre-confirmation
(`sequencer/judge.py`: decoding, chain id, block gas limit, intrinsic and floor gas, fees, an EOA
sender, nonce exactly next, funds, fee cap at the block's base-fee bound), so a placed forced
transaction is as certain to execute as a promise and never moves one. Whatever the judge
refuses is skipped, for good or for now alike: an item that waits on its sender's state could
stall the queue past its deadline and make the honest leader liable for censorship. An item
waits (with every later item of its rollup: the queue's order is kept) only for what the
sequencer itself settles soon: its sender's account being read (the next poll), a bundle slot
of its sender being mined, or a block opened with room for its gas. The plan makes that room:
a transaction that would open a block without room for the queue's next item (`forced_demand`)
goes to the block after, and the next block opens for the forced queue alone.
It never signs a promise for a forced transaction and never talks to a rollup engine directly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_abi import decode as abi_decode
from eth_utils import keccak

from sequencer.builder import PlannedTx
from sequencer.journal import PreconfRecord, TxKind
from sequencer.judge import Accept, ChainRules, Reject, Verdict, judge_pending, judge_raw
from sequencer.mempool import DecodedTx, SenderLedger
from sequencer.ports import ChainState, ServiceCore
from sequencer.recent import RecentHashes

log = logging.getLogger("sequencer.forced")

FORCED_TOPIC = keccak(
    text="ForcedInclusionRequested(uint256,uint256,address,bytes32,uint256,uint256,bytes)"
)
MAX_FORCED_PER_BLOCK = 16  # queue items processed at the start of one block, at most


@dataclass(frozen=True)
class ForcedItem:
    """One item of the L1 forced-inclusion queue."""

    index: int  # queue index (global, across rollups)
    chain_id: int
    l1_sender: str
    tx_hash: bytes
    deadline: int  # L1 block number
    raw: bytes


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def decode_forced_log(entry: Mapping[str, Any]) -> ForcedItem:
    """A `ForcedInclusionRequested` log (JSON-RPC shape) as a `ForcedItem`. Pure."""
    topics = [_bytes(t) for t in entry["topics"]]
    if len(topics) != 4 or topics[0] != FORCED_TOPIC:
        raise ValueError("not a ForcedInclusionRequested log")
    tx_hash, deadline, _fee, raw = abi_decode(
        ["bytes32", "uint256", "uint256", "bytes"], _bytes(entry["data"])
    )
    return ForcedItem(
        index=int.from_bytes(topics[1], "big"),
        chain_id=int.from_bytes(topics[2], "big"),
        l1_sender="0x" + topics[3][12:].hex(),
        tx_hash=bytes(tx_hash),
        deadline=deadline,
        raw=bytes(raw),
    )


@dataclass
class Selection:
    """What the start of one block takes from a rollup's queue."""

    txs: list[DecodedTx] = field(default_factory=list)  # placed, in order
    queue_indexes: list[int] = field(default_factory=list)  # processed (placed or skipped)
    skipped: list[int] = field(default_factory=list)  # offsets into queue_indexes
    reasons: list[str] = field(default_factory=list)  # why each skipped item was refused


def select_forced(
    items: Sequence[ForcedItem],
    rules: ChainRules,
    ledger: SenderLedger,
    gas_room: int,
    base_fee: int,
    cap: int = MAX_FORCED_PER_BLOCK,
    held: Collection[str] = frozenset(),
) -> Selection:
    """The items (a prefix of `items`, in queue order) that open a block of `rules.chain_id`:
    each one the judge accepts is placed (and counted in `ledger` as pending), each one it
    refuses, for good or for now, is skipped (the queue never waits on an outsider's state).

    Stops at `cap` items, or at an accepted item that waits for a later block: one that does not
    fit `gas_room` (it fits a block with more room: the judge refused any above the block gas
    limit), whose sender's account the ledger does not know yet, or whose sender is `held` (a
    bundle leg of it is being mined: its state moves)."""
    out = Selection()
    for item in items:
        if len(out.queue_indexes) >= cap:
            break
        verdict = _static(item.raw, rules)
        if isinstance(verdict, Accept):
            tx = verdict.tx
            if not ledger.known(tx.sender) or tx.sender in held or tx.gas > gas_room:
                break  # waits for its account, its bundle slot, or a block with more room
            verdict = judge_pending(tx, ledger, base_fee)
        out.queue_indexes.append(item.index)
        if isinstance(verdict, Reject):
            out.skipped.append(len(out.queue_indexes) - 1)
            out.reasons.append(verdict.message)
            continue
        ledger.add(verdict.tx)
        gas_room -= verdict.tx.gas
        out.txs.append(verdict.tx)
    return out


def forced_demand(items: Sequence[ForcedItem], rules: ChainRules) -> int:
    """The gas the next block must leave for the first of `items` the static rules accept (0:
    none): the items before it are skipped, whatever the state. Pure."""
    for item in items[:MAX_FORCED_PER_BLOCK]:
        verdict = _static(item.raw, rules)
        if isinstance(verdict, Accept):
            return verdict.tx.gas
    return 0


@functools.lru_cache(maxsize=1024)  # the queue's head is judged at each poll and block
def _static(raw: bytes, rules: ChainRules) -> Verdict:
    return judge_raw(raw, rules)


def deadline_at_risk(items: Sequence[ForcedItem], l1_head: int, margin: int) -> list[ForcedItem]:
    """The items whose L1 deadline is at most `margin` L1 blocks after `l1_head` (or passed).
    Pure."""
    return [item for item in items if item.deadline - l1_head <= margin]


class HeldSenders(Protocol):
    held: dict[int, set[str]]  # per rollup: senders with a bundle leg in the slot being built


class ForcedHost(ServiceCore, Protocol):
    """What the forced inbox uses of the running service (`service.Sequencer` is one)."""

    seen: RecentHashes  # tx hashes promised, placed or sealed lately

    @property
    def bundle_book(self) -> HeldSenders: ...  # read only: a subtype (BundleBook) will do

    async def ensure_account(
        self, chain: ChainState, sender: str, refresh: bool = False
    ) -> None: ...


class ForcedInbox:
    """The service's view of the forced queue: polls the inbox, feeds each rollup's plan."""

    def __init__(self, seq: ForcedHost, inbox: str, poll_s: float, margin: int = 8) -> None:
        self.seq = seq
        self.inbox = inbox
        self.poll_s = poll_s
        self.margin = margin  # L1 blocks: see `deadline_at_risk`
        self.l1_head = 0  # as of the last poll
        self._warned: set[int] = set()  # queue indexes already warned about (still queued)
        self.from_block = 0
        self.next_index: dict[int, int] = {}  # per rollup: the first queue index not processed
        self.queued: dict[int, list[ForcedItem]] = {c: [] for c in seq.chains}
        self.demand: dict[int, int] = {}  # per rollup: gas of the first item a block must fit
        self.placed = 0  # forced transactions placed at the start of a block (since start)
        self.skipped = 0  # queue items refused (since start)

    async def start(self) -> None:
        """Resume after what the journal processed and what batches already consumed on L1;
        hook every rollup's plan."""
        assert self.seq.l1 is not None
        consumed = await self.seq.l1.call(
            "eth_call",
            [
                {"to": self.inbox, "data": "0x" + keccak(text="forced_through()")[:4].hex()},
                "latest",
            ],
        )
        through = int(consumed, 16)
        for chain_id, chain in self.seq.chains.items():
            self.next_index[chain_id] = max(through, self.seq.journal.forced_next_index(chain_id))
            chain.plan.hook_forced(
                functools.partial(self.open_block, chain),
                functools.partial(self.demand_of, chain_id),
            )
        try:
            await self.poll()
        except Exception as exc:  # noqa: BLE001 - `run` polls again; the rollups go on meanwhile
            log.warning("forced queue poll failed", extra={"error": str(exc)})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.poll()
            except Exception as exc:  # noqa: BLE001 - the next poll tries again
                log.warning("forced queue poll failed", extra={"error": str(exc)})

    async def poll(self) -> None:
        """Read new queue items from L1; read the accounts of their senders on their rollup."""
        assert self.seq.l1 is not None
        latest = int(await self.seq.l1.call("eth_blockNumber"), 16)
        if latest < self.from_block:
            return
        logs = await self.seq.l1.call(
            "eth_getLogs",
            [
                {
                    "address": self.inbox,
                    "topics": ["0x" + FORCED_TOPIC.hex()],
                    "fromBlock": hex(self.from_block),
                    "toBlock": hex(latest),
                }
            ],
        )
        self.from_block = latest + 1
        self.l1_head = latest
        for entry in logs:
            item = decode_forced_log(entry)
            queue = self.queued.get(item.chain_id)
            if queue is None:  # the inbox's rollup set names a chain this service does not run
                log.error(
                    "forced item for a rollup this sequencer does not run: nobody consumes it",
                    extra={"chain": item.chain_id, "queue_index": item.index},
                )
                continue
            if item.index < self.next_index[item.chain_id]:
                continue
            if any(q.index == item.index for q in queue):
                continue
            queue.append(item)
            log.info(
                "forced transaction queued",
                extra={"chain": item.chain_id, "queue_index": item.index},
            )
        self.warn_at_risk()
        for chain_id, queue in self.queued.items():
            chain = self.seq.chains[chain_id]
            self.demand[chain_id] = forced_demand(queue, chain.rules)
            for item in queue:
                verdict = _static(item.raw, chain.rules)
                if isinstance(verdict, Accept) and not chain.ledger.known(verdict.tx.sender):
                    await self.seq.ensure_account(chain, verdict.tx.sender)

    def at_risk(self) -> list[ForcedItem]:
        """Queued items whose L1 deadline is within the margin of the last L1 head polled."""
        items = [item for queue in self.queued.values() for item in queue]
        return deadline_at_risk(items, self.l1_head, self.margin)

    def warn_at_risk(self) -> None:
        """Log a warning, once per item, for each queued item at risk of missing its deadline."""
        risky = self.at_risk()
        self._warned &= {item.index for item in risky}
        for item in risky:
            if item.index not in self._warned:
                self._warned.add(item.index)
                log.warning(
                    "forced item close to its L1 deadline and not placed",
                    extra={
                        "event": "forced_deadline",
                        "chain": item.chain_id,
                        "queue_index": item.index,
                        "deadline": item.deadline,
                        "l1_head": self.l1_head,
                    },
                )

    def skip_before(self, chain_id: int, after: int) -> None:
        """The items of `chain_id` below queue index `after` were processed by blocks replayed
        from L1 (a follower's, `leader.py`): never place them again."""
        self.next_index[chain_id] = max(self.next_index.get(chain_id, 0), after)
        self.queued[chain_id] = [
            item for item in self.queued.get(chain_id, []) if item.index >= after
        ]

    def queued_count(self) -> int:
        return sum(len(queue) for queue in self.queued.values())

    def nearest_deadline(self) -> int | None:
        """The earliest L1 deadline of an item read and not yet placed (None if none)."""
        return min((item.deadline for q in self.queued.values() for item in q), default=None)

    def demand_of(self, chain_id: int) -> int:
        """`ChainPlan.forced_demand`: the gas of the first item the rollup's next block must fit
        (0 when none is queued)."""
        return self.demand.get(chain_id, 0)

    def open_block(self, chain: ChainState, number: int, gas_room: int) -> list[PlannedTx]:
        """`ChainPlan.opener`: the forced transactions at the start of block `number`."""
        queue = self.queued.get(chain.chain_id)
        if not queue:
            return []
        selection = select_forced(
            queue,
            chain.rules,
            chain.ledger,
            gas_room,
            chain.plan.base_fee_bound(number),
            held=self.seq.bundle_book.held.get(chain.chain_id, frozenset()),
        )
        if not selection.queue_indexes:
            return []
        del queue[: len(selection.queue_indexes)]
        self.demand[chain.chain_id] = forced_demand(queue, chain.rules)
        self.placed += len(selection.txs)
        self.skipped += len(selection.skipped)
        self.next_index[chain.chain_id] = selection.queue_indexes[-1] + 1
        records = [
            PreconfRecord.unpromised(chain.chain_id, number, i, tx, TxKind.FORCED)
            for i, tx in enumerate(selection.txs)
        ]
        for record in records:
            self.seq.promises[record.tx_hash] = record  # pending until sealed, like a promise
            self.seq.seen.add(record.tx_hash)
        self.seq.journal.record_forced_nowait(
            chain.chain_id, number, records, selection.queue_indexes, selection.skipped
        )
        log.info(
            "forced transactions placed",
            extra={
                "chain": chain.chain_id,
                "block": number,
                "queue_indexes": ",".join(map(str, selection.queue_indexes)),
                "skipped": ",".join(map(str, selection.skipped)),
                "reasons": "; ".join(selection.reasons),
            },
        )
        return [PlannedTx(tx.tx_hash, tx.raw, tx.sender, tx.gas) for tx in selection.txs]


def forced_inbox_for(seq: ForcedHost) -> ForcedInbox | None:
    """The forced queue of the manifest's SharedInbox on L1, or None if it has none."""
    inbox = seq.manifest.l1.contracts.get("SharedInbox")
    if inbox is None:
        return None
    return ForcedInbox(
        seq, inbox.address, seq.config.l1_poll_s, seq.config.forced_deadline_margin_l1_blocks
    )
