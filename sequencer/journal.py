"""The journal: every promised transaction and every sealed block, durable in SQLite (WAL mode).

Owns the database file. A pre-confirmation is written and fsync'd (`synchronous=FULL`: each WAL
commit is fsync'd) before the service answers; concurrent requests share one commit (a writer
thread drains its queue into one transaction: group commit, then wakes the event loop once for
the whole group, which runs each write's callback and reports the group's stage times). On
restart `load()` gives back every placed transaction at its position (each row of `txs` says
what it is: `TxKind`), the last sealed block of each rollup, the bundles received and not yet
settled (`bundle_requests`), and the rewind marks (`rewind_marks`, each with its `MarkReason`): a
bundle slot being mined (`begin_bundle_slot`), which the restart rewinds so that a bundle never
lands on one rollup alone, or blocks being abandoned (`abandon_after`). Every header ever signed
stays in `signed_headers` (never deleted): a second, different header for a (chain, block) is
refused (`_insert_block`, and the signer's check `signed_hash`), whatever the engine says.
A journal written by an older version is migrated in place when opened (`_migrate`, one
transaction: a crash during it leaves the old journal, migrated again at the next open).
It never decides positions and never talks to a chain; one writer thread does every write.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from eth_utils import keccak

log = logging.getLogger("sequencer.journal")

# Runs on the event loop once a queued write's group commit is durable (None) or failed.
Callback = Callable[[BaseException | None], None]
# Per commit group, on the loop: (s waited for the writer by its oldest write: the commit in
# flight and the thread's wake-up; s of the commit itself, BEGIN to fsync'd COMMIT; s from the
# commit to the loop running its callbacks).
StageObserver = Callable[[float, float, float], None]


class TxKind(StrEnum):
    """What a row of `txs` is (its `kind` column)."""

    PROMISED = "promised"  # a pre-confirmation: signed promise of its position, with a deadline
    BUNDLE_LEG = "bundle_leg"  # a bundle's leg: its promise is the bundle receipt (`bundles`)
    RELAY = "relay"  # a cross-rollup message relayed by the builder (`relays.py`): no promise
    FORCED = "forced"  # from the L1 forced queue: its place is the queue's (`forced` table)


# Placed by the builder in a slot with no promise of their own: forgotten when their block is not
# kept (rewound, or never mined: `Journal.drop_slot_txs`).
SLOT_KINDS = frozenset({TxKind.BUNDLE_LEG, TxKind.RELAY})


class MarkReason(StrEnum):
    """Why a rollup is marked for rollback in `rewind_marks` (the restart rolls the engine back
    below the marked block unless it is sealed: `Sequencer._undo_rewind_marks`)."""

    BUNDLE_SLOT = "bundle_slot"  # a bundle slot being mined (`begin_bundle_slot`)
    ABANDON = "abandon"  # blocks L1 never got, being abandoned (`abandon_after`)
    # migrated from a journal of schema 0, whose one table held both: handled like both
    LEGACY = "bundle_slot_or_abandon"


# Schema versions (`PRAGMA user_version`): 0 = before versions (`txs.leg` 0 promised / 1 bundle
# leg or relay / 2 forced; the `bundle_slot` table also marking abandons); 1 = `txs.kind`,
# `rewind_marks` with a reason.
SCHEMA_VERSION = 1

_TXS_TABLE = """
CREATE TABLE IF NOT EXISTS txs (
    tx_hash BLOB PRIMARY KEY,
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    raw BLOB NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    max_cost TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    signature BLOB NOT NULL,
    received_ns INTEGER NOT NULL,
    status INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('promised', 'bundle_leg', 'relay', 'forced'))
)
"""
_TXS_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS txs_position ON txs (chain_id, block_number, idx)"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
{_TXS_TABLE};
{_TXS_INDEX};
CREATE TABLE IF NOT EXISTS bundles (
    bundle_hash BLOB PRIMARY KEY,
    legs_hash BLOB NOT NULL,
    legs TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS forced (
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    queue_indexes TEXT NOT NULL,
    skipped TEXT NOT NULL,
    last_index INTEGER NOT NULL,
    PRIMARY KEY (chain_id, block_number)
);
CREATE TABLE IF NOT EXISTS bundle_requests (
    bundle_hash BLOB PRIMARY KEY,
    legs TEXT NOT NULL,
    beneficiary TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rewind_marks (
    chain_id INTEGER PRIMARY KEY,
    block_number INTEGER NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('bundle_slot', 'abandon', 'bundle_slot_or_abandon'))
);
CREATE TABLE IF NOT EXISTS signed_headers (
    chain_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    block_hash BLOB NOT NULL,
    PRIMARY KEY (chain_id, number)
);
CREATE TABLE IF NOT EXISTS blocks (
    chain_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    block_hash BLOB NOT NULL,
    parent_hash BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    tx_count INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (chain_id, number)
);
"""


class JournalError(RuntimeError):
    """The journal cannot be written, or contradicts what the service was started with."""


class UnpromisedTx(Protocol):
    """What `PreconfRecord.unpromised` reads of a transaction (a bundle leg, a relay, a forced
    transaction)."""

    @property
    def tx_hash(self) -> bytes: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def sender(self) -> str: ...
    @property
    def nonce(self) -> int: ...
    @property
    def max_cost(self) -> int: ...


@dataclass(frozen=True)
class PreconfRecord:
    """One promised transaction: where it will stand, and the signed promise."""

    chain_id: int
    block_number: int
    index: int
    tx_hash: bytes
    raw: bytes
    sender: str
    nonce: int
    max_cost: int  # wei
    deadline: int  # L1 block number
    signature: bytes
    received_ns: int
    status: int | None = None  # set from the receipts once its block is sealed (STATUS_*)
    kind: TxKind = TxKind.PROMISED  # what it is; only PROMISED carries a promise of its own

    @property
    def promised(self) -> bool:
        """A pre-confirmation (not a bundle leg, relay or forced transaction)."""
        return self.kind == TxKind.PROMISED

    @property
    def forced(self) -> bool:
        return self.kind == TxKind.FORCED

    @property
    def slot_tx(self) -> bool:
        """A bundle leg or a relay: forgotten when its block is not kept (`SLOT_KINDS`)."""
        return self.kind in SLOT_KINDS

    @classmethod
    def unpromised(
        cls, chain_id: int, number: int, index: int, tx: UnpromisedTx, kind: TxKind
    ) -> PreconfRecord:
        """A transaction of a block with no promise of its own: a bundle leg or a relay (a block
        that is rewound or never mined forgets it, `drop_slot_txs`), or a forced transaction
        from the L1 queue. `tx` has tx_hash, raw, sender, nonce and max_cost."""
        if kind == TxKind.PROMISED:
            raise ValueError("a promised transaction carries its promise: build it in full")
        return cls(
            chain_id=chain_id,
            block_number=number,
            index=index,
            tx_hash=tx.tx_hash,
            raw=tx.raw,
            sender=tx.sender,
            nonce=tx.nonce,
            max_cost=tx.max_cost,
            deadline=0,
            signature=b"",
            received_ns=time.time_ns(),
            kind=kind,
        )


@dataclass(frozen=True)
class SealedBlock:
    """A block the builder mined, verified and signed."""

    chain_id: int
    number: int
    block_hash: bytes
    parent_hash: bytes
    timestamp: int
    tx_hashes: tuple[bytes, ...]
    statuses: tuple[int, ...]  # empty until the receipts are read (see Journal.set_statuses)
    signature: bytes


@dataclass(frozen=True)
class BlockSummary:
    """What the batcher's posting policy needs of a sealed block (`Journal.block_summaries`)."""

    number: int
    block_hash: bytes
    tx_count: int
    size: int  # bytes of its raw transactions
    forced: int  # L1 forced-queue items it processed
    deadline: int | None  # the earliest L1 deadline of the promises it carries (None: none)


@dataclass(frozen=True)
class BundleReceiptRecord:
    """A signed bundle receipt: every leg landed, with success, at these positions."""

    bundle_hash: bytes
    legs_hash: bytes
    legs: tuple[tuple[int, int, int, bytes], ...]  # (chain id, block number, index, tx hash)
    beneficiary: str
    deadline: int  # L1 block number
    signature: bytes


@dataclass(frozen=True)
class BundleRequest:
    """A bundle as `seq_sendBundle` received it, and what became of it."""

    bundle_hash: bytes
    legs: tuple[tuple[int, bytes], ...]  # (chain id, signed raw transaction), in order
    beneficiary: str
    deadline: int  # L1 block number
    status: str = "pending"  # pending | included | dropped
    reason: str = ""


@dataclass(frozen=True)
class RewindMark:
    """A rollup whose engine a restart rolls back below `block_number` unless that block is
    sealed in the journal (see `MarkReason`)."""

    chain_id: int
    block_number: int
    reason: MarkReason


@dataclass
class JournalState:
    """What a restart resumes from."""

    pending: list[PreconfRecord] = field(default_factory=list)  # unsealed, in position order
    last_sealed: dict[int, int] = field(default_factory=dict)  # chain id -> block number
    meta: dict[str, str] = field(default_factory=dict)
    # The rewind marks left when the service stopped (at most one set: a bundle slot or an
    # abandon), by chain id.
    rewind_marks: dict[int, RewindMark] = field(default_factory=dict)


_STOP = object()


class Journal:
    """SQLite journal with a group-committing writer thread. Create, `load()`, `start()`, use,
    `close()`."""

    def __init__(
        self, path: Path, synchronous: str = "FULL", on_commit: StageObserver | None = None
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect()
        self._migrate()
        # every header ever signed (journals from before the table: their sealed blocks)
        self._db.execute(
            "INSERT OR IGNORE INTO signed_headers (chain_id, number, block_hash)"
            " SELECT chain_id, number, block_hash FROM blocks"
        )
        # Commits never checkpoint (that would put a database fsync inside a request's commit);
        # a checkpointer thread copies the WAL into the database in the background instead.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._reader = self._connect()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None
        self.commits = 0  # number of WAL commits (for metrics)
        self.on_commit = on_commit

    def _migrate(self) -> None:
        """Create the tables, or bring a journal written by an older version to `SCHEMA_VERSION`,
        in one transaction (a crash inside it leaves the old journal whole)."""
        db = self._db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.path} has schema {version}, newer than this version's "
                f"({SCHEMA_VERSION}): run the version that wrote it"
            )
        db.executescript(SCHEMA)  # new tables; existing ones are kept as they are
        if version == SCHEMA_VERSION:
            return
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        db.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in db.execute("PRAGMA table_info(txs)")}
            if "leg" in columns:
                _migrate_txs_from_leg(db)
            if "bundle_slot" in tables:
                db.execute(
                    "INSERT INTO rewind_marks (chain_id, block_number, reason)"
                    " SELECT chain_id, block_number, ? FROM bundle_slot",
                    (MarkReason.LEGACY.value,),
                )
                db.execute("DROP TABLE bundle_slot")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        return db

    # --- startup (synchronous, before the writer runs) ---

    def check_meta(self, expected: dict[str, str]) -> None:
        """Record the signer and chains on first use; refuse a journal written for others."""
        stored = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        for key, value in expected.items():
            if key in stored and stored[key] != value:
                raise JournalError(
                    f"journal {self.path} was written with {key}={stored[key]}, "
                    f"not {value}: use another journal path"
                )
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", list(expected.items())
        )
        self._db.execute("COMMIT")

    def load(self) -> JournalState:
        state = JournalState()
        state.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        rows = self._db.execute(
            "SELECT chain_id, block_number, idx, tx_hash, raw, sender, nonce, max_cost, deadline,"
            " signature, received_ns, status, kind FROM txs t WHERE NOT EXISTS"
            " (SELECT 1 FROM blocks b WHERE b.chain_id = t.chain_id AND b.number = t.block_number)"
            " ORDER BY chain_id, block_number, idx"
        ).fetchall()
        state.pending = [_record(row) for row in rows]
        for chain_id, number in self._db.execute(
            "SELECT chain_id, MAX(number) FROM blocks GROUP BY chain_id"
        ):
            state.last_sealed[chain_id] = number
        state.rewind_marks = {
            chain_id: RewindMark(chain_id, number, MarkReason(reason))
            for chain_id, number, reason in self._db.execute(
                "SELECT chain_id, block_number, reason FROM rewind_marks"
            )
        }
        return state

    # --- the writer ---

    def start(self) -> None:
        self._thread = threading.Thread(target=self._writer, name="journal-writer", daemon=True)
        self._thread.start()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="journal-checkpoint", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self, interval_s: float = 1.0) -> None:
        """PASSIVE checkpoints: never block the writer; the WAL stays bounded."""
        db = self._connect()
        try:
            while not self._stopping.wait(interval_s):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def close(self) -> None:
        self._stopping.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
            self._checkpointer = None
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
            self._reader.close()

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            items = [item]
            stop = False
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                items.append(nxt)
            error: BaseException | None = None
            began = time.perf_counter()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for op, payload, _, _, _ in items:
                    op(self._db, payload)
                self._db.execute("COMMIT")
                self.commits += 1
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                error = exc
                self._failed = exc
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            # One wake-up of each waiting loop per commit group, not one per waiter: each is a
            # write to the loop's wake-up fd and a turn of the loop, and the GIL taken for each.
            stamps = (items[0][4], began, time.perf_counter())
            by_loop: dict[asyncio.AbstractEventLoop, list[Callback]] = {}
            for _, _, done, loop, _ in items:
                by_loop.setdefault(loop, []).append(done)
            for loop, callbacks in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(self._wake, callbacks, error, stamps)
            if stop:
                return

    def _wake(self, callbacks: list[Callback], error: BaseException | None, stamps: tuple) -> None:
        """On the loop: a commit group is done; run its callbacks, report its stage times."""
        queued, began, committed = stamps
        if self.on_commit is not None:
            with contextlib.suppress(Exception):
                self.on_commit(began - queued, committed - began, time.perf_counter() - committed)
        _run_callbacks(callbacks, error)

    def submit_nowait(
        self, op: Callable[[sqlite3.Connection, Any], None], payload: Any, done: Callback
    ) -> None:
        """Queue a write; `done(error)` runs on the calling loop once its group commit is
        durable (error None) or failed. Call from the event loop."""
        if self._failed is not None:
            raise JournalError(f"journal write failed earlier: {self._failed}")
        if self._thread is None:
            raise JournalError("journal writer not started")
        self._queue.put((op, payload, done, asyncio.get_running_loop(), time.perf_counter()))

    async def _submit(self, op: Callable[[sqlite3.Connection, Any], None], payload: Any) -> None:
        future = asyncio.get_running_loop().create_future()
        self.submit_nowait(op, payload, functools.partial(_settle, future))
        await future

    def _queued(
        self, op: Callable[[sqlite3.Connection, Any], None], payload: Any
    ) -> asyncio.Future[None]:
        """Queue a write nobody has to await: the future says when it is durable. Its failure
        is also `_failed`, which refuses every later write (the service halts at the next)."""
        future = asyncio.get_running_loop().create_future()
        self.submit_nowait(op, payload, functools.partial(_settle, future))
        future.add_done_callback(_retrieve)
        return future

    def append_nowait(self, records: Sequence[PreconfRecord], done: Callback) -> None:
        """Queue promised transactions for the journal; `done(error)` runs on this loop after
        their fsync'd commit (error None), in one loop turn with the rest of the commit group."""
        self.submit_nowait(_insert_txs, records, done)

    async def append(self, records: Sequence[PreconfRecord]) -> None:
        """Durably store promised transactions (returns after the fsync'd commit)."""
        await self._submit(_insert_txs, records)

    async def seal(self, block: SealedBlock) -> None:
        """Durably store a sealed block and the status of each of its transactions."""
        await self._submit(_insert_block, block)

    def seal_nowait(self, block: SealedBlock) -> asyncio.Future:
        """Queue a sealed block for the journal (writes commit in the order they are queued);
        the future is done once it is durable."""
        return self._queued(_insert_block, block)

    async def set_statuses(self, hashes: Sequence[bytes], statuses: Sequence[int]) -> None:
        """Durably store the execution status of sealed transactions."""
        await self._submit(_update_statuses, list(zip(statuses, hashes, strict=True)))

    def unsettled_blocks(self) -> list[tuple[int, int, list[bytes]]]:
        """Sealed blocks holding transactions of unknown status: (chain, number, hashes)."""
        rows = self._reader.execute(
            "SELECT t.chain_id, t.block_number, t.tx_hash FROM txs t JOIN blocks b"
            " ON b.chain_id = t.chain_id AND b.number = t.block_number"
            " WHERE t.status IS NULL ORDER BY t.chain_id, t.block_number, t.idx"
        ).fetchall()
        out: dict[tuple[int, int], list[bytes]] = {}
        for chain_id, number, tx_hash in rows:
            out.setdefault((chain_id, number), []).append(bytes(tx_hash))
        return [(c, n, hashes) for (c, n), hashes in out.items()]

    async def drop_slot_txs(self, chain_id: int, number: int) -> None:
        """Forget the bundle legs and relays (`SLOT_KINDS`) placed in a block that was not kept
        (reverted, or never mined)."""
        await self._submit(_delete_slot_txs, (chain_id, number))

    async def abandon_after(self, chain_id: int, number: int, rewind_engine: bool) -> None:
        """Forget every promise, sealed block and forced record of `chain_id` above block
        `number`: blocks L1 never got, abandoned once another sequencer leads (`leader.py`).

        `rewind_engine`: the engine still holds such blocks. In the same commit, the rollup gets
        a rewind mark (`MarkReason.ABANDON`, block `number + 1`, now unsealed), so a restart
        before the engine is rolled back rolls it back (`Sequencer._undo_rewind_marks`) instead
        of finding blocks the journal no longer knows; `end_abandon` clears the mark."""
        await self._submit(_delete_after, (chain_id, number, rewind_engine))

    async def end_abandon(self) -> None:
        """The engine is rolled back below the abandoned blocks: clear the rewind mark."""
        await self._submit(_mark_rewind, ({}, MarkReason.ABANDON))

    async def begin_bundle_slot(self, blocks: dict[int, int]) -> None:
        """Durably mark (`MarkReason.BUNDLE_SLOT`) a slot whose blocks (chain id -> number) are
        about to be mined with bundle legs: until `end_bundle_slot`, a restart must not keep one
        of them alone."""
        await self._submit(_mark_rewind, (dict(blocks), MarkReason.BUNDLE_SLOT))

    async def end_bundle_slot(self) -> None:
        """Every block of the marked slot is sealed and journaled (or rewound): unmark it."""
        await self._submit(_mark_rewind, ({}, MarkReason.BUNDLE_SLOT))

    async def clear_rewind_marks(self) -> None:
        """The restart has handled the rewind marks it found (`JournalState.rewind_marks`)."""
        await self._submit(_mark_rewind, ({}, MarkReason.LEGACY))

    async def store_bundle_request(self, request: BundleRequest) -> None:
        """Durably store a bundle received (kept, `pending`, until it is settled)."""
        await self._submit(_insert_bundle_request, request)

    async def settle_bundle_requests(self, settled: Sequence[tuple[bytes, str, str]]) -> None:
        """Durably record (bundle hash, status, reason) of settled bundles."""
        await self._submit(_settle_bundle_requests, list(settled))

    def bundle_requests(self, status: str | None = None) -> list[BundleRequest]:
        """The bundles received, in arrival order (only those with `status` if given)."""
        query = (
            "SELECT bundle_hash, legs, beneficiary, deadline, status, reason FROM bundle_requests"
        )
        args: tuple = ()
        if status is not None:
            query, args = query + " WHERE status = ?", (status,)
        return [
            _bundle_request(row) for row in self._reader.execute(query + " ORDER BY rowid", args)
        ]

    def bundle_request(self, bundle_hash: bytes) -> BundleRequest | None:
        row = self._reader.execute(
            "SELECT bundle_hash, legs, beneficiary, deadline, status, reason FROM bundle_requests"
            " WHERE bundle_hash = ?",
            (bundle_hash,),
        ).fetchone()
        return None if row is None else _bundle_request(row)

    def sealed_txs_from(self, sender: str) -> list[tuple[int, bytes]]:
        """(chain id, raw) of the transactions from `sender` in sealed blocks, in block order."""
        rows = self._reader.execute(
            "SELECT t.chain_id, t.raw FROM txs t JOIN blocks b"
            " ON b.chain_id = t.chain_id AND b.number = t.block_number"
            " WHERE t.sender = ? ORDER BY t.chain_id, t.block_number, t.idx",
            (sender,),
        ).fetchall()
        return [(chain_id, bytes(raw)) for chain_id, raw in rows]

    async def store_bundle(self, receipt: BundleReceiptRecord) -> None:
        await self._submit(_insert_bundle, receipt)

    def bundle(self, bundle_hash: bytes) -> BundleReceiptRecord | None:
        row = self._reader.execute(
            "SELECT bundle_hash, legs_hash, legs, beneficiary, deadline, signature FROM bundles"
            " WHERE bundle_hash = ?",
            (bundle_hash,),
        ).fetchone()
        if row is None:
            return None
        legs = tuple(
            (int(c), int(b), int(i), bytes.fromhex(h))
            for c, b, i, h in (leg.split(":") for leg in row[2].split(","))
        )
        return BundleReceiptRecord(
            bytes(row[0]), bytes(row[1]), legs, row[3], row[4], bytes(row[5])
        )

    def record_forced_nowait(
        self,
        chain_id: int,
        number: int,
        records: Sequence[PreconfRecord],
        queue_indexes: Sequence[int],
        skipped: Sequence[int],
    ) -> asyncio.Future:
        """Queue (without waiting) the forced transactions placed at the start of block `number`
        and the L1 queue indexes processed there; call from the event loop. Anything journaled
        after this call commits with it or later, so a promise behind them is never durable
        before them."""
        payload = (chain_id, number, list(records), list(queue_indexes), list(skipped))
        return self._queued(_insert_forced, payload)

    def forced_for_block(
        self, chain_id: int, number: int
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The L1 forced-queue indexes processed at the start of a block (in queue order) and the
        offsets, among them, of the items skipped (refused: bad nonce, funds, chain...)."""
        row = self._reader.execute(
            "SELECT queue_indexes, skipped FROM forced WHERE chain_id = ? AND block_number = ?",
            (chain_id, number),
        ).fetchone()
        if row is None:
            return (), ()
        return _ints(row[0]), _ints(row[1])

    def forced_placed_from(
        self, first_index: int, limit: int = -1
    ) -> list[tuple[int, int, tuple[int, ...]]]:
        """The blocks that processed an L1 forced-queue index >= `first_index`, as (chain id,
        block number, queue indexes), in queue order of their last index; the first `limit`
        of them (-1: all). A queue index is processed by one block, so the next page starts
        after the last index of this one's last block."""
        rows = self._reader.execute(
            "SELECT chain_id, block_number, queue_indexes FROM forced WHERE last_index >= ?"
            " ORDER BY last_index LIMIT ?",
            (first_index, limit),
        ).fetchall()
        return [(int(c), int(n), _ints(q)) for c, n, q in rows]

    def block_summaries(self, chain_id: int, first: int, last: int) -> list[BlockSummary]:
        """Sealed blocks first..last of a rollup, for the batcher's posting policy: per block its
        transaction count, raw bytes, forced-queue items processed, and the earliest deadline
        (L1 block) of the promises it carries (pre-confirmations, and the bundle receipts with a
        leg in it); None when it carries none."""
        blocks = self._reader.execute(
            "SELECT number, tx_count, block_hash FROM blocks WHERE chain_id = ?"
            " AND number BETWEEN ? AND ? ORDER BY number",
            (chain_id, first, last),
        ).fetchall()
        txs = {
            n: (size, deadline)
            for n, size, deadline in self._reader.execute(
                "SELECT block_number, SUM(LENGTH(raw)), MIN(CASE WHEN deadline > 0 THEN deadline"
                " END) FROM txs WHERE chain_id = ? AND block_number BETWEEN ? AND ?"
                " GROUP BY block_number",
                (chain_id, first, last),
            )
        }
        forced = {
            n: len(_ints(q))
            for n, q in self._reader.execute(
                "SELECT block_number, queue_indexes FROM forced WHERE chain_id = ?"
                " AND block_number BETWEEN ? AND ?",
                (chain_id, first, last),
            )
        }
        bundle_deadlines: dict[int, int] = {}
        prefix = f"{chain_id}:"
        for deadline, legs in self._reader.execute(
            "SELECT deadline, legs FROM bundles WHERE legs LIKE ?", (f"%{prefix}%",)
        ):
            for leg in legs.split(","):
                c, b, _, _ = leg.split(":")
                if int(c) == chain_id and first <= int(b) <= last:
                    n = int(b)
                    bundle_deadlines[n] = min(deadline, bundle_deadlines.get(n, deadline))
        out: list[BlockSummary] = []
        for number, tx_count, block_hash in blocks:
            size, deadline = txs.get(number, (0, None))
            if number in bundle_deadlines:
                deadline = min(d for d in (deadline, bundle_deadlines[number]) if d is not None)
            out.append(
                BlockSummary(
                    number,
                    bytes(block_hash),
                    tx_count,
                    int(size or 0),
                    forced.get(number, 0),
                    deadline,
                )
            )
        return out

    def forced_next_index(self, chain_id: int) -> int:
        """The L1 queue index after the last one processed for this rollup (0 if none)."""
        row = self._reader.execute(
            "SELECT MAX(last_index) FROM forced WHERE chain_id = ?", (chain_id,)
        ).fetchone()
        return 0 if row is None or row[0] is None else row[0] + 1

    async def barrier(self) -> None:
        """Returns once everything submitted before it is durable."""
        await self._submit(_noop, None)

    def barrier_nowait(self) -> asyncio.Future:
        """A future done once everything submitted before it is durable."""
        return self._queued(_noop, None)

    # --- reads (any thread; WAL readers never block the writer) ---

    def preconf(self, tx_hash: bytes) -> PreconfRecord | None:
        row = self._reader.execute(
            "SELECT chain_id, block_number, idx, tx_hash, raw, sender, nonce, max_cost, deadline,"
            " signature, received_ns, status, kind FROM txs WHERE tx_hash = ?",
            (tx_hash,),
        ).fetchone()
        return _record(row) if row else None

    def block(self, chain_id: int, number: int) -> SealedBlock | None:
        row = self._reader.execute(
            "SELECT block_hash, parent_hash, timestamp, signature FROM blocks"
            " WHERE chain_id = ? AND number = ?",
            (chain_id, number),
        ).fetchone()
        if row is None:
            return None
        txs = self._reader.execute(
            "SELECT tx_hash, status FROM txs WHERE chain_id = ? AND block_number = ? ORDER BY idx",
            (chain_id, number),
        ).fetchall()
        return SealedBlock(
            chain_id,
            number,
            row[0],
            row[1],
            row[2],
            tuple(t[0] for t in txs),
            tuple(t[1] for t in txs),
            row[3],
        )

    def recent_hashes(self, keep_blocks: int) -> list[tuple[int, int, bytes]]:
        """(chain id, block number, tx hash) of the transactions of unsealed blocks and of the
        last `keep_blocks` sealed blocks of each rollup, in block order."""
        rows = self._reader.execute(
            "SELECT t.chain_id, t.block_number, t.tx_hash FROM txs t WHERE t.block_number >"
            " (SELECT COALESCE(MAX(b.number), -1) FROM blocks b WHERE b.chain_id = t.chain_id) - ?"
            " ORDER BY t.chain_id, t.block_number, t.idx",
            (keep_blocks,),
        ).fetchall()
        return [(chain_id, number, bytes(tx_hash)) for chain_id, number, tx_hash in rows]

    def signed_hash(self, chain_id: int, number: int) -> bytes | None:
        """The hash of the header signed for (chain, block), if any ever was: kept even when
        the block is abandoned (`abandon_after`), so no second header is ever signed for it."""
        row = self._reader.execute(
            "SELECT block_hash FROM signed_headers WHERE chain_id = ? AND number = ?",
            (chain_id, number),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def last_sealed(self, chain_id: int) -> int | None:
        row = self._reader.execute(
            "SELECT MAX(number) FROM blocks WHERE chain_id = ?", (chain_id,)
        ).fetchone()
        return None if row is None else row[0]

    def block_raws(self, chain_id: int, number: int) -> list[bytes]:
        """The raw transactions journaled for block `number`, in position order."""
        rows = self._reader.execute(
            "SELECT raw FROM txs WHERE chain_id = ? AND block_number = ? ORDER BY idx",
            (chain_id, number),
        ).fetchall()
        return [bytes(row[0]) for row in rows]

    def block_tx_hashes(self, chain_id: int, number: int) -> list[bytes]:
        """The transactions journaled for block `number` (promised, forced, relays and legs),
        in position order: what the block must hold once mined."""
        rows = self._reader.execute(
            "SELECT tx_hash FROM txs WHERE chain_id = ? AND block_number = ? ORDER BY idx",
            (chain_id, number),
        ).fetchall()
        return [bytes(row[0]) for row in rows]

    def deadlines_after(self, chain_id: int, number: int) -> dict[int, int]:
        """Per block of `chain_id` above `number`: the nearest pre-confirmation deadline signed
        for it."""
        return dict(
            self._reader.execute(
                "SELECT block_number, MIN(deadline) FROM txs WHERE chain_id = ? AND"
                " block_number > ? AND kind = 'promised' AND deadline > 0 GROUP BY block_number",
                (chain_id, number),
            ).fetchall()
        )

    def all_preconfs(self) -> list[PreconfRecord]:
        rows = self._reader.execute(
            "SELECT chain_id, block_number, idx, tx_hash, raw, sender, nonce, max_cost, deadline,"
            " signature, received_ns, status, kind FROM txs ORDER BY chain_id, block_number, idx"
        ).fetchall()
        return [_record(row) for row in rows]

    def raws_in_range(
        self, chain_id: int, first: int, last: int, max_bytes: int
    ) -> tuple[list[tuple[int, list[bytes]]], int]:
        """The raw transactions journaled for blocks first..last of a rollup, per block in
        position order (blocks without any left out), for the batcher's payload; and the last
        block the answer covers: `last`, or an earlier block once `max_bytes` of raw bytes is
        reached (the caller continues after it). On its own read connection, so that the
        service can run it in a worker thread, off the event loop."""
        out: list[tuple[int, list[bytes]]] = []
        total = 0
        with contextlib.closing(self._connect()) as db:
            for number, raw in db.execute(
                "SELECT block_number, raw FROM txs WHERE chain_id = ?"
                " AND block_number BETWEEN ? AND ? ORDER BY block_number, idx",
                (chain_id, first, last),
            ):
                if not out or out[-1][0] != number:
                    if total >= max_bytes:
                        return out, out[-1][0]
                    out.append((number, []))
                out[-1][1].append(bytes(raw))
                total += len(raw)
        return out, last


def _run_callbacks(callbacks: list[Callback], error: BaseException | None) -> None:
    for callback in callbacks:
        try:
            callback(error)
        except Exception:  # noqa: BLE001 - one waiter's failure must not strand the others
            log.exception("journal callback failed", extra={"event": "journal_callback"})


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(JournalError(f"journal write failed: {error}"))


def _migrate_txs_from_leg(db: sqlite3.Connection) -> None:
    """Schema 0 -> 1, inside the caller's transaction: `txs.leg` (0 promised, 1 bundle leg or
    relay, 2 forced) becomes `txs.kind`. A row of leg 1 is a bundle leg when a received bundle
    (`bundle_requests`, kept for good) holds its transaction, else a relay. Any other leg value
    fails the migration (the journal stays as it was)."""
    db.execute("DROP INDEX IF EXISTS txs_position")
    db.execute("ALTER TABLE txs RENAME TO txs_v0")
    db.execute(_TXS_TABLE)
    db.execute(_TXS_INDEX)
    columns = (
        "tx_hash, chain_id, block_number, idx, raw, sender, nonce, max_cost, deadline, signature,"
        " received_ns, status"
    )
    db.execute(
        f"INSERT INTO txs ({columns}, kind) SELECT {columns}, CASE leg WHEN 0 THEN 'promised'"
        " WHEN 1 THEN 'relay' WHEN 2 THEN 'forced' END FROM txs_v0"
    )
    leg_hashes = [
        (keccak(bytes.fromhex(leg.split(":")[1])),)
        for (legs,) in db.execute("SELECT legs FROM bundle_requests").fetchall()
        for leg in legs.split(",")
    ]
    db.executemany(
        "UPDATE txs SET kind = 'bundle_leg' WHERE tx_hash = ? AND kind = 'relay'", leg_hashes
    )
    db.execute("DROP TABLE txs_v0")


def _record(row: tuple) -> PreconfRecord:
    return PreconfRecord(
        chain_id=row[0],
        block_number=row[1],
        index=row[2],
        tx_hash=bytes(row[3]),
        raw=bytes(row[4]),
        sender=row[5],
        nonce=row[6],
        max_cost=int(row[7]),
        deadline=row[8],
        signature=bytes(row[9]),
        received_ns=row[10],
        status=row[11],
        kind=TxKind(row[12]),
    )


def _insert_txs(db: sqlite3.Connection, records: Sequence[PreconfRecord]) -> None:
    db.executemany(
        "INSERT INTO txs (tx_hash, chain_id, block_number, idx, raw, sender, nonce, max_cost,"
        " deadline, signature, received_ns, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.tx_hash,
                r.chain_id,
                r.block_number,
                r.index,
                r.raw,
                r.sender,
                r.nonce,
                str(r.max_cost),
                r.deadline,
                r.signature,
                r.received_ns,
                r.kind.value,
            )
            for r in records
        ],
    )


def _insert_block(db: sqlite3.Connection, block: SealedBlock) -> None:
    signed = db.execute(
        "SELECT block_hash FROM signed_headers WHERE chain_id = ? AND number = ?",
        (block.chain_id, block.number),
    ).fetchone()
    if signed is not None and bytes(signed[0]) != block.block_hash:
        raise JournalError(
            f"chain {block.chain_id} block {block.number}: a different header "
            f"(0x{bytes(signed[0]).hex()}) was signed before; refusing a second one"
        )
    db.execute(
        "INSERT OR IGNORE INTO signed_headers (chain_id, number, block_hash) VALUES (?, ?, ?)",
        (block.chain_id, block.number, block.block_hash),
    )
    db.execute(
        "INSERT INTO blocks (chain_id, number, block_hash, parent_hash, timestamp, tx_count,"
        " signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            block.chain_id,
            block.number,
            block.block_hash,
            block.parent_hash,
            block.timestamp,
            len(block.tx_hashes),
            block.signature,
        ),
    )
    if block.statuses:
        _update_statuses(db, list(zip(block.statuses, block.tx_hashes, strict=True)))


def _update_statuses(db: sqlite3.Connection, pairs: list[tuple[int, bytes]]) -> None:
    db.executemany("UPDATE txs SET status = ? WHERE tx_hash = ?", pairs)


def _delete_slot_txs(db: sqlite3.Connection, where: tuple[int, int]) -> None:
    db.execute(
        "DELETE FROM txs WHERE kind IN ('bundle_leg', 'relay') AND chain_id = ? AND"
        " block_number = ?",
        where,
    )


def _delete_after(db: sqlite3.Connection, payload: tuple[int, int, bool]) -> None:
    chain_id, number, rewind_engine = payload
    for table, column in (
        ("txs", "block_number"),
        ("blocks", "number"),
        ("forced", "block_number"),
    ):
        db.execute(f"DELETE FROM {table} WHERE chain_id = ? AND {column} > ?", (chain_id, number))
    if rewind_engine:
        _mark_rewind(db, ({chain_id: number + 1}, MarkReason.ABANDON))


def _insert_bundle_request(db: sqlite3.Connection, r: BundleRequest) -> None:
    legs = ",".join(f"{chain_id}:{raw.hex()}" for chain_id, raw in r.legs)
    db.execute(
        "INSERT OR IGNORE INTO bundle_requests (bundle_hash, legs, beneficiary, deadline, status,"
        " reason) VALUES (?, ?, ?, ?, ?, ?)",
        (r.bundle_hash, legs, r.beneficiary, r.deadline, r.status, r.reason),
    )


def _settle_bundle_requests(db: sqlite3.Connection, settled: list[tuple[bytes, str, str]]) -> None:
    db.executemany(
        "UPDATE bundle_requests SET status = ?, reason = ? WHERE bundle_hash = ?",
        [(status, reason, bundle_hash) for bundle_hash, status, reason in settled],
    )


def _bundle_request(row: tuple) -> BundleRequest:
    legs = tuple(
        (int(chain_id), bytes.fromhex(raw))
        for chain_id, raw in (leg.split(":") for leg in row[1].split(","))
    )
    return BundleRequest(bytes(row[0]), legs, row[2], row[3], row[4], row[5])


def _mark_rewind(db: sqlite3.Connection, payload: tuple[dict[int, int], MarkReason]) -> None:
    """Replace the rewind marks (at most one set at a time) by `blocks` (none: clear them)."""
    blocks, reason = payload
    db.execute("DELETE FROM rewind_marks")
    db.executemany(
        "INSERT INTO rewind_marks (chain_id, block_number, reason) VALUES (?, ?, ?)",
        [(chain_id, number, reason.value) for chain_id, number in blocks.items()],
    )


def _insert_bundle(db: sqlite3.Connection, r: BundleReceiptRecord) -> None:
    legs = ",".join(f"{c}:{b}:{i}:{h.hex()}" for c, b, i, h in r.legs)
    db.execute(
        "INSERT INTO bundles (bundle_hash, legs_hash, legs, beneficiary, deadline, signature)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (r.bundle_hash, r.legs_hash, legs, r.beneficiary, r.deadline, r.signature),
    )


def _retrieve(future: asyncio.Future) -> None:
    """A write nobody awaits: its failure is already `_failed`, which halts later writes."""
    if not future.cancelled():
        future.exception()


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x)


def _insert_forced(db: sqlite3.Connection, payload: tuple) -> None:
    chain_id, number, records, queue_indexes, skipped = payload
    _insert_txs(db, records)
    db.execute(
        "INSERT INTO forced (chain_id, block_number, queue_indexes, skipped, last_index)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            chain_id,
            number,
            ",".join(map(str, queue_indexes)),
            ",".join(map(str, skipped)),
            max(queue_indexes),
        ),
    )


def _noop(db: sqlite3.Connection, payload: None) -> None:
    return None
