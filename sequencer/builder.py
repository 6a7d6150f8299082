"""Positions and blocks: the plan of each rollup's unsealed blocks, and the slot builder.

Owns two things. `ChainPlan` (pure) assigns each admitted transaction its position (block, index)
in the rollup's open block, never letting planned gas exceed the block gas limit (a transaction
that does not fit opens the next block), and bounds the base fee each planned block can have.
A block's plan only grows at its end, and a promised position never moves.
`Builder` (async, at the edge) turns the plan into blocks, one per rollup per slot, rollup A
first: it drops stray transactions from the engine's pool, sends the block's transactions in
promised order, mines with the slot's timestamp, checks that the mined block is exactly the plan
(and halts loudly otherwise), signs the block header and journals it. Bundle legs (from a
`BundleSource`) go after the promised transactions; if any leg fails, every engine is rolled back
to the block before the slot (`rewind`, anvil_rollback: no snapshot is kept, so none leaks) and
the slot is mined again without that bundle. A slot with bundle legs is marked in the journal
(`Journal.begin_bundle_slot`) before its first block is mined and unmarked once every block of it
is sealed and journaled; a restart that finds the mark rewinds the slot's blocks (see
`Sequencer._undo_rewind_marks`), so a crash between rollup A's block and rollup B's never lands a
bundle on one rollup alone.
It never admits or refuses a transaction, and never changes a promised position.

Relays (from a `RelayQueue`, `sequencer/relays.py`) go after a block's promised transactions
and before its bundle legs: rollup A's block of a slot is mined and its `MessageSent` logs read
before rollup B's block is built, so B carries the relays of what A sent in the same slot (and A
carries, in its next block, the relays of what B sent).

Forced transactions from the L1 SharedInbox queue (`sequencer/forced.py`, through
`ChainPlan.opener`) go first in each block the plan *opens*, so they never shift a promise.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sequencer.commitments import BlockHeaderMsg, Domain, Signer
from sequencer.engine import EngineFault
from sequencer.journal import Journal, PreconfRecord, SealedBlock, TxKind
from sequencer.mempool import next_base_fee
from sequencer.messages import MESSAGE_SENT_TOPIC
from sequencer.relays import RelayQueue, RelayTx

log = logging.getLogger("sequencer.builder")

SEND_CHUNK = 2000  # raw transactions per pipelined write

# The preloader waits this long after a wake-up so that one pipelined write carries what became
# durable meanwhile: at 1,000 single-transaction requests/s, sending each alone costs the service
# and the engine a round trip per transaction. Off the answer path; the slot sends what is left.
PRELOAD_GATHER_S = 0.01


class BuildError(RuntimeError):
    """The engine did not produce the planned block: the builder halts rather than break a
    promise silently."""


# --- the plan (pure) ---


@dataclass(frozen=True)
class PlannedTx:
    tx_hash: bytes
    raw: bytes
    sender: str
    gas: int


@dataclass
class PlannedBlock:
    number: int
    txs: list[PlannedTx] = field(default_factory=list)
    gas: int = 0  # sum of the gas limits of its transactions
    closed: bool = False


@dataclass(frozen=True)
class HeadInfo:
    """The last block mined on the engine (what the next block's base fee follows from)."""

    number: int
    block_hash: bytes
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int


@dataclass(frozen=True)
class Leg:
    """One signed transaction of a bundle, for one rollup."""

    chain_id: int
    tx_hash: bytes
    raw: bytes
    sender: str
    nonce: int
    gas: int
    max_cost: int  # wei


@dataclass
class Bundle:
    """Signed transactions on one or more rollups that land together in one slot, or not at all."""

    bundle_hash: bytes
    legs: tuple[Leg, ...]
    beneficiary: str
    deadline: int  # L1 block number
    status: str = "pending"  # pending | included | dropped
    reason: str = ""

    def legs_on(self, chain_id: int) -> list[Leg]:
        return [leg for leg in self.legs if leg.chain_id == chain_id]


class ChainPlan:
    """The unsealed blocks of one rollup, from the engine's head + 1 on."""

    def __init__(self, chain_id: int, head: HeadInfo) -> None:
        self.chain_id = chain_id
        self.head = head
        self.gas_limit = head.gas_limit
        self.blocks: dict[int, PlannedBlock] = {}
        # Called when a block opens, with (block number, gas room): the forced transactions that
        # go first in it (indices 0..), before any promised transaction (see sequencer/forced.py).
        self.opener: Callable[[int, int], list[PlannedTx]] | None = None
        # The gas the forced queue's next item needs at the start of the next block (0: none).
        # A transaction that would leave it no room goes to the block after, and the next block
        # opens for the forced queue alone (`target`): a sender of transactions with gas limits
        # near the block's cannot keep a forced item out of every block (and the leader liable).
        self.forced_demand: Callable[[], int] = lambda: 0

    # --- reading ---

    @property
    def last_number(self) -> int:
        return max(self.blocks, default=self.head.number)

    def open_block(self) -> PlannedBlock | None:
        last = self.blocks.get(self.last_number)
        return last if last is not None and not last.closed else None

    def target(self, gas: int) -> int:
        """The block a transaction with this gas limit would be placed in now."""
        block = self.open_block()
        if block is not None and block.gas + gas <= self.gas_limit:
            return block.number
        if gas + self.forced_demand() > self.gas_limit:
            return self.last_number + 2  # the next block opens for the forced queue alone
        return self.last_number + 1

    def base_fee_bound(self, number: int) -> int:
        """The most the base fee of planned block `number` can be (wei per gas).

        Exact for head + 1. Further out, each planned parent is charged its planned gas (the sum
        of its gas limits, at least what it will use); EIP-1559 is monotone in both inputs.
        """
        base_fee = next_base_fee(self.head.base_fee, self.head.gas_used, self.head.gas_limit)
        for parent in range(self.head.number + 1, number):
            block = self.blocks.get(parent)
            planned = self.gas_limit if block is None or not block.closed else block.gas
            base_fee = next_base_fee(base_fee, planned, self.gas_limit)
        return base_fee

    def pending_count(self) -> int:
        return sum(len(b.txs) for b in self.blocks.values())

    # --- changing ---

    def hook_forced(
        self, opener: Callable[[int, int], list[PlannedTx]], demand: Callable[[], int]
    ) -> None:
        """The forced queue puts its transactions first in each block that opens (`opener`,
        see the field) and keeps room for its next item (`demand`, see `forced_demand`)."""
        self.opener = opener
        self.forced_demand = demand

    def reset(self, head: HeadInfo) -> None:
        """Forget every planned block: the plan starts again after `head` (the blocks above it
        were abandoned for the ones L1 holds)."""
        self.blocks.clear()
        self.head = head
        self.gas_limit = head.gas_limit

    def _open(self, number: int, reserve: int = 0) -> PlannedBlock:
        """Open a block: the moment its plan starts. The opener's forced transactions go first,
        within the gas left after `reserve` (the transaction that opens the block)."""
        block = PlannedBlock(number)
        self.blocks[number] = block
        if self.opener is not None:
            for tx in self.opener(number, self.gas_limit - reserve):
                block.txs.append(tx)
                block.gas += tx.gas
        return block

    def place(self, tx: PlannedTx) -> tuple[int, int]:
        """Append a transaction at the end of the plan; returns its (block number, index)."""
        if tx.gas > self.gas_limit:
            raise ValueError("transaction gas above the block gas limit")
        number = self.target(tx.gas)
        block = self.blocks.get(number)
        if block is None:
            current = self.open_block()
            if current is not None:
                current.closed = True
            if number > self.last_number + 1:  # see `forced_demand`
                self._open(self.last_number + 1).closed = True
            block = self._open(number, reserve=tx.gas)
        block.txs.append(tx)
        block.gas += tx.gas
        return number, len(block.txs) - 1

    def restore(self, number: int, index: int, tx: PlannedTx) -> None:
        """Put a journaled transaction back at its promised position (on restart, in order)."""
        if number <= self.head.number:
            raise ValueError(f"block {number} is already mined")
        for earlier in self.blocks.values():
            if earlier.number < number:
                earlier.closed = True
        block = self.blocks.get(number)
        if block is None:  # journaled forced transactions are restored like promises
            block = self.blocks[number] = PlannedBlock(number)
        if index != len(block.txs):
            raise ValueError(f"journal gap: block {number} index {index} after {len(block.txs)}")
        block.txs.append(tx)
        block.gas += tx.gas

    def close_next(self) -> PlannedBlock:
        """Close the block after the head for building (empty if nothing was promised in it)."""
        number = self.head.number + 1
        block = self.blocks.get(number) or self._open(number)
        block.closed = True
        return block

    def sealed(self, head: HeadInfo) -> PlannedBlock:
        """The block after the head was mined as planned: it leaves the plan."""
        if head.number != self.head.number + 1:
            raise ValueError(f"sealed block {head.number} does not follow {self.head.number}")
        self.head = head
        self.gas_limit = head.gas_limit
        return self.blocks.pop(head.number, PlannedBlock(head.number, closed=True))


# --- the builder (async, talks to the engines) ---


class BundleSource(Protocol):
    """Where the builder gets the bundles of a slot, and reports what became of them."""

    async def select(self, blocks: dict[int, PlannedBlock]) -> list[Bundle]: ...

    async def settled(
        self,
        included: list[tuple[Bundle, list[tuple[int, int, int, bytes]]]],
        dropped: list[Bundle],
    ) -> None: ...

    def requeue(self, bundles: list[Bundle]) -> None:
        """The slot that selected `bundles` was undone (an engine fault): offer them again."""
        ...


class Engine(Protocol):
    """What the builder needs of a rollup engine's JSON-RPC client."""

    chain_id: int

    async def call(self, method: str, params: list[Any] | None = None) -> Any: ...

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]: ...

    async def send_in_order(self, raws: list[bytes]) -> list[dict[str, Any]]: ...


def head_from_block(block: dict[str, Any]) -> HeadInfo:
    return HeadInfo(
        number=int(block["number"], 16),
        block_hash=bytes.fromhex(block["hash"][2:]),
        timestamp=int(block["timestamp"], 16),
        base_fee=int(block.get("baseFeePerGas") or "0x0", 16),
        gas_used=int(block["gasUsed"], 16),
        gas_limit=int(block["gasLimit"], 16),
    )


@dataclass
class ChainRuntime:
    """One rollup as the builder drives it.

    The engine's pool is filled ahead of the slot: as promises of the next block (head + 1)
    become durable, the preloader sends them in promised order, so at the slot only the rest is
    sent before mining. `durable[n]` counts the durable leading transactions of planned block n;
    `loaded` how many of block `loaded_for` the pool holds; `lock` keeps preloader and builder
    from sending at the same time.
    """

    chain_id: int
    engine: Engine
    plan: ChainPlan
    durable: dict[int, int] = field(default_factory=dict)
    loaded_for: int | None = None
    loaded: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: list[tuple[int, int, asyncio.Future]] = field(default_factory=list)
    preload_failing: bool = False  # the preloader's current fault episode (logged once)

    def reset(self, head: HeadInfo) -> None:
        """The engine was rolled back or moved to `head` behind the plan's back (`leader.py`):
        forget the plan and what the pool was loaded with."""
        self.plan.reset(head)
        self.loaded_for, self.loaded = None, 0
        self.durable.clear()

    def mark_durable(self, number: int, count: int) -> None:
        if count > self.durable.get(number, 0):
            self.durable[number] = count
            if number == self.plan.head.number + 1:
                self.wake.set()
            if self.waiters:
                self.waiters = [w for w in self.waiters if not self._settled(*w)]

    def until_durable(self, number: int, count: int) -> asyncio.Future:
        """A future done once the first `count` transactions of planned block `number` are
        durable (as far as promises mark them: see `Builder._until_durable`)."""
        future = asyncio.get_running_loop().create_future()
        if not self._settled(number, count, future):
            self.waiters = [w for w in self.waiters if not w[2].done()]  # cancelled slots' waits
            self.waiters.append((number, count, future))
        return future

    def _settled(self, number: int, count: int, future: asyncio.Future) -> bool:
        if future.done():
            return True
        if self.durable.get(number, 0) >= count:
            future.set_result(None)
            return True
        return False


@dataclass(frozen=True)
class BlockResult:
    chain_id: int
    sealed: SealedBlock
    planned: PlannedBlock
    build_s: float


async def _send(runtime: ChainRuntime, number: int, txs: Sequence[PlannedTx]) -> None:
    for start in range(0, len(txs), SEND_CHUNK):
        chunk = txs[start : start + SEND_CHUNK]
        answers = await runtime.engine.send_in_order([tx.raw for tx in chunk])
        for tx, answer in zip(chunk, answers, strict=True):
            if answer.get("result") != "0x" + tx.tx_hash.hex() and "error" not in answer:
                raise EngineFault(f"chain {runtime.chain_id}: send answered {answer!r:.100}")
            if answer.get("result") != "0x" + tx.tx_hash.hex():
                raise BuildError(
                    f"chain {runtime.chain_id} block {number}: engine refused promised tx "
                    f"0x{tx.tx_hash.hex()}: {answer.get('error')}"
                )


async def _start_block(runtime: ChainRuntime, number: int) -> None:
    """Empty the engine's pool of anything else before the first tx of block `number` goes in."""
    await runtime.engine.call("anvil_dropAllTransactions")
    runtime.loaded_for, runtime.loaded = number, 0


async def preload(runtime: ChainRuntime) -> None:
    """Send the durable promises of the next block to the engine's pool as they come (forever)."""
    while True:
        await runtime.wake.wait()
        await asyncio.sleep(PRELOAD_GATHER_S)
        runtime.wake.clear()
        async with runtime.lock:
            number = runtime.plan.head.number + 1
            block = runtime.plan.blocks.get(number)
            if block is None:
                continue
            count = min(runtime.durable.get(number, 0), len(block.txs))
            if runtime.loaded_for != number and count == 0:
                continue  # nothing to send yet: the pool is emptied when there is (or at seal)
            try:
                if runtime.loaded_for != number:
                    await _start_block(runtime, number)
                if count > runtime.loaded:
                    await _send(runtime, number, block.txs[runtime.loaded : count])
                    runtime.loaded = count
                runtime.preload_failing = False
            except Exception as exc:  # noqa: BLE001 - the slot reloads the whole block
                runtime.loaded_for = None
                if not runtime.preload_failing:  # once per episode
                    log.warning(
                        "preload failed", extra={"chain": runtime.chain_id, "error": str(exc)}
                    )
                runtime.preload_failing = True


async def load_planned_block(runtime: ChainRuntime, block: PlannedBlock) -> None:
    """Make the engine's pool hold exactly the block's transactions, in promised order.

    Sends what the preloader has not sent yet, then checks the pool's size; if anything else
    reached the pool (or a preload failed), drops it all and sends the block again in order.
    Call with `runtime.lock` held and every promise of the block durable.
    """
    if runtime.loaded_for != block.number:
        if block.txs:
            await _start_block(runtime, block.number)
        else:  # an empty block (an idle slot): the pool check below is enough, one call less
            runtime.loaded_for, runtime.loaded = block.number, 0
    await _send(runtime, block.number, block.txs[runtime.loaded :])
    runtime.loaded = len(block.txs)
    status = await runtime.engine.call("txpool_status")
    try:
        pending, queued = int(status["pending"], 16), int(status["queued"], 16)
    except (TypeError, KeyError, ValueError):
        answered = f"{status!r:.100}"
        raise EngineFault(f"chain {runtime.chain_id}: txpool_status answered {answered}") from None
    if pending != len(block.txs) or queued != 0:
        log.warning(
            "stray transactions in the engine pool: reloading the block",
            extra={"chain": runtime.chain_id, "block": block.number, "pool": str(status)},
        )
        await _start_block(runtime, block.number)
        await _send(runtime, block.number, block.txs)
        runtime.loaded = len(block.txs)


async def seal_planned_block(
    runtime: ChainRuntime,
    block: PlannedBlock,
    timestamp: int,
    signer: Signer,
    domain: Domain,
    extra: Sequence[bytes] = (),
    journal: Journal | None = None,
) -> tuple[SealedBlock, HeadInfo]:
    """Mine the loaded pool with the slot's timestamp, check it is the plan (then `extra`, the
    relays sent after it), sign the header."""
    await check_head(runtime)
    await runtime.engine.call("evm_mine", [{"timestamp": timestamp}])
    want = [tx.tx_hash for tx in block.txs] + list(extra)
    return await verify_and_sign(runtime.engine, block.number, want, signer, domain, journal)


async def engine_head(engine: Engine) -> HeadInfo:
    """The engine's latest block; EngineFault for an answer that is not a block."""
    latest = await engine.call("eth_getBlockByNumber", ["latest", False])
    try:
        return head_from_block(latest)
    except (TypeError, KeyError, ValueError, AttributeError):
        answered = f"{latest!r:.100}"
        raise EngineFault(f"chain {engine.chain_id}: latest block answered {answered}") from None


async def check_head(runtime: ChainRuntime) -> None:
    """EngineFault unless the engine's latest block is the plan's head: a block is never mined
    on anything else (an engine restarted fresh, or one that lost blocks, is rebuilt first:
    `Builder.recover`)."""
    latest = await runtime.engine.call("eth_getBlockByNumber", ["latest", False])
    head = runtime.plan.head
    if (
        not isinstance(latest, dict)
        or latest.get("number") != hex(head.number)
        or latest.get("hash") != "0x" + head.block_hash.hex()
    ):
        number = latest.get("number") if isinstance(latest, dict) else None
        raise EngineFault(
            f"chain {runtime.chain_id}: the engine's head is {number}, not the plan's block "
            f"{head.number}: was the engine restarted?"
        )


async def rewind(engine: Engine, parent: HeadInfo) -> bool:
    """Roll the engine back to block `parent` (anvil_rollback) and empty its pool; True if any
    block was undone. anvil's base-fee tracker would follow the undone blocks, so the next
    block's base fee is set to follow `parent` (the same block as on a fresh engine, where
    block 1 keeps the genesis base fee)."""
    latest = int(await engine.call("eth_blockNumber"), 16)
    if latest > parent.number:
        await engine.call("anvil_rollback", [latest - parent.number])
        base_fee = (
            parent.base_fee
            if parent.number == 0
            else next_base_fee(parent.base_fee, parent.gas_used, parent.gas_limit)
        )
        await engine.call("anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])
    head = await engine.call("eth_getBlockByNumber", ["latest", False])
    if head is None or bytes.fromhex(head["hash"][2:]) != parent.block_hash:
        raise BuildError(
            f"chain {engine.chain_id}: rollback to block {parent.number} left "
            f"{None if head is None else int(head['number'], 16)} as the head"
        )
    await engine.call("anvil_dropAllTransactions")
    return latest > parent.number


async def verify_and_sign(
    engine: Engine,
    number: int,
    want: list[bytes],
    signer: Signer,
    domain: Domain,
    journal: Journal | None = None,
) -> tuple[SealedBlock, HeadInfo]:
    """Check that mined block `number` holds exactly `want`, in order; sign its header.

    With the `journal`: never sign a header for a (chain, block) the journal already holds a
    different signed header for, whatever the engine says (that would be equivocation, which
    the Slasher punishes on its own): BuildError instead (the service halts)."""
    chain_id = engine.chain_id
    mined = await engine.call("eth_getBlockByNumber", [hex(number), False])
    if mined is None:  # not mined, or a wrong answer: the slot's recovery finds out which
        raise EngineFault(f"chain {chain_id}: block {number} was not mined")
    try:
        got = [bytes.fromhex(h[2:]) for h in mined["transactions"]]
        head = head_from_block(mined)
        parent_hash = bytes.fromhex(mined["parentHash"][2:])
    except (TypeError, KeyError, ValueError, AttributeError):
        answered = f"{mined!r:.100}"
        raise EngineFault(f"chain {chain_id}: block {number} answered {answered}") from None
    if got != want:
        raise BuildError(
            f"chain {chain_id} block {number} differs from its plan: "
            f"{len(got)} txs mined, {len(want)} planned; first difference at index "
            f"{_first_difference(got, want)}"
        )
    if journal is not None:
        signed = journal.signed_hash(chain_id, head.number)
        if signed is not None and signed != head.block_hash:
            raise BuildError(
                f"chain {chain_id} block {number}: the engine's block 0x{head.block_hash.hex()} "
                f"is not the one already signed (0x{signed.hex()}); refusing to sign a second "
                "header (give it a fresh engine: the service rebuilds it, docs/operations.md)"
            )
    signature = signer.sign(
        domain, BlockHeaderMsg(chain_id, head.number, head.block_hash, parent_hash)
    )
    sealed = SealedBlock(
        chain_id=chain_id,
        number=head.number,
        block_hash=head.block_hash,
        parent_hash=parent_hash,
        timestamp=head.timestamp,
        tx_hashes=tuple(want),
        statuses=(),  # read from the receipts after sealing (`block_statuses`), off the slot path
        signature=signature,
    )
    return sealed, head


async def block_statuses(engine: Engine, number: int, want: Sequence[bytes]) -> tuple[int, ...]:
    """Each transaction's execution status (1 success, 0 reverted) in mined block `number`.

    Read from the block's call traces (`trace_block`: a transaction failed iff its root call
    has an error), which anvil serves at about 4 us per transaction; its receipts cost it about
    120 us per transaction of a 1,400-transaction block (each receipt walks the block), as much
    as taking the transaction in. The receipts are the fallback when the traces are not there.
    """
    if not want:
        return ()
    try:
        statuses = statuses_from_traces(await engine.call("trace_block", [hex(number)]), want)
    except RuntimeError:  # the engine does not serve traces (EngineError)
        statuses = None
    if statuses is not None:
        return statuses
    receipts = await engine.call("eth_getBlockReceipts", [hex(number)])
    if [bytes.fromhex(r["transactionHash"][2:]) for r in receipts] != list(want):
        raise BuildError(f"chain {engine.chain_id} block {number}: receipts do not match the plan")
    return tuple(int(r["status"], 16) for r in receipts)


def statuses_from_traces(traces: Any, want: Sequence[bytes]) -> tuple[int, ...] | None:
    """Statuses from the root call trace of each transaction, if there is exactly one per
    transaction of `want`, at its position; None otherwise (then the receipts decide)."""
    if not isinstance(traces, list):
        return None
    roots: dict[int, tuple[str, bool]] = {}
    for trace in traces:
        if trace.get("traceAddress") != [] or trace.get("transactionPosition") is None:
            continue
        position = trace["transactionPosition"]
        if position in roots:
            return None
        roots[position] = (trace.get("transactionHash") or "", "error" in trace)
    if len(roots) != len(want):
        return None
    statuses = []
    for position, tx_hash in enumerate(want):
        root = roots.get(position)
        if root is None or root[0] != "0x" + tx_hash.hex():
            return None
        statuses.append(0 if root[1] else 1)
    return tuple(statuses)


class SlotHooks(Protocol):
    """What the builder tells an observer of a bundle slot as it goes (the crash tests' fault
    injection, `sequencer/faults.py`); `NO_HOOKS` in production."""

    def bundle_block_mined(self, chain_id: int, number: int, left: int) -> None:
        """A block of the slot is mined with its legs; `left` rollups' blocks are still to mine."""

    def bundle_block_sealed(self, chain_id: int, number: int, sealed: int, left: int) -> None:
        """A block of the slot (every one mined) is sealed and journaled: `sealed` so far,
        `left` still to seal."""


class _NoHooks:
    def bundle_block_mined(self, chain_id: int, number: int, left: int) -> None:
        return None

    def bundle_block_sealed(self, chain_id: int, number: int, sealed: int, left: int) -> None:
        return None


NO_HOOKS: SlotHooks = _NoHooks()


def _first_difference(got: list[bytes], want: list[bytes]) -> int:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return i
    return min(len(got), len(want))


class Builder:
    """One block per rollup per slot, in the order of `chains` (rollup A first)."""

    def __init__(
        self,
        chains: Sequence[ChainRuntime],
        journal: Journal,
        signer: Signer,
        domain: Domain,
        slot_ms: int,
        on_sealed: Callable[[ChainRuntime, SealedBlock, HeadInfo, float], Awaitable[None] | None],
        bundles: BundleSource | None = None,
        relays: RelayQueue | None = None,
        engine_retry_s: float = 30.0,
        on_engine_fault: Callable[[], None] | None = None,
        rebuild: Callable[[ChainRuntime], Awaitable[int]] | None = None,
        hooks: SlotHooks = NO_HOOKS,
    ) -> None:
        self.chains = list(chains)
        self.hooks = hooks
        self.engine_retry_s = engine_retry_s
        self.on_engine_fault = on_engine_fault  # called once per slot retried
        self.rebuild = rebuild  # replays what an engine lost (Sequencer.rebuild_engine)
        self.engine_faults = 0  # slots retried after an engine fault (since start)
        self._recovering = False  # a slot met an engine fault: recover before the next one
        self._taken: dict[int, list[RelayTx]] = {}  # relays journaled for an unsealed block
        # a bundle slot being mined: its bundles and the relay queue before it
        self._bundle_slot: tuple[list[Bundle], Any] | None = None
        self.bundles = bundles
        self.relays = relays
        self.journal = journal
        self.signer = signer
        self.domain = domain
        self.slot_s = slot_ms / 1000
        self.on_sealed = on_sealed
        self.halted: str | None = None
        self.slots = 0
        self.relays_sealed = 0  # relays mined in sealed blocks (since start)

    async def build_slot(self) -> None:
        """One block per rollup. The engines' pools are completed in parallel; the blocks are
        then mined, checked, signed and journaled in rollup order (A's block is sealed before B's
        is mined, so B's block can later carry the relays of what A's block sent)."""
        started = time.perf_counter()
        for runtime in self.chains:
            await runtime.lock.acquire()
        try:
            blocks = [runtime.plan.close_next() for runtime in self.chains]
            pairs = zip(self.chains, blocks, strict=True)
            await self._until_durable([rt.until_durable(b.number, len(b.txs)) for rt, b in pairs])
            durable = time.perf_counter()
            await asyncio.gather(
                *(load_planned_block(rt, b) for rt, b in zip(self.chains, blocks, strict=True))
            )
            loaded = time.perf_counter()
            by_chain = {rt.chain_id: b for rt, b in zip(self.chains, blocks, strict=True)}
            bundles = await self.bundles.select(by_chain) if self.bundles is not None else []
            if bundles:
                await self._seal_with_bundles(blocks, bundles, started)
            else:
                for runtime, block in zip(self.chains, blocks, strict=True):
                    relays = await self._send_relays(runtime, block, 0)
                    timestamp = max(int(time.time()), runtime.plan.head.timestamp)
                    sealed, head = await seal_planned_block(
                        runtime,
                        block,
                        timestamp,
                        self.signer,
                        self.domain,
                        [r.tx_hash for r in relays],
                        self.journal,
                    )
                    if sealed.tx_hashes:  # a block without transactions sent no message
                        await self._collect_messages(runtime, sealed.block_hash)
                    await self._record(runtime, sealed, head, started)
                    self.relays_sealed += len(relays)
        finally:
            for runtime in self.chains:
                runtime.lock.release()
                runtime.wake.set()  # the next block's durable promises can go to the pool now
        self.slots += 1
        if any(block.txs for block in blocks):
            log.info(
                "slot built",
                extra={
                    "event": "slot",
                    "slot": self.slots,
                    "blocks": ",".join(
                        f"{rt.chain_id}:{b.number}"
                        for rt, b in zip(self.chains, blocks, strict=True)
                    ),
                    "txs": ",".join(str(len(b.txs)) for b in blocks),
                    "durable_ms": round((durable - started) * 1000, 1),
                    "load_ms": round((loaded - durable) * 1000, 1),
                    "seal_ms": round((time.perf_counter() - loaded) * 1000, 1),
                },
            )

    async def _until_durable(self, waits: list[asyncio.Future]) -> None:
        """Every transaction of the slot's blocks is durable first.

        Promises mark their block's durable prefix as their commit group lands, so a block
        waits only for its own promises, not for the journal's whole queue (under a burst that
        holds promises of later blocks too). A block whose last transactions are not promises
        (forced transactions, or a prefix the marks never reach) is covered by a journal
        barrier, whichever comes first: the journal commits in order."""
        if all(w.done() for w in waits):
            return
        promised = asyncio.gather(*waits)
        barrier = self.journal.barrier_nowait()
        done, _ = await asyncio.wait({promised, barrier}, return_when=asyncio.FIRST_COMPLETED)
        if barrier in done:
            promised.cancel()
            barrier.result()  # a failed journal write halts the builder

    async def _record(
        self,
        runtime: ChainRuntime,
        sealed: SealedBlock,
        head: HeadInfo,
        started: float,
        durable: bool = False,
    ) -> None:
        """The block is sealed: journal it and move the plan on.

        The record is queued, not awaited (unless `durable`): the journal commits in queue
        order, so whatever the service writes next (statuses, the next slot's records) lands
        after it, and a block mined but not journaled when the service stops is sealed again at
        restart if it is the plan (`Sequencer._resume_chain`). Under a burst the journal's queue
        holds thousands of promises; waiting for it here kept the engines idle. A failed write
        refuses every later one, which halts the builder at its next journal write. A bundle
        slot waits (`durable`): its restart keeps exactly the blocks the journal sealed and rolls
        the rest back."""
        if durable:
            await self.journal.seal(sealed)
        else:
            self.journal.seal_nowait(sealed)
        runtime.plan.sealed(head)
        self._taken.pop(runtime.chain_id, None)
        runtime.loaded_for, runtime.loaded = None, 0
        for number in [n for n in runtime.durable if n <= head.number]:
            del runtime.durable[number]
        result = self.on_sealed(runtime, sealed, head, time.perf_counter() - started)
        if asyncio.iscoroutine(result):
            await result

    async def _send_relays(
        self, runtime: ChainRuntime, block: PlannedBlock, legs_gas: int
    ) -> list[RelayTx]:
        """Journal and send the relays waiting for this block, after its promised transactions
        (and before `legs_gas` of bundle legs); the engine must accept them all."""
        if self.relays is None or not self.relays.waiting_for(runtime.chain_id):
            return []
        account = [self.relays.address, hex(block.number - 1)]
        answers = await runtime.engine.batch(
            [("eth_getTransactionCount", account), ("eth_getBalance", account)]
        )
        if any("error" in a for a in answers):
            raise BuildError(f"chain {runtime.chain_id}: the relayer's account: {answers}")
        relays = self.relays.take(
            runtime.chain_id,
            int(answers[0]["result"], 16),
            runtime.plan.gas_limit - block.gas - legs_gas,
            runtime.plan.base_fee_bound(block.number),
            balance=int(answers[1]["result"], 16),
            block_gas_limit=runtime.plan.gas_limit,
        )
        if not relays:
            return []
        first = len(block.txs)
        await self.journal.append(
            [
                PreconfRecord.unpromised(
                    runtime.chain_id, block.number, first + i, relay, TxKind.RELAY
                )
                for i, relay in enumerate(relays)
            ]
        )
        self._taken[runtime.chain_id] = relays  # given back if the block is never mined
        answers = await runtime.engine.send_in_order([relay.raw for relay in relays])
        for relay, answer in zip(relays, answers, strict=True):
            if answer.get("result") != "0x" + relay.tx_hash.hex():
                raise BuildError(
                    f"chain {runtime.chain_id} block {block.number}: engine refused the relay "
                    f"of message {relay.message.hash.hex()}: {answer.get('error')}"
                )
        log.info(
            "relays sent",
            extra={"chain": runtime.chain_id, "block": block.number, "relays": len(relays)},
        )
        return relays

    async def _collect_messages(self, runtime: ChainRuntime, block_hash: bytes) -> None:
        """Queue the cross-rollup messages that a just-mined block sent (for the next relays)."""
        if self.relays is None or runtime.chain_id not in self.relays.messengers:
            return
        logs = await runtime.engine.call(
            "eth_getLogs",
            [
                {
                    "blockHash": "0x" + block_hash.hex(),
                    "address": self.relays.messengers[runtime.chain_id],
                    "topics": ["0x" + MESSAGE_SENT_TOPIC.hex()],
                }
            ],
        )
        self.relays.collect(runtime.chain_id, [{"logs": logs, "status": "0x1"}])

    async def _seal_with_bundles(
        self, blocks: list[PlannedBlock], bundles: list[Bundle], started: float
    ) -> None:
        """Mine the slot's blocks in rollup order, each with its promised transactions, then the
        relays of the messages sent by the blocks mined before it, then the bundles' legs; if
        any leg is refused or reverts, rewind every engine, drop that bundle whole and mine the
        slot again. The slot is marked in the journal from before its first block is mined until
        all its blocks are sealed (see the module docstring)."""
        assert self.bundles is not None
        dropped: list[Bundle] = []
        await self.journal.begin_bundle_slot(
            {rt.chain_id: b.number for rt, b in zip(self.chains, blocks, strict=True)}
        )
        relay_state = self.relays.checkpoint() if self.relays is not None else None
        self._bundle_slot = (list(bundles), relay_state)
        while True:
            failed: list[Bundle] = []
            mined: list[tuple[ChainRuntime, PlannedBlock, list[RelayTx], list[Leg]]] = []
            for runtime, block in zip(self.chains, blocks, strict=True):
                legs = [leg for b in bundles for leg in b.legs_on(runtime.chain_id)]
                relays = await self._send_relays(runtime, block, sum(leg.gas for leg in legs))
                first = len(block.txs) + len(relays)
                await self.journal.append(
                    [
                        PreconfRecord.unpromised(
                            runtime.chain_id, block.number, first + i, leg, TxKind.BUNDLE_LEG
                        )
                        for i, leg in enumerate(legs)
                    ]
                )
                answers = await runtime.engine.send_in_order([leg.raw for leg in legs])
                for leg, answer in zip(legs, answers, strict=True):
                    if answer.get("result") != "0x" + leg.tx_hash.hex():
                        failed += [b for b in bundles if leg in b.legs and b not in failed]
                if failed:
                    break
                timestamp = max(int(time.time()), runtime.plan.head.timestamp)
                await runtime.engine.call("evm_mine", [{"timestamp": timestamp}])
                for leg in legs:
                    receipt = await runtime.engine.call(
                        "eth_getTransactionReceipt", ["0x" + leg.tx_hash.hex()]
                    )
                    ok = receipt is not None and receipt.get("blockNumber") == hex(block.number)
                    if not ok or int(receipt["status"], 16) != 1:
                        failed += [b for b in bundles if leg in b.legs and b not in failed]
                if failed:
                    break
                head = await runtime.engine.call("eth_getBlockByNumber", [hex(block.number), False])
                if head is not None:
                    await self._collect_messages(runtime, bytes.fromhex(head["hash"][2:]))
                mined.append((runtime, block, relays, legs))
                self.hooks.bundle_block_mined(
                    runtime.chain_id, block.number, left=len(blocks) - len(mined)
                )
            if not failed:
                break
            for bundle in failed:  # its status changes only once the slot is settled
                bundle.reason = "a leg failed or was refused"
            dropped += failed
            bundles = [b for b in bundles if b not in failed]
            if self.relays is not None and relay_state is not None:
                self.relays.restore(relay_state)
            for runtime, block in zip(self.chains, blocks, strict=True):
                await rewind(runtime.engine, runtime.plan.head)
                await self.journal.drop_slot_txs(runtime.chain_id, block.number)
                runtime.loaded_for = None
                await load_planned_block(runtime, block)
            self._bundle_slot = (list(bundles), relay_state)
        # Every block of the slot is mined: from here the slot is only sealed, never undone
        # (an engine fault is retried in place; one that lasts halts, and the restart seals).
        self._bundle_slot = None
        included: list[tuple[Bundle, list[tuple[int, int, int, bytes]]]] = []
        positions: dict[bytes, tuple[int, int, int, bytes]] = {}
        for sealed_count, (runtime, block, relays, legs) in enumerate(mined, start=1):
            want = (
                [tx.tx_hash for tx in block.txs]
                + [r.tx_hash for r in relays]
                + [leg.tx_hash for leg in legs]
            )
            sealed, head = await self._retried(
                functools.partial(
                    verify_and_sign,
                    runtime.engine,
                    block.number,
                    want,
                    self.signer,
                    self.domain,
                    self.journal,
                )
            )
            first = len(block.txs) + len(relays)
            for i, leg in enumerate(legs):
                positions[leg.tx_hash] = (runtime.chain_id, block.number, first + i, leg.tx_hash)
            await self._record(runtime, sealed, head, started, durable=True)
            self.relays_sealed += len(relays)
            self.hooks.bundle_block_sealed(
                runtime.chain_id, block.number, sealed_count, left=len(mined) - sealed_count
            )
        await self.journal.end_bundle_slot()
        for bundle in bundles:
            included.append((bundle, [positions[leg.tx_hash] for leg in bundle.legs]))
        await self.bundles.settled(included, dropped)

    async def _retried(self, step: Callable[[], Awaitable[Any]]) -> Any:
        """Run an idempotent step (engine reads), retrying engine faults for up to
        `engine_retry_s`; past that the fault is persistent: BuildError (halt)."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return await step()
            except EngineFault as exc:
                if time.monotonic() - started > self.engine_retry_s:
                    raise BuildError(f"engine fault while sealing a bundle slot: {exc}") from exc
                attempt += 1
                await asyncio.sleep(min(0.05 * 2 ** min(attempt, 5), 1.0))

    async def recover(self) -> None:
        """After an engine fault in a slot: bring each rollup back to a state its plan
        explains, so the next slot is built as if nothing happened.

        - A bundle slot still being mined is undone: every engine is rolled back to its plan's
          head, the legs and relays journaled for the slot are forgotten, the relay queue is
          restored and the bundles are offered again (no block of it was sealed).
        - A block the engine mined but the slot did not seal (the fault cut the answer to
          `evm_mine` or a read after it) is checked against what the journal holds for it (its
          promises, forced transactions and relays, in order) and sealed; anything else mined
          is a BuildError (halt).
        - An engine below the plan (a fresh engine after the old one died) is rebuilt from L1
          and the journal (`rebuild`), every block with the header already signed for it.
        - A block that was not mined keeps its plan: the pool is reloaded from scratch at the
          next slot (dropping whatever a cut-off send left there, so nothing is placed twice),
          and relays journaled for it go back to the front of the relay queue.
        """
        for runtime in self.chains:
            await runtime.lock.acquire()
        try:
            await self.journal.barrier()
            for runtime in self.chains:
                number = (await engine_head(runtime.engine)).number
                if number < runtime.plan.head.number and self.rebuild is not None:
                    # a fresh engine (the old one died): replay what the journal sealed
                    await self.rebuild(runtime)
            if self._bundle_slot is not None:
                bundles, relay_state = self._bundle_slot
                for runtime in self.chains:
                    await rewind(runtime.engine, runtime.plan.head)
                    await self.journal.drop_slot_txs(runtime.chain_id, runtime.plan.head.number + 1)
                    runtime.loaded_for = None
                if self.relays is not None and relay_state is not None:
                    self.relays.restore(relay_state)
                self._taken.clear()
                await self.journal.end_bundle_slot()
                self._bundle_slot = None
                assert self.bundles is not None
                self.bundles.requeue(bundles)
                log.warning(
                    "bundle slot undone after an engine fault", extra={"bundles": len(bundles)}
                )
            for runtime in self.chains:
                await self._recover_chain(runtime)
            self._recovering = False
        finally:
            for runtime in self.chains:
                runtime.lock.release()
                runtime.wake.set()

    async def _recover_chain(self, runtime: ChainRuntime) -> None:
        head = runtime.plan.head
        latest = await engine_head(runtime.engine)
        if latest.number == head.number + 1:
            want = self.journal.block_tx_hashes(runtime.chain_id, latest.number)
            sealed, mined = await verify_and_sign(
                runtime.engine, latest.number, want, self.signer, self.domain, self.journal
            )
            relays = len(self._taken.get(runtime.chain_id, ()))
            await self._collect_messages(runtime, sealed.block_hash)
            await self._record(runtime, sealed, mined, time.perf_counter())
            self.relays_sealed += relays
            log.info(
                "sealed a block mined before an engine fault",
                extra={"chain": runtime.chain_id, "block": latest.number},
            )
        elif latest.number == head.number and latest.block_hash == head.block_hash:
            taken = self._taken.pop(runtime.chain_id, [])
            if taken:
                await self.journal.drop_slot_txs(runtime.chain_id, head.number + 1)
                assert self.relays is not None
                queue = self.relays.waiting.get(runtime.chain_id, [])
                self.relays.waiting[runtime.chain_id] = [r.message for r in taken] + queue
                self.relays.relayed -= len(taken)
        else:
            raise BuildError(
                f"chain {runtime.chain_id}: after an engine fault the engine is at block "
                f"{latest.number}, the plan at {head.number}: the engine lost or gained blocks"
            )
        runtime.loaded_for, runtime.loaded = None, 0

    async def run(self, gate: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Build a slot every `slot_ms`, on the wall clock; a late slot starts at once.

        `gate` (the leader schedule, `sequencer/leader.py`): awaited before each slot; False
        skips it (the gate did its own waiting) and restarts the slot clock."""
        next_at = time.monotonic()
        loaders = [asyncio.create_task(preload(rt)) for rt in self.chains]
        fault_since: float | None = None  # the current episode of engine faults
        attempt = 0  # slots retried in this episode
        try:
            while True:
                if gate is not None and not await gate():
                    next_at = time.monotonic()
                    continue
                try:
                    if self._recovering:
                        await self.recover()
                    await self.build_slot()
                except EngineFault as exc:
                    now = time.monotonic()
                    if fault_since is None:
                        fault_since = now
                        log.warning(
                            "engine fault: the slot is recovered and built again",
                            extra={"event": "engine_fault", "error": str(exc)},
                        )
                    if now - fault_since > self.engine_retry_s:
                        raise EngineFault(
                            f"engine fault for over {self.engine_retry_s:g} s: {exc}"
                        ) from exc
                    self._recovering = True
                    self.engine_faults += 1
                    attempt += 1
                    if self.on_engine_fault is not None:
                        self.on_engine_fault()
                    await asyncio.sleep(min(0.05 * 2 ** min(attempt, 5), 1.0))
                    next_at = time.monotonic()
                    continue
                if fault_since is not None:
                    log.info("engine fault over", extra={"event": "engine_recovered"})
                    fault_since, attempt = None, 0
                next_at += self.slot_s
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    next_at = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.halted = f"{type(exc).__name__}: {exc}"
            log.critical("builder halted", extra={"event": "halt", "reason": self.halted})
            raise
        finally:
            for task in loaders:
                task.cancel()
