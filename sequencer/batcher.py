"""The batcher: sealed rollup blocks become batches committed to the L1 SharedInbox.

Owns: choosing what to post next from what L1 already holds (the inbox's last committed block
per rollup and its next sequence), so that after a restart or an L1 reorg it continues from L1's
own view and never posts a range twice; building the `BatchHeader` exactly as
`sequencer.commitments` defines it (per-rollup tx roots over tx leaves and block leaves);
encoding the payload (`sequencer.batch_codec`); choosing calldata or a blob; and handing the
transaction to the `TxManager`, which alone sends L1 transactions.
It reads sealed blocks from the rollup engines (the builder has already checked each one against
its plan), and never changes a rollup.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from sequencer import batch_codec as bc
from sequencer import commitments as cm
from sequencer import kzg
from sequencer.batch_codec import BLOB_BYTES, BLOB_CAPACITY, FIELD_ELEMENTS
from sequencer.engine import EngineError, SyncEngineClient
from sequencer.posting import SEND_MARGIN_WIDEN_MAX, Backlog, PostingPolicy, decide
from sequencer.txmgr import Confirmed, NotSent, TxManager, TxRequest

log = logging.getLogger("sequencer.batcher")

MAX_CALLDATA_PAYLOAD = 65_536  # SharedInbox.MAX_PAYLOAD_BYTES
MAX_SUMMARY_BLOCKS = 10_000  # blocks per seq_getBlockSummaries call (the RPC's limit)
FORCED_PAGE = 1_000  # placements per seq_getForcedPlacements call (the RPC's limit)
# Most blocks per rollup read for one batch when `max_blocks` is not set: bounds a build's time
# (about 3.5 hours of 250 ms slots; an empty block costs a few payload bytes).
MAX_BLOCKS_READ = 50_000
READ_BYTES_PER_CARRIER = 3  # raw transaction bytes read per batch, in carriers (compression ~2x)
CALLDATA_FLOOR_PER_TOKEN = 10  # EIP-7623 (prague): floor gas per calldata token
POST_EXECUTION_GAS = 120_000  # gas the inbox spends beyond data, for the auto choice only
QUOTE_MAX_AGE_S = 12.0  # the last send's fee read serves the auto choice this long


class BatcherError(RuntimeError):
    """The batcher cannot build or post a batch."""


class PayloadTooLarge(BatcherError):
    """The payload does not fit its carrier (64 KiB of calldata, or one blob)."""

    def __init__(self, message: str, size: int = 0) -> None:
        super().__init__(message)
        self.size = size  # the payload's bytes


# --- blobs ---


def to_blob(payload: bytes) -> bytes:
    """Pack a payload into one blob: a 4-byte big-endian length, then the bytes, 31 per field
    element (each element's first byte is zero, so it is always below the BLS modulus); the
    layout `batch_codec.from_blob` reads back."""
    if len(payload) > BLOB_CAPACITY:
        raise PayloadTooLarge(
            f"payload of {len(payload)} bytes exceeds one blob ({BLOB_CAPACITY})", len(payload)
        )
    data = len(payload).to_bytes(4, "big") + payload
    data += b"\x00" * (FIELD_ELEMENTS * 31 - len(data))
    return b"".join(b"\x00" + data[i : i + 31] for i in range(0, FIELD_ELEMENTS * 31, 31))


def blob_versioned_hash(blob: bytes) -> bytes:
    """The EIP-4844 versioned hash of a blob (the process's one KZG setup: `sequencer.kzg`)."""
    return kzg.sidecar(blob).versioned_hash


# --- engine reads ---


def _b(hex_str: str) -> bytes:
    return bytes.fromhex(hex_str[2:])


def _raw(item: str | bytes) -> bytes:
    return item if isinstance(item, bytes) else _b(item)


@dataclass(frozen=True)
class SealedRange:
    """Blocks first..last of one rollup as the engine holds them, ready to commit."""

    chain_id: int
    parent_hash: bytes
    blocks: tuple[bc.BlockData, ...]
    records: tuple[cm.BlockRecord, ...]
    state_root: bytes
    skipped_leaves: tuple[tuple[int, tuple[bytes, ...]], ...] = ()  # (block number, leaves)
    forced_indexes: tuple[int, ...] = ()  # forced-queue items processed in these blocks
    state_roots: tuple[bytes, ...] = ()  # per block (for `prefix`)
    block_forced: tuple[tuple[int, ...], ...] = ()  # per block, the forced indexes it processed

    def prefix(self, n: int) -> SealedRange:
        """The first `n` blocks of this range (needs the per-block fields `read_range` fills)."""
        if n >= len(self.blocks):
            return self
        if n < 1 or len(self.state_roots) != len(self.blocks):
            raise BatcherError("a range prefix needs 1..len blocks and per-block state roots")
        last = self.blocks[n - 1].number
        return SealedRange(
            chain_id=self.chain_id,
            parent_hash=self.parent_hash,
            blocks=self.blocks[:n],
            records=self.records[:n],
            state_root=self.state_roots[n - 1],
            skipped_leaves=tuple((b, ls) for b, ls in self.skipped_leaves if b <= last),
            forced_indexes=tuple(i for f in self.block_forced[:n] for i in f),
            state_roots=self.state_roots[:n],
            block_forced=self.block_forced[:n],
        )

    def commitment(self) -> cm.RollupCommitment:
        return cm.RollupCommitment(
            chain_id=self.chain_id,
            first_block=self.blocks[0].number,
            last_block=self.blocks[-1].number,
            parent_hash=self.parent_hash,
            last_block_hash=self.records[-1].block_hash,
            state_root=self.state_root,
            tx_root=cm.MerkleTree(cm.range_leaves(self.records, dict(self.skipped_leaves))).root,
        )

    def data(self) -> bc.RangeData:
        return bc.RangeData(self.chain_id, self.blocks)


def read_range(
    engine: SyncEngineClient,
    chain_id: int,
    first: int,
    last: int,
    forced: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
    forced_hash: Callable[[int], bytes] | None = None,
    known_raws: Mapping[bytes, bytes] | None = None,
) -> SealedRange:
    """Read sealed blocks first..last (raw transactions, statuses, hashes) from an engine.

    `forced`: per block number, the forced-queue indexes the sequencer processed at its start and
    the offsets of those it skipped (`seq_getBlockHeader`); `forced_hash(index)`: a queue item's
    tx hash (from the inbox), for the skipped items' leaves. `known_raws`: raw transactions by
    hash already at hand (the sequencer's journal): the engine's blocks still say which
    transactions they hold, and only the raw transactions missing here are read from it (one
    call per transaction: most of a read's time on anvil).
    """
    numbers = list(range(first, last + 1))
    heads = engine.batch([("eth_getBlockByNumber", [hex(n), False]) for n in [first - 1, *numbers]])
    parent, mined = heads[0], heads[1:]
    if parent is None or any(b is None for b in mined):
        raise BatcherError(f"rollup {chain_id}: blocks {first - 1}..{last} not all sealed")
    hashes = [h for b in mined for h in b["transactions"]]
    known = known_raws or {}
    missing = [h for h in hashes if _b(h) not in known]
    fetched = dict(
        zip(
            missing,
            engine.batch([("eth_getRawTransactionByHash", [h]) for h in missing]),
            strict=True,
        )
    )
    raws = [fetched[h] if h in fetched else known[_b(h)] for h in hashes]
    receipts = engine.batch(
        [("eth_getBlockReceipts", [b["number"]]) for b in mined if b["transactions"]]
    )
    raw_iter, receipt_iter = iter(raws), iter(receipts)
    blocks, records = [], []
    skipped_leaves: list[tuple[int, tuple[bytes, ...]]] = []
    forced_indexes: list[int] = []
    block_forced: list[tuple[int, ...]] = []
    for block in mined:
        number = int(block["number"], 16)
        txs = tuple(_raw(next(raw_iter)) for _ in block["transactions"])
        statuses = [int(r["status"], 16) for r in next(receipt_iter)] if txs else []
        indexes, skipped = (forced or {}).get(number, ((), ()))
        blocks.append(bc.BlockData(number, int(block["timestamp"], 16), txs, len(indexes), skipped))
        if skipped:
            if forced_hash is None:
                raise BatcherError("skipped forced items need their tx hashes")
            skipped_leaves.append(
                (
                    number,
                    tuple(
                        cm.skipped_leaf(chain_id, number, indexes[o], forced_hash(indexes[o]))
                        for o in skipped
                    ),
                )
            )
        forced_indexes.extend(indexes)
        block_forced.append(tuple(indexes))
        records.append(
            cm.BlockRecord(
                chain_id,
                number,
                _b(block["hash"]),
                tuple(
                    cm.TxRecord(i, _b(h), s)
                    for i, (h, s) in enumerate(zip(block["transactions"], statuses, strict=True))
                ),
            )
        )
    return SealedRange(
        chain_id=chain_id,
        parent_hash=_b(parent["hash"]),
        blocks=tuple(blocks),
        records=tuple(records),
        state_root=_b(mined[-1]["stateRoot"]),
        skipped_leaves=tuple(skipped_leaves),
        forced_indexes=tuple(forced_indexes),
        state_roots=tuple(_b(b["stateRoot"]) for b in mined),
        block_forced=tuple(block_forced),
    )


# --- the inbox as the batcher sees it ---


def _cache_chain_id(w3: Web3) -> None:
    """web3's request validation asks the node for its chain id before every `eth_call` and
    `eth_estimateGas` (twice per contract read): let the provider answer it from its cache after
    the first time (an endpoint's chain id does not change; a node on another chain would
    refuse the signed transactions anyway). Only eth_chainId is cached."""
    provider = w3.provider
    if hasattr(provider, "cache_allowed_requests") and hasattr(provider, "cacheable_requests"):
        provider.cache_allowed_requests = True
        provider.cacheable_requests = {RPCEndpoint("eth_chainId")}


@dataclass(frozen=True)
class InboxState:
    next_sequence: int
    prev_hash: bytes
    term: int
    forced_through: int
    last_block: dict[int, int]  # per rollup chain id: last committed block (0: none)
    forced_count: int = 0  # forced-inclusion items ever requested


def advance_forced_through(
    state: InboxState,
    ranges: Sequence[SealedRange],
    placements: Sequence[tuple[int, int, tuple[int, ...]]],
) -> int:
    """The queue index below which every forced item is consumed once a batch of `ranges` lands.

    The queue is shared by the rollups and each rollup consumes its own items in order, so an
    item can be consumed while an earlier one (of the other rollup) is not yet. Advance from
    L1's `forced_through` over the items processed in the batch's blocks and in blocks L1
    already holds; `placements` are (chain id, block number, queue indexes) of blocks that
    processed forced items, posted or not.
    """
    consumed = {i for r in ranges for i in r.forced_indexes}
    for chain_id, number, indexes in placements:
        if 0 < number <= state.last_block.get(chain_id, 0):
            consumed.update(indexes)
    through = state.forced_through
    while through < state.forced_count and through in consumed:
        through += 1
    return through


class InboxView:
    """Reads of the SharedInbox and SequencerRegistry (addresses and ABIs from the manifest)."""

    def __init__(self, w3: Web3, inbox: tuple[str, list], registry: tuple[str, list]) -> None:
        self.w3 = w3
        _cache_chain_id(w3)
        self.inbox = w3.eth.contract(address=Web3.to_checksum_address(inbox[0]), abi=inbox[1])
        self.registry = w3.eth.contract(
            address=Web3.to_checksum_address(registry[0]), abi=registry[1]
        )
        self._tips: dict[int, tuple[int, bytes]] = {}
        self._scanned_to = -1
        self._term_blocks: int | None = None

    def state(self, chain_ids: Sequence[int], head: int | None = None) -> InboxState:
        """The inbox as of now; `head`: L1's head if the caller has just read it (the events
        are scanned up to it)."""
        f = self.inbox.functions
        sequence = f.next_sequence().call()
        prev = f.batch_hash(sequence - 1).call() if sequence else cm.ZERO_HASH
        tips = self.tips(head)
        return InboxState(
            next_sequence=sequence,
            prev_hash=bytes(prev),
            term=self.registry.functions.current_term().call(),
            forced_through=f.forced_through().call(),
            last_block={c: tips.get(c, (0, cm.ZERO_HASH))[0] for c in chain_ids},
            forced_count=f.forced_count().call(),
        )

    def forced_hash(self, index: int) -> bytes:
        """The tx hash of forced-queue item `index` (keccak256 of its raw transaction)."""
        return bytes(self.inbox.functions.forced_item(index).call()[2])

    def tips(self, head: int | None = None) -> dict[int, tuple[int, bytes]]:
        """The last committed (block number, block hash) of each rollup.

        The inbox stores only a hash of each rollup's tip; the number and hash are in the headers
        of the `BatchPosted` events. Events are read incrementally, and every cached tip is
        checked against the inbox (`rollup_tip_matches`), so an L1 reorg that removed a batch
        makes the view read the events again from the start. `head`: scan up to this L1 block
        (default: read the head).
        """
        head = self.w3.eth.block_number if head is None else head
        if self._scanned_to < head:
            event = self.inbox.events.BatchPosted()
            for entry in sorted(
                event.get_logs(from_block=self._scanned_to + 1, to_block=head),
                key=lambda e: (e["blockNumber"], e["logIndex"]),
            ):
                for rollup in cm.header_from_abi(entry["args"]["header"]).rollups:
                    self._tips[rollup.chain_id] = (rollup.last_block, rollup.last_block_hash)
            self._scanned_to = head
        f = self.inbox.functions
        for chain_id, (number, block_hash) in list(self._tips.items()):
            if not f.rollup_tip_matches(chain_id, number, block_hash).call():
                # a reorg, or a batch landed after `head`: scan again, up to L1's head now
                self._tips, self._scanned_to = {}, -1
                return self.tips()
        return dict(self._tips)

    def term_blocks(self) -> int:
        if self._term_blocks is None:
            self._term_blocks = int(self.registry.functions.TERM_BLOCKS().call())
        return self._term_blocks

    def blocks_left_in_term(self, head: int | None = None) -> int:
        """L1 blocks after the head that still belong to the current term."""
        term_blocks = self.term_blocks()
        head = self.w3.eth.block_number if head is None else head
        return term_blocks - 1 - head % term_blocks

    def term_at(self, head: int) -> int:
        """The term a transaction included in the block after `head` belongs to, at the
        earliest (the inbox checks `header.term == block.number // TERM_BLOCKS`)."""
        return (head + 1) // self.term_blocks()

    def forced_deadline(self, index: int) -> int:
        """The L1 deadline of forced-queue item `index` (the inbox's `forced_item`)."""
        return int(self.inbox.functions.forced_item(index).call()[3])

    def revert_reason(self, request: dict[str, Any], block_number: int) -> str:
        """Why a transaction reverted: the same call replayed (eth_call) at the block it failed
        in. Returns the inbox's reason ("inbox: ..."), or what the node says."""
        answer = self.w3.provider.make_request(
            RPCEndpoint("eth_call"), [request, hex(block_number)]
        )
        error = answer.get("error")
        if not error:
            return "no revert when replayed (the state it failed on has changed)"
        data = error.get("data")
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x08c379a0"):  # Error(string)
            from eth_abi import decode

            return str(decode(["string"], bytes.fromhex(data[10:]))[0])
        return str(error.get("message", error))

    def can_post(self, poster: str) -> bool:
        """Whether `poster` may post now: the term's leader, or anyone through the escape hatch."""
        if self.registry.functions.can_post(poster).call({"from": poster}):
            return True
        return bool(self.inbox.functions.escape_hatch_open().call())

    def post_calldata(self, header: cm.BatchHeader, payload: bytes) -> bytes:
        return bytes.fromhex(
            self.inbox.encode_abi("post_batch", args=[header.as_tuple(), payload])[2:]
        )

    def post_blob_calldata(self, header: cm.BatchHeader) -> bytes:
        return bytes.fromhex(self.inbox.encode_abi("post_batch_blob", args=[header.as_tuple()])[2:])


# --- building ---


@dataclass(frozen=True)
class Batch:
    header: cm.BatchHeader
    payload: bytes
    mode: str  # "calldata" or "blob"
    blob: bytes | None
    ranges: tuple[SealedRange, ...]
    sidecar: kzg.BlobSidecar | None = None  # the blob's commitment and proof, computed once

    @property
    def tx_count(self) -> int:
        return sum(len(b.txs) for r in self.ranges for b in r.blocks)


def calldata_gas(data: bytes) -> int:
    """Intrinsic data gas under EIP-7623's floor (prague): 10 per token, a non-zero byte is 4
    tokens, a zero byte 1."""
    tokens = sum(4 if byte else 1 for byte in data)
    return CALLDATA_FLOOR_PER_TOKEN * tokens


def build_batch(
    state: InboxState,
    ranges: Sequence[SealedRange],
    mode: str,
    base_fee: int,
    blob_base_fee: int,
    forced_through: int | None = None,
) -> Batch:
    """The header and payload for `ranges` (rollups in chain-id order), posted by `mode`
    ("calldata", "blob", or "auto": the cheaper at the given L1 fees)."""
    ranges = sorted(ranges, key=lambda r: r.chain_id)
    data = bc.BatchData(tuple(r.data() for r in ranges))
    payload = bc.encode(data)
    if mode == "auto":
        calldata_cost = (calldata_gas(payload) + POST_EXECUTION_GAS) * base_fee
        blob_cost = POST_EXECUTION_GAS * base_fee + BLOB_BYTES * max(blob_base_fee, 1)
        fits_calldata = len(payload) <= MAX_CALLDATA_PAYLOAD
        mode = "calldata" if fits_calldata and calldata_cost <= blob_cost else "blob"
    if mode == "calldata":
        if len(payload) > MAX_CALLDATA_PAYLOAD:
            raise PayloadTooLarge(
                f"payload of {len(payload)} bytes is too large for calldata", len(payload)
            )
        blob, sidecar, data_hash = None, None, keccak(payload)
    elif mode == "blob":
        blob = to_blob(payload)
        sidecar = kzg.sidecar(blob)
        data_hash = sidecar.versioned_hash
    else:
        raise BatcherError(f"unknown posting mode {mode!r}")
    header = cm.BatchHeader(
        sequence=state.next_sequence,
        prev_hash=state.prev_hash,
        term=state.term,
        rollups=tuple(r.commitment() for r in ranges),
        bundle_root=cm.ZERO_HASH,
        forced_through=state.forced_through if forced_through is None else forced_through,
        data_hash=data_hash,
    )
    return Batch(header, payload, mode, blob, tuple(ranges), sidecar)


# --- the loop ---


@dataclass
class BatcherStats:
    batches: int = 0
    l2_txs: int = 0
    payload_bytes: int = 0
    l1_gas: int = 0
    l1_fee_wei: int = 0
    reverts: int = 0  # posts that landed and reverted
    rebuilt: int = 0  # batches dropped at the term check before sending (built again later)
    prebuilt_used: int = 0  # batches built while the previous one waited for L1, then posted
    prebuilt_dropped: int = 0  # ... and dropped: L1 was not as predicted when it was their turn
    waits: dict[str, int] = field(default_factory=dict)  # policy "wait" rounds, by reason
    triggers: dict[str, int] = field(default_factory=dict)  # posts, by the policy's reason
    backlog_blocks: int = 0  # sealed, unposted blocks at the last round
    send_margin: int = 0  # L1 blocks of the term that must remain for a send (SendLatency)
    send_blocks_worst: int | None = None  # the slowest recent post: term check to landing
    deadline_slack: int | None = None  # nearest deadline minus the L1 head at the last round
    last: dict[str, Any] = field(default_factory=dict)
    last_revert: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _cut_short(batch: Batch, heads: dict[int, int]) -> bool:
    """Whether `batch` leaves out sealed blocks it was built from (its carrier is full)."""
    return any(r.blocks[-1].number < heads.get(r.chain_id, 0) for r in batch.ranges)


class SendLatency:
    """How far after the term check a post lands, in L1 blocks, as measured: the landing block
    minus the head the check saw right before the raw transaction went out (the send call, the
    pool and inclusion; the first blob a fresh node sees takes several blocks to accept).

    `needed(term_margin, blob)` is the number of blocks of the term that must remain after the
    head for a send to go out: the configured margin, or the worst of the last `window` posts
    plus one, whichever is larger; and for a blob before any blob post was measured, at least
    `term_margin + first_blob_extra`; never more than `term_margin + SEND_MARGIN_WIDEN_MAX`,
    the blackout the service's deadlines allow for (a send slower than that may land in the
    next term: it reverts and is rebuilt, as before). Pure: the batcher records each post that
    lands."""

    def __init__(self, window: int = 16, first_blob_extra: int = 4) -> None:
        self.window = window
        self.first_blob_extra = min(first_blob_extra, SEND_MARGIN_WIDEN_MAX)
        self._seen: list[int] = []
        self._blob_seen = False

    def record(self, checked_head: int, landed: int, blob: bool = False) -> None:
        self._seen = [*self._seen, max(1, landed - checked_head)][-self.window :]
        self._blob_seen = self._blob_seen or blob

    @property
    def worst(self) -> int | None:
        return max(self._seen, default=None)

    def needed(self, term_margin: int, blob: bool = False) -> int:
        worst = self.worst
        margin = term_margin if worst is None else max(term_margin, worst + 1)
        if blob and not self._blob_seen:
            margin = max(margin, term_margin + self.first_blob_extra)
        return min(margin, term_margin + SEND_MARGIN_WIDEN_MAX)


@dataclass(frozen=True)
class _Prebuilt:
    """A batch built ahead, on the inbox state L1 was predicted to have by its turn."""

    state: InboxState
    batch: Batch
    timings: dict[str, float]


@dataclass
class _Summary:
    """What the batcher knows of one sealed block without reading it from the engine."""

    txs: int
    nbytes: int
    forced: int
    deadline: int | None
    seen_at: float
    block_hash: bytes = b""  # as the sequencer sealed (and signed) it


class Batcher:
    """Posts what is sealed on the rollup engines and not on L1 yet.

    With a `policy` (`sequencer.posting`), a round posts only when the policy says so, from a
    `Backlog` built from the sequencer's block summaries (`seq_getBlockSummaries`, read once per
    block) and the inbox's first unconsumed forced item; without one, every round posts whatever
    is unposted. A batch takes as many blocks as its carrier holds (`max_blocks` caps it if
    set), so a backlog after an outage drains in the fewest batches and an overdue forced item
    is consumed as soon as one batch can reach its block. The term is checked right before
    sending: a batch that would land in another term is dropped and built again.

    Pipelining: while a batch that left sealed blocks out (a full carrier: sustained load)
    waits for L1, a helper thread builds the next one on the inbox state L1 will have once it
    lands. The next round posts it only if L1's state is exactly that one (else it builds
    afresh), after the same policy and term checks; one transaction is in flight at a time, so
    the posting order and the nonce never depend on the prediction.
    """

    def __init__(
        self,
        inbox: InboxView,
        txmgr: TxManager,
        engines: dict[int, SyncEngineClient],
        *,
        mode: str = "auto",
        max_blocks: int | None = None,
        sequencer: SyncEngineClient | None = None,
        term_margin: int = 2,
        policy: PostingPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_round: Callable[[Batcher], None] | None = None,
    ) -> None:
        self.inbox = inbox
        self.txmgr = txmgr
        self.engines = dict(sorted(engines.items()))
        self.mode = mode
        self.max_blocks = max_blocks
        # The sequencer's RPC: which forced-queue items each block processed (seq_getBlockHeader)
        # and what each sealed block holds (seq_getBlockSummaries, for the policy).
        self.sequencer = sequencer
        self.term_margin = term_margin  # L1 blocks before a term's end in which nothing is sent
        self.policy = policy
        self.stats = BatcherStats()
        self._overdue_logged: set[int] = set()  # forced items already logged as overdue
        self._clock = clock
        self._on_round = on_round  # called after each round (metrics)
        self._summaries: dict[int, dict[int, _Summary]] = {c: {} for c in self.engines}
        self._journal_reads = True  # the sequencer serves seq_getBlockTransactions
        # Payload bytes per raw tx byte of the last batch with some bulk (a guess first): bounds a
        # build's read and turns the backlog's raw bytes into the payload size the policy fills.
        self._ratio = 0.5
        self.timings: dict[str, float] = {}  # of the last round that built a batch (for the log)
        self.idle_full_every_s = 10.0
        # Build the next batch while a full one waits for L1 (`_build_ahead`).
        self.pipeline = True
        self._ahead: ThreadPoolExecutor | None = None
        self._prebuilt: _Prebuilt | None = None
        self._built_from: tuple[InboxState | None, dict[int, int]] = (None, {})
        self._idle_state: InboxState | None = None  # L1's view when the last full round was idle
        self._idle_full_at = 0.0
        # L1's (next sequence, last batch hash) as this batcher's last confirmed post left them:
        # while L1 still shows them, the tx manager's local nonce count is right.
        self._posted_tip: tuple[int, bytes] | None = None
        self.latency = SendLatency()
        self.stats.send_margin = self.send_margin()

    def send_margin(self, blob: bool = False) -> int:
        """L1 blocks of the term that must remain after the head for a post (a blob post with
        `blob`) to be sent: the configured `term_margin`, widened to cover the measured send
        latency (`SendLatency`)."""
        return self.latency.needed(self.term_margin, blob)

    def _fees(self) -> tuple[int, int]:
        """(base fee, blob base fee) for the calldata-or-blob choice of `mode="auto"` (unused
        otherwise: no L1 call): the fees the tx manager read for the last send when that is
        under `QUOTE_MAX_AGE_S` old (a few blocks of fee drift do not change the choice),
        else read now."""
        if self.mode != "auto":
            return 0, 0
        quote = self.txmgr.recent_quote(True, QUOTE_MAX_AGE_S)
        return quote.base_fee, quote.blob_base_fee or 0

    # --- what is unposted ---

    def backlog(self, state: InboxState, heads: dict[int, int], l1_head: int) -> Backlog:
        """The policy's view of what is sealed and unposted now (needs the sequencer's RPC)."""
        if self.sequencer is None:
            raise BatcherError("the posting policy needs the sequencer's RPC")
        now = self._clock()
        self._refresh_summaries(state.last_block, heads, now)
        blocks = txs = nbytes = forced = 0
        deadlines: list[int] = []
        seen: list[float] = []
        for known in self._summaries.values():
            for summary in known.values():
                blocks += 1
                txs += summary.txs
                nbytes += summary.nbytes
                forced += summary.forced
                if summary.deadline is not None:
                    deadlines.append(summary.deadline)
                if summary.txs or summary.forced:
                    seen.append(summary.seen_at)
        if state.forced_through < state.forced_count:
            # deadlines grow with the queue index: the first unconsumed item is the nearest
            deadlines.append(self.inbox.forced_deadline(state.forced_through))
        left = self.inbox.blocks_left_in_term(l1_head)
        return Backlog(
            blocks=blocks,
            txs=txs,
            tx_bytes=nbytes,
            payload_bytes=int(nbytes * self._ratio),
            forced_items=forced,
            nearest_deadline=min(deadlines, default=None),
            waited_s=now - min(seen) if seen else 0.0,
            l1_head=l1_head,
            window_end=l1_head + left - self.send_margin(self.mode != "calldata"),
        )

    def _refresh_summaries(
        self, last_posted: dict[int, int], heads: dict[int, int], now: float
    ) -> bool:
        """Bring the cached block summaries to blocks last_posted+1..head of each rollup (read
        from the sequencer only for blocks not seen yet); True when a new one has content."""
        assert self.sequencer is not None
        content = False
        for chain_id in self.engines:
            first, head = last_posted[chain_id] + 1, heads[chain_id]
            known = self._summaries[chain_id]
            for number in [n for n in known if n < first or n > head]:
                del known[number]  # posted (or rewound: read again)
            start = max([first, *(n + 1 for n in known)])
            for lo in range(start, head + 1, MAX_SUMMARY_BLOCKS):
                hi = min(head, lo + MAX_SUMMARY_BLOCKS - 1)
                for item in self.sequencer.call("seq_getBlockSummaries", [chain_id, lo, hi]):
                    summary = _Summary(
                        item["txCount"],
                        item["bytes"],
                        item["forced"],
                        item["deadline"],
                        now,
                        _b(item["blockHash"]) if item.get("blockHash") else b"",
                    )
                    known[item["blockNumber"]] = summary
                    content = content or bool(summary.txs or summary.forced)
        return content

    def _idle_round(self) -> bool:
        """While the last full round found only empty blocks unposted: True (and nothing else
        done) if the blocks sealed since are empty too. A full round (L1 read again) still runs
        every `idle_full_every_s`, so a batch an L1 reorg removed is noticed."""
        if self._idle_state is None or self.sequencer is None:
            return False
        now = self._clock()
        if now - self._idle_full_at >= self.idle_full_every_s:
            return False
        chains = self.sequencer.call("seq_status")["chains"]
        heads = {c: int(chains[str(c)]["head"]) for c in self.engines}
        if self._refresh_summaries(self._idle_state.last_block, heads, now):
            return False
        self.stats.waits["empty"] = self.stats.waits.get("empty", 0) + 1
        return True

    def next_batch(
        self,
        state: InboxState | None = None,
        heads: dict[int, int] | None = None,
        timings: dict[str, float] | None = None,
    ) -> Batch | None:
        """The batch to post now (None when L1 already holds every sealed block): every
        unposted block of each rollup, or the longest prefix (the same number of blocks per
        rollup) whose payload fits the carrier. `timings` (default: a new `self.timings`)
        receives how long the read and the encodes took."""
        state = self.inbox.state(list(self.engines)) if state is None else state
        heads = self._sealed_heads() if heads is None else heads
        if timings is None:
            self.timings = timings = {}
        base, blob = self._fees()
        capacity = MAX_CALLDATA_PAYLOAD if self.mode == "calldata" else BLOB_CAPACITY
        started = time.perf_counter()
        full: list[SealedRange] = []
        for chain_id, engine in self.engines.items():
            first = state.last_block[chain_id] + 1
            if heads[chain_id] < first:
                continue
            cap = MAX_BLOCKS_READ if self.max_blocks is None else self.max_blocks
            bound = self._read_bound(chain_id, first, capacity)
            last = min(heads[chain_id], first + cap - 1, bound)
            full.append(self._read(chain_id, engine, first, last))
        if not full:
            return None
        timings["read_s"] = time.perf_counter() - started
        timings["encodes"] = 0

        def build(n: int) -> Batch:
            ranges = [r.prefix(n) for r in full]
            through = self._forced_through(state, ranges)
            timings["encodes"] += 1
            return build_batch(state, ranges, self.mode, base, blob, through)

        longest = max(len(r.blocks) for r in full)
        prefix_bytes = [0] * (longest + 1)  # raw tx bytes of the first n blocks of each rollup
        for r in full:
            for i, b in enumerate(r.blocks):
                prefix_bytes[i + 1] += sum(len(t) for t in b.txs)
        for i in range(1, longest + 1):
            prefix_bytes[i] += prefix_bytes[i - 1]

        def raw_bytes(n: int) -> int:
            return prefix_bytes[n]

        ratio = self._ratio
        if raw_bytes(longest) * ratio <= 0.97 * capacity or longest == 1:
            try:  # everything read fits, by the last batch's ratio: one encode
                return self._sized(build(longest), raw_bytes(longest))
            except PayloadTooLarge as exc:
                if longest == 1:
                    raise
                ratio = exc.size / max(1, raw_bytes(longest))
        # The most blocks that fit, to within 2 %: a binary search whose first probe is the
        # guess from the compression ratio just seen (each probe encodes the payload).
        fits: Batch | None = None
        lo, hi = 0, longest  # lo blocks fit (0: none known), hi blocks do not
        guess = longest - 1
        while guess > 1 and raw_bytes(guess) * ratio > 0.97 * capacity:
            guess -= 1
        probe = guess
        while hi - lo > max(1, hi // 50):
            try:
                fits, lo = build(probe), probe
                if len(fits.payload) >= 0.9 * capacity:
                    break  # full enough: spare the encodes of a finer search
            except PayloadTooLarge:
                hi = probe
            probe = (lo + hi) // 2
        if fits is None:
            if lo == 0:
                fits = build(1) if hi > 1 else None
            if fits is None:
                raise PayloadTooLarge("one block of each rollup does not fit the carrier")
        return self._sized(fits, raw_bytes(len(fits.ranges[0].blocks)))

    def _sized(self, batch: Batch, raw: int) -> Batch:
        """Remember the compression ratio of a batch with transactions (it bounds the next
        batch's read)."""
        if raw > 4096:
            self._ratio = len(batch.payload) / raw
        return batch

    def _read_bound(self, chain_id: int, first: int, capacity: int) -> int:
        """The last block worth reading for one batch: from the cached summaries (when the
        policy has read them), the blocks whose raw transactions stay within this rollup's
        share of what one carrier holds at the last batch's compression ratio (plus 15 %);
        otherwise no bound. The payload decides in the end."""
        known = self._summaries.get(chain_id, {})
        share = min(READ_BYTES_PER_CARRIER, 1.15 / self._ratio) * capacity / len(self.engines)
        total, number = 0, first
        while number in known:
            total += known[number].nbytes
            if total > share and number > first:
                return number - 1
            number += 1
        return number - 1 if number > first else 2**63

    def _read(self, chain_id: int, engine: SyncEngineClient, first: int, last: int) -> SealedRange:
        """Blocks first..last from the engine, each checked against the hash the sequencer
        sealed: from the cached block summaries when the policy has read them (then the signed
        headers are fetched only for blocks that processed forced items), else from every
        block's signed header (`seq_getBlockHeader`)."""
        known = self._summaries.get(chain_id, {})
        numbers = range(first, last + 1)
        if self.sequencer is not None and all(n in known and known[n].block_hash for n in numbers):
            sealed = {n: known[n].block_hash for n in numbers}
            wanted = [n for n in numbers if known[n].forced]
            headers = self._sealed_headers(chain_id, wanted)
        else:
            headers = self._sealed_headers(chain_id, list(numbers))
            sealed = {n: _b(h["blockHash"]) for n, h in headers.items()}
        forced = {
            n: (tuple(h["forced"]), tuple(h["forcedSkipped"]))
            for n, h in headers.items()
            if h.get("forced")
        }
        raws = self._journal_raws(chain_id, first, last)
        rng = read_range(engine, chain_id, first, last, forced, self.inbox.forced_hash, raws)
        for record in rng.records:
            block_hash = sealed.get(record.number)
            if block_hash is not None and block_hash != record.block_hash:
                raise BatcherError(
                    f"rollup {chain_id} block {record.number}: the engine's block is "
                    "not the one the sequencer sealed and signed"
                )
        return rng

    def _journal_raws(self, chain_id: int, first: int, last: int) -> dict[bytes, bytes]:
        """The raw transactions the sequencer journaled for blocks first..last, by tx hash
        (`seq_getBlockTransactions`); empty without the sequencer's RPC or when it does not
        serve them (then every raw transaction is read from the engine)."""
        if self.sequencer is None or not self._journal_reads:
            return {}
        out: dict[bytes, bytes] = {}
        lo = first
        while lo <= last:
            hi = min(last, lo + MAX_SUMMARY_BLOCKS - 1)
            try:
                answer = self.sequencer.call("seq_getBlockTransactions", [chain_id, lo, hi])
            except EngineError as exc:
                if "-32601" in str(exc) or "does not exist" in str(exc):
                    self._journal_reads = False  # an older sequencer: read from the engines
                    return {}
                raise
            for block in answer["blocks"]:
                for item in block["transactions"]:
                    raw = _b(item)
                    out[keccak(raw)] = raw
            lo = int(answer["through"]) + 1
        return out

    def _sealed_heads(self) -> dict[int, int]:
        """Per rollup, the last block that may be posted: the engine's head, capped by the last
        block the sequencer has sealed (journaled and signed). A block the builder has mined but
        not sealed yet may still be rewound (a dropped bundle) and must never reach L1."""
        heads = {c: int(e.call("eth_blockNumber"), 16) for c, e in self.engines.items()}
        if self.sequencer is not None:
            chains = self.sequencer.call("seq_status")["chains"]
            for chain_id in heads:
                heads[chain_id] = min(heads[chain_id], int(chains[str(chain_id)]["head"]))
        return heads

    def _sealed_headers(self, chain_id: int, numbers: Sequence[int]) -> dict[int, dict]:
        """The sequencer's signed headers of these blocks, by number (with the forced-queue
        items each processed); blocks it did not seal (e.g. the deployment's) have none."""
        if self.sequencer is None or not numbers:
            return {}
        headers = self.sequencer.batch([("seq_getBlockHeader", [chain_id, n]) for n in numbers])
        return {h["blockNumber"]: h for h in headers if h is not None}

    def _forced_through(self, state: InboxState, ranges: Sequence[SealedRange]) -> int:
        """`forced_through` for a batch of `ranges`: see `advance_forced_through`. The blocks
        that processed items at or after L1's `forced_through` come from the sequencer's journal
        (`seq_getForcedPlacements`), so a restarted batcher advances exactly as one that never
        stopped."""
        placements: list[tuple[int, int, tuple[int, ...]]] = []
        first = state.forced_through
        while self.sequencer is not None and state.forced_through < state.forced_count:
            page = self.sequencer.call("seq_getForcedPlacements", [first, FORCED_PAGE])
            placements += [(p["chainId"], p["blockNumber"], tuple(p["indexes"])) for p in page]
            if len(page) < FORCED_PAGE:
                break  # the last page
            first = max(page[-1]["indexes"]) + 1  # each index is processed by one block
        return advance_forced_through(state, ranges, placements)

    # --- sending ---

    def _request(self, batch: Batch) -> TxRequest:
        if batch.mode == "calldata":
            return TxRequest(
                to=self.inbox.inbox.address,
                data=self.inbox.post_calldata(batch.header, batch.payload),
            )
        blob = batch.sidecar or batch.blob
        assert blob is not None  # build_batch gives a blob batch both
        return TxRequest(
            to=self.inbox.inbox.address,
            data=self.inbox.post_blob_calldata(batch.header),
            blobs=(blob,),
        )

    def post(
        self, batch: Batch, timeout: float = 120.0, guard: Callable[[int], bool] | None = None
    ) -> Confirmed:
        """Send `batch` and wait for it; `guard(l1_head)` runs before the estimate and again
        after signing, right before the raw transaction goes out (TxManager.send): False drops
        it unsent (`NotSent`)."""
        request = self._request(batch)
        self._posted_tip = None  # until this one is confirmed
        sent = self.txmgr.send(request, guard=guard)
        sent_at = sent.head
        timings = dict(self.timings)
        ahead = self._build_ahead(batch)
        try:
            confirmed = self.txmgr.wait(sent, timeout)
        finally:
            prebuilt = None if ahead is None else ahead.result()
        if sent.head:
            self.latency.record(sent.head, confirmed.block_number, batch.mode == "blob")
            self.stats.send_margin = self.send_margin()
            self.stats.send_blocks_worst = self.latency.worst
        if confirmed.status != 1:
            reason = self._revert_reason(request, confirmed)
            self.stats.reverts += 1
            self.stats.last_revert = {
                "sequence": batch.header.sequence,
                "term": batch.header.term,
                "reason": reason,
                "tx": "0x" + confirmed.tx_hash.hex(),
                "l1_block": confirmed.block_number,
                "sent_at_l1_head": sent_at,
                "attempts": confirmed.attempts,
            }
            log.error("batch reverted on L1: %s", self.stats.last_revert)
            raise BatcherError(
                f"batch {batch.header.sequence} reverted on L1 (tx 0x{confirmed.tx_hash.hex()}): "
                f"{reason}"
            )
        s = self.stats
        s.batches += 1
        s.l2_txs += batch.tx_count
        s.payload_bytes += len(batch.payload)
        s.l1_gas += confirmed.gas_used
        s.l1_fee_wei += confirmed.fee_paid
        s.last = {
            "sequence": batch.header.sequence,
            "mode": batch.mode,
            "encoding": bc.describe(batch.payload),
            "bytes": len(batch.payload),
            "blocks": sum(len(r.blocks) for r in batch.ranges),
            "l2_txs": batch.tx_count,
            "l1_gas": confirmed.gas_used,
            "l1_block": confirmed.block_number,
            "timings": {k: round(v, 3) for k, v in timings.items()},
        }
        log.info("posted batch %s", s.last)
        self._posted_tip = (batch.header.sequence + 1, batch.header.hash())
        self._prebuilt = prebuilt  # used by the next round if L1 is then as predicted
        return confirmed

    # --- pipelining: the next batch is built while the last one waits for L1 ---

    def _build_ahead(self, batch: Batch) -> Future[_Prebuilt | None] | None:
        """When `batch` left sealed blocks out (its carrier was full: sustained load), start
        building the next batch in a helper thread, on the inbox state L1 will have once `batch`
        lands (its sequence, hash, rollup tips and `forced_through`); None otherwise."""
        self._prebuilt = None
        state, heads = self._built_from
        if not self.pipeline or state is None or not _cut_short(batch, heads):
            log.debug("no batch built ahead: the batch sent holds every sealed block")
            return None
        predicted = InboxState(
            next_sequence=batch.header.sequence + 1,
            prev_hash=batch.header.hash(),
            term=batch.header.term,
            forced_through=batch.header.forced_through,
            last_block={
                **state.last_block,
                **{r.chain_id: r.blocks[-1].number for r in batch.ranges},
            },
            forced_count=state.forced_count,
        )
        if self._ahead is None:
            self._ahead = ThreadPoolExecutor(1, thread_name_prefix="batcher-ahead")
        return self._ahead.submit(self._prebuild, predicted)

    def _prebuild(self, predicted: InboxState) -> _Prebuilt | None:
        try:
            heads = self._sealed_heads()
            timings: dict[str, float] = {}
            started = time.perf_counter()
            batch = self.next_batch(predicted, heads, timings)
            timings["build_s"] = time.perf_counter() - started
        except Exception:  # noqa: BLE001 - the next round builds it again in the main thread
            log.exception("building the next batch ahead failed; it is built in the next round")
            return None
        if batch is None or not _cut_short(batch, heads):
            # not full: the next round builds a fresh one with the newer blocks
            log.debug("no batch built ahead: the next one would not be full (%s)", heads)
            return None
        return _Prebuilt(predicted, batch, timings)

    def _take_prebuilt(self, state: InboxState) -> Batch | None:
        """The batch built ahead, if L1's state is the one it was built on (else dropped: a
        reorg, another poster, a new term or a new forced item; the round builds afresh)."""
        prebuilt, self._prebuilt = self._prebuilt, None
        if prebuilt is None:
            return None
        if prebuilt.state != state:
            self.stats.prebuilt_dropped += 1
            log.info("the batch built ahead was for another L1 state: built again")
            return None
        self.stats.prebuilt_used += 1
        self.timings = {**prebuilt.timings, "ahead": 1}
        return prebuilt.batch

    def _revert_reason(self, request: TxRequest, confirmed: Confirmed) -> str:
        call: dict[str, Any] = {
            "from": self.txmgr.address,
            "to": request.to,
            "data": "0x" + bytes(request.data).hex(),
        }
        if request.blobs:
            call["blobVersionedHashes"] = ["0x" + s.versioned_hash.hex() for s in request.sidecars]
        try:
            return self.inbox.revert_reason(call, confirmed.block_number)
        except Exception as exc:  # noqa: BLE001 - the reason is for the log; the revert stands
            return f"reason unknown ({exc})"

    def _term_allows(self, batch: Batch, head: int) -> bool:
        """The term check before the estimate and right before sending (`head`: L1's head as
        the tx manager just read it): the transaction lands in the batch's term only if that
        term is the current one and enough of it remains to cover the send itself
        (`send_margin`: `term_margin`, or more when sends have been measured slower, or for a
        first blob)."""
        margin = self.send_margin(batch.mode == "blob")
        if self.inbox.term_at(head) != batch.header.term or (
            self.inbox.blocks_left_in_term(head) < margin
        ):
            self.stats.rebuilt += 1
            log.info(
                "batch %d of term %d could land in a later term (L1 head %d, %d blocks needed "
                "for the send): built again later",
                batch.header.sequence,
                batch.header.term,
                head,
                margin,
            )
            return False
        return True

    def step(self, force: bool = False) -> Confirmed | None:
        """Post the next batch if this key may post now (and, with a policy, the policy says
        so or `force`); None when there is nothing to do now."""
        try:
            return self._step(force)
        finally:
            if self._on_round is not None:
                self._on_round(self)

    def _step(self, force: bool) -> Confirmed | None:
        round_started = time.perf_counter()
        if self.policy is not None and not force and self._idle_round():
            return None
        self._idle_state = None
        if not self.inbox.can_post(self.txmgr.address):
            log.debug("not the leader of this term: not posting")
            return None
        l1_head = self.inbox.w3.eth.block_number
        margin = self.send_margin()
        if self.inbox.blocks_left_in_term(l1_head) < margin:
            # A header carries its term: one included in the next term would be refused.
            log.debug("the term ends within %d L1 blocks: waiting for the next", margin)
            return None
        state = self.inbox.state(list(self.engines), l1_head)
        heads = self._sealed_heads()
        if self.policy is not None:
            backlog = self.backlog(state, heads, l1_head)
            self.stats.backlog_blocks = backlog.blocks
            self.stats.deadline_slack = (
                None if backlog.nearest_deadline is None else backlog.nearest_deadline - l1_head
            )
            decision = decide(self.policy, backlog)
            if decision.reason == "empty":
                self._idle_state, self._idle_full_at = state, self._clock()
            if not (decision.post or (force and backlog.blocks)):
                self.stats.waits[decision.reason] = self.stats.waits.get(decision.reason, 0) + 1
                return None
            reason = decision.reason if decision.post else "forced"
            self.stats.triggers[reason] = self.stats.triggers.get(reason, 0) + 1
        built = time.perf_counter()
        self._built_from = (state, heads)
        batch = self._take_prebuilt(state)
        if batch is None:
            batch = self.next_batch(state, heads)
            if batch is None:
                return None
            self.timings["build_s"] = time.perf_counter() - built
        self.timings["round_s"] = time.perf_counter() - round_started
        self._warn_overdue(state, batch, l1_head)
        if self._posted_tip != (state.next_sequence, state.prev_hash):
            # L1 is the truth for the nonce too: unless L1's inbox is exactly as this batcher's
            # last post left it, something else moved it (a reorg, another poster with this
            # key, a restart) and the nonce is read again. A send refused for its nonce (an
            # outside transaction from this key) makes the tx manager read it again too.
            self.txmgr.resync_nonce()
        try:
            # checked with the fee read's head before the estimate, and again once signed,
            # immediately before the raw transaction goes out
            return self.post(batch, guard=lambda head: self._term_allows(batch, head))
        except NotSent:
            return None

    def _warn_overdue(self, state: InboxState, batch: Batch, l1_head: int) -> None:
        """Log (once per item) a forced item that is overdue and that this batch does not reach
        yet: the batch is still sent (the inbox takes consumption over several batches), so the
        backlog drains towards it instead of stalling."""
        through = batch.header.forced_through
        if through < state.forced_count and through not in self._overdue_logged:
            deadline = self.inbox.forced_deadline(through)
            if deadline <= l1_head:  # lands at l1_head + 1 at the earliest
                self._overdue_logged.add(through)
                log.error(
                    "forced item %d (deadline L1 %d) is overdue; this batch reaches %s and the "
                    "next ones go on towards it",
                    through,
                    deadline,
                    {r.chain_id: r.blocks[-1].number for r in batch.ranges},
                )

    def run(self, stop: threading.Event, interval: float = 2.0) -> None:
        """Post until `stop` is set; errors are logged and retried on the next round."""
        while not stop.is_set():
            try:
                while not stop.is_set() and self.step() is not None:
                    pass
            except Exception:  # noqa: BLE001 - the loop must survive L1 faults
                log.exception("batcher round failed; retrying")
            stop.wait(interval)
