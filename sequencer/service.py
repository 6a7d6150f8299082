"""The sequencer: wires admission (mempool -> plan -> journal -> signed promise) and the builder.

Owns the in-memory state of a running service: per rollup its engine client, plan and sender
ledger; the promises made; the L1 head that deadlines count from. Admission runs in micro-batches
(everything that arrived in one event-loop turn): ordered by the policy, checked, placed, signed,
then journaled in one group commit before any answer leaves. On start it resumes from the journal:
it rolls back a bundle slot the crash left half mined (`_undo_rewind_marks`), seals blocks the
engine mined before a crash only if they match the plan exactly, takes back the pending bundles
and rebuilds the relay queue from the sealed blocks (`_resume_relays`). The `BundleBook` holds
bundles (journaled) until a slot can take them and signs their receipts.
It never serves HTTP (that is `rpc`) and never decides validity rules itself (that is `judge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import aiohttp
import rlp
import seqcore
from eth_utils import to_checksum_address

from sequencer import deadlines, recovery
from sequencer.builder import (
    NO_HOOKS,
    Builder,
    BuildError,
    Bundle,
    ChainPlan,
    ChainRuntime,
    Engine,
    HeadInfo,
    Leg,
    PlannedBlock,
    PlannedTx,
    SlotHooks,
    block_statuses,
    head_from_block,
    rewind,
    verify_and_sign,
)
from sequencer.commitments import (
    EIP712_DOMAIN_NAME,
    EIP712_DOMAIN_VERSION,
    PRECONF_TYPEHASH,
    BundleReceiptMsg,
    Domain,
    Signer,
    legs_hash,
)
from sequencer.config import BATCHER_TERM_MARGIN, ServiceConfig
from sequencer.engine import EngineClient, EngineError, engine_session, quantity
from sequencer.forced import ForcedInbox, forced_inbox_for
from sequencer.journal import (
    BundleReceiptRecord,
    BundleRequest,
    Journal,
    JournalError,
    PreconfRecord,
    RewindMark,
    SealedBlock,
    TxKind,
)
from sequencer.judge import ChainRules, Reject, judge_pending, judge_raw, judge_static, require
from sequencer.leader import LeaderNode, NotAccepting, leader_node_for
from sequencer.manifest import Manifest
from sequencer.mempool import (
    AccountState,
    Candidate,
    DecodedTx,
    SenderLedger,
    TxRejected,
    checksum_address,
    decode_tx,
    keccak,
    order_batch,
)
from sequencer.messages import MESSAGE_SENT_TOPIC, Message, MessageError, message_of_relay
from sequencer.metrics import Metrics, QueueSample
from sequencer.ports import ChainState, ServiceCore
from sequencer.recent import RecentHashes
from sequencer.refusals import Refused, Unavailable
from sequencer.relays import RelayQueue, messages_of_block, relay_queue_for
from sequencer.rpc_errors import RpcError
from sequencer.turns import TurnGate

log = logging.getLogger("sequencer.service")

PROMISING_CHECK_S = 0.05  # how long a verdict of `Sequencer.check_promising` is reused


def _fail(future: asyncio.Future, error: BaseException) -> None:
    """Answer a waiting request with `error`, unless it was cancelled meanwhile."""
    if not future.done():
        future.set_exception(error)


class _Held(Exception):
    """Admission must wait: the sender has a bundle leg in the slot being built."""


def preconf_digest(
    separator: bytes, chain_id: int, block_number: int, index: int, tx_hash: bytes, deadline: int
) -> bytes:
    """EIP-712 digest of `Preconf` (the same bytes as commitments.digest, without eth-abi)."""
    struct = keccak(
        PRECONF_TYPEHASH
        + chain_id.to_bytes(32, "big")
        + block_number.to_bytes(32, "big")
        + index.to_bytes(32, "big")
        + tx_hash
        + deadline.to_bytes(32, "big")
    )
    return keccak(b"\x19\x01" + separator + struct)


def pending_tx_json(raw: bytes, sender: str) -> dict[str, Any]:
    """A signed transaction in the JSON form of eth_getTransactionByHash, with no block yet."""
    tx = decode_tx(raw)
    typed = tx.tx_type != 0
    fields = rlp.decode(raw[1:] if typed else raw)
    v, r, s = (int.from_bytes(f, "big") for f in fields[-3:])
    out: dict[str, Any] = {
        "blockHash": None,
        "blockNumber": None,
        "transactionIndex": None,
        "hash": "0x" + tx.tx_hash.hex(),
        "type": hex(tx.tx_type),
        "chainId": hex(tx.chain_id),
        "nonce": hex(tx.nonce),
        "from": sender,
        "to": checksum_address(tx.to) if tx.to is not None else None,
        "value": hex(tx.value),
        "gas": hex(tx.gas),
        "input": "0x" + tx.data.hex(),
        "v": hex(v),
        "r": hex(r),
        "s": hex(s),
    }
    if tx.tx_type == 2:
        out["maxFeePerGas"] = hex(tx.fee_cap)
        out["maxPriorityFeePerGas"] = hex(tx.tip_cap)
        out["gasPrice"] = hex(tx.fee_cap)
    else:
        out["gasPrice"] = hex(tx.fee_cap)
    if typed:
        out["yParity"] = hex(v)
        out["accessList"] = [
            {"address": checksum_address(a), "storageKeys": ["0x" + k.hex() for k in keys]}
            for a, keys in fields[-4]
        ]
    return out


STATUS_NAMES = {0: "reverted", 1: "success", 2: "skipped"}


class Sequencer:
    """The running service (without its HTTP front). `await start()`, use, `await stop()`."""

    def __init__(
        self,
        config: ServiceConfig,
        manifest: Manifest,
        signer: Signer,
        domain: Domain,
        metrics: Metrics,
        connect: Callable[[str, int], EngineClient] | None = None,
        slot_hooks: SlotHooks = NO_HOOKS,
    ) -> None:
        """`connect(url, chain_id)`: the JSON-RPC client of a node of the manifest (default: an
        `EngineClient` on the service's session; the unit tests pass in-memory engines).
        `slot_hooks`: what the builder tells of a bundle slot (test fault injection:
        `faults.py`; a no-op otherwise)."""
        self.config = config
        self.slot_hooks = slot_hooks  # the builder's (test fault injection: `faults.py`)
        self.manifest = manifest
        self.signer = signer
        self.domain = domain
        self.separator = domain.separator()
        self._domain_json = {
            "name": EIP712_DOMAIN_NAME,
            "version": EIP712_DOMAIN_VERSION,
            "chainId": domain.chain_id,
            "verifyingContract": to_checksum_address(domain.verifying_contract),
        }
        # tx hashes promised, placed or sealed lately (older ones: ask the journal)
        self.seen = RecentHashes(config.seen_keep_blocks)
        self.metrics = metrics
        self.journal = Journal(
            config.journal, config.journal_synchronous, on_commit=metrics.observe_commit
        )
        self.chains: dict[int, ChainState] = {}
        self.promises: dict[bytes, PreconfRecord] = {}  # unsealed promises, by tx hash
        self.l1_head = 0
        self.l1_read_at = time.monotonic()  # when `l1_head` was last read from L1
        self._l1_fault: str | None = None  # the L1 poll's current fault episode (logged once)
        # the last block of each rollup L1 holds (None: no SharedInbox to read it from)
        self.posted: dict[int, int] | None = None
        # per rollup, per block not yet on L1: the nearest pre-confirmation deadline signed for it
        self.due: dict[int, dict[int, int]] = defaultdict(dict)
        self._promising_at = -1.0  # when `check_promising` last judged (monotonic s)
        self._promising_refusal: deadlines.Refusal | None = None
        self.builder: Builder | None = None
        self.session: aiohttp.ClientSession | None = None
        self.l1: EngineClient | None = None
        self._clients: dict[tuple[str, int], EngineClient] = {}  # made by `_engine_client`
        self._tasks: list[asyncio.Task] = []
        self._arrivals: list[tuple[int, Candidate, asyncio.Future]] = []
        self.turns = TurnGate(config.admission_per_turn)  # RPC work per loop turn (rpc.py)
        self._arrival_seq = itertools.count()
        self._fills: set[asyncio.Task] = set()
        self.halted: str | None = None
        self.bundle_book = BundleBook(self)
        self.forced: ForcedInbox | None = None
        self.reserved_senders: frozenset[str] = frozenset()  # the relayer (see sequencer/relays.py)
        self.leader: LeaderNode | None = None  # with a registry on L1: builds only in its terms
        self.relays: RelayQueue | None = None
        self._connect = connect or self._engine_client
        metrics.observe_queues(self.queue_sample)

    # --- lifecycle ---

    async def start(self, run_builder: bool = True) -> None:
        """Connect, resume from the journal, start the builder. On failure, release everything."""
        try:
            await self._start(run_builder)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, run_builder: bool) -> None:
        connector = aiohttp.TCPConnector(limit=64)
        self.session = engine_session(self.config.engine_timeout_s, connector)
        l1 = self.manifest.l1
        self.l1 = self._connect(l1.rpc_url, l1.chain_id)
        await self._check_chain_id(self.l1)
        self.l1_head = quantity(await self.l1.call("eth_blockNumber"), "L1 eth_blockNumber")
        self.l1_read_at = time.monotonic()
        self.journal.check_meta(
            {
                "signer": self.signer.address,
                "l1_chain_id": str(l1.chain_id),
                "verifying_contract": to_checksum_address(self.domain.verifying_contract),
                "rollups": ",".join(str(c.chain_id) for c in self.manifest.rollups),
            }
        )
        state = self.journal.load()
        self.seen.load(self.journal.recent_hashes(self.config.seen_keep_blocks), state.last_sealed)
        self.journal.start()
        for entry in self.manifest.rollups:  # an engine that lost blocks is rebuilt first
            engine = self._connect(entry.rpc_url, entry.chain_id)
            await self._check_chain_id(engine)
            await self.rebuild_engine(engine)
        await self._undo_rewind_marks(state.rewind_marks)
        self.leader = leader_node_for(self)
        posted = await self.leader.posted_tips() if self.leader is not None else {}
        if self.leader is not None:
            self.posted = dict(posted)
        for entry in self.manifest.rollups:
            engine = self._connect(entry.rpc_url, entry.chain_id)
            await self._check_chain_id(engine)
            await self._resume_chain(
                engine, state.pending, state.last_sealed, posted.get(entry.chain_id, 0)
            )
            if self.posted is not None:  # the deadlines signed for blocks L1 does not hold yet
                self.due[entry.chain_id] = self.journal.deadlines_after(
                    entry.chain_id, posted.get(entry.chain_id, 0)
                )
        await self.bundle_book.resume()
        relays = self.relays = relay_queue_for(self.manifest, self.config.load_relayer_key())
        if relays is not None:  # its nonce is the builder's: nobody else sends from it
            self.reserved_senders = frozenset({relays.address})
            for chain in self.chains.values():
                chain.rules = dataclasses.replace(chain.rules, reserved=self.reserved_senders)
            await self._resume_relays(relays)
        self.forced = forced_inbox_for(self)
        if self.forced is not None:
            await self.forced.start()
            self._supervise("forced-poll", self.forced.run)
        self.builder = Builder(
            [c.runtime for c in self.chains.values()],
            self.journal,
            self.signer,
            self.domain,
            self.config.slot_ms,
            self._on_sealed,
            self.bundle_book,
            relays,
            engine_retry_s=self.config.engine_retry_s,
            on_engine_fault=self.metrics.engine_faults.inc,
            rebuild=lambda runtime: self.rebuild_engine(runtime.engine),
            hooks=self.slot_hooks,
        )
        if self.leader is not None:
            await self.leader.start()
            self._supervise("leader-watch", self.leader.watch)
        for chain_id, number, hashes in self.journal.unsettled_blocks():
            self._background(self._fill_statuses(self.chains[chain_id], number, tuple(hashes)))
        self._supervise("l1-poll", self._poll_l1)
        if run_builder:
            self._tasks.append(asyncio.create_task(self._run_builder(), name="builder"))
        log.info(
            "sequencer started",
            extra={
                "event": "start",
                "signer": self.signer.address,
                "rollups": ",".join(str(c) for c in self.chains),
                "restored_promises": len(self.promises),
            },
        )

    def _supervise(self, name: str, loop: Callable[[], Awaitable[object]]) -> None:
        """Run a background loop for the service's lifetime: if it ever ends or raises, that is
        logged (error) and it is started again a second later; never a silent dead task."""

        async def supervised() -> None:
            while True:
                try:
                    await loop()
                    log.error("background task ended; restarting", extra={"task": name})
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - restarted below
                    log.exception("background task failed; restarting", extra={"task": name})
                self.metrics.task_restarts.labels(name).inc()
                await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(JournalError):  # promises on their way to disk: answered
            await self.journal.barrier()
        for task in list(self._fills):
            task.cancel()
        if self._fills:
            await asyncio.gather(*self._fills, return_exceptions=True)
        self.journal.close()
        for chain in self.chains.values():
            await chain.engine.close_pipe()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        if self.session is not None:
            await self.session.close()

    def _engine_client(self, url: str, chain_id: int) -> EngineClient:
        """One client per node for the service's life (its kept connections are shared by the
        builder, the pollers and the proxied reads); `stop` closes them."""
        assert self.session is not None
        client = self._clients.get((url, chain_id))
        if client is None:
            client = EngineClient(url, chain_id, self.session, self.config.engine_timeout_s)
            self._clients[(url, chain_id)] = client
        return client

    async def _check_chain_id(self, engine: EngineClient) -> None:
        actual = int(await engine.call("eth_chainId"), 16)
        if actual != engine.chain_id:
            raise EngineError(f"{engine.url} is chain {actual}, manifest says {engine.chain_id}")

    async def _run_builder(self) -> None:
        assert self.builder is not None
        try:
            if self.leader is not None:
                await self.leader.run(self.builder)
            else:
                await self.builder.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the builder already logged it loudly
            self.halted = self.builder.halted or str(exc)

    async def _poll_l1(self) -> None:
        """Read the L1 head (and what L1 holds of each rollup) every `l1_poll_s`, forever.

        Any fault (no answer, a reset, a wrong-shaped answer) is retried at the next round; it
        is logged once when it starts and once when it ends, and meanwhile the L1 view ages
        (`l1_age_s`): past `l1_max_age_s` no new promise is signed."""
        assert self.l1 is not None
        while True:
            await asyncio.sleep(self.config.l1_poll_s)
            try:
                await self._read_l1()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any fault of L1 is retried, never fatal
                self._l1_episode(f"{type(exc).__name__}: {exc}")
            else:
                self._l1_episode(None)

    async def _read_l1(self) -> None:
        assert self.l1 is not None
        head = quantity(await self.l1.call("eth_blockNumber"), "L1 eth_blockNumber")
        if head < self.l1_head:
            log.warning("L1 head went back", extra={"from": self.l1_head, "to": head})
        if self.leader is not None:  # what L1 holds as of that same head
            tips = await self.leader.posted_tips(head)
            self._posted_to(tips)
        self.l1_head, self.l1_read_at = head, time.monotonic()

    def _l1_episode(self, fault: str | None) -> None:
        """Log an L1 fault once per episode (its start and its end), not once per round."""
        if fault is not None and self._l1_fault is None:
            log.warning("L1 view stale: reads fail", extra={"event": "l1_error", "error": fault})
            self.metrics.l1_faults.inc()
        elif fault is None and self._l1_fault is not None:
            log.info("L1 reads recovered", extra={"event": "l1_recovered"})
        self._l1_fault = fault

    def _posted_to(self, tips: dict[int, int]) -> None:
        """L1 now holds each rollup up to `tips`: those blocks' deadlines are met."""
        self.posted = dict(tips)
        for chain_id, due in self.due.items():
            tip = tips.get(chain_id, 0)
            for number in [n for n in due if n <= tip]:
                del due[number]

    def l1_age_s(self) -> float:
        return time.monotonic() - self.l1_read_at

    # --- deadlines and backpressure (the rules: sequencer/deadlines.py) ---

    def posting_model(self) -> deadlines.PostingModel:
        c = self.config
        return deadlines.PostingModel(
            cadence=c.batcher_interval_l1_blocks,
            confirmations=c.batcher_confirmations,
            spare=c.deadline_spare_l1_blocks,
            term_blocks=self.leader.term_blocks if self.leader is not None else 0,
            term_margin=BATCHER_TERM_MARGIN,
            max_blocks_per_batch=c.batcher_max_blocks,
            policy_margin=c.batcher_margin_l1_blocks,
        )

    def unposted_blocks(self) -> int:
        """Blocks of the busiest rollup that are sealed or planned but not yet on L1."""
        out = 0
        for chain_id, chain in self.chains.items():
            tip = chain.plan.head.number  # without an inbox: the planned blocks only
            if self.posted is not None:
                tip = self.posted.get(chain_id, 0)
            out = max(out, chain.plan.last_number - tip)
        return out

    def deadline_head(self) -> tuple[int, bool]:
        """The L1 head deadlines count from (the newer of the L1 poll's and the leader view's:
        they are read apart) and whether this node leads the term after the head's (always,
        without a registry; unknown counts as no)."""
        head = self.l1_head
        if self.leader is None:
            return head, True
        view = self.leader.view
        if view is None:
            return head, False
        head = max(head, view.l1_head)
        if view.term != head // view.term_blocks or view.next_leader is None:
            return head, False
        return head, view.next_leader.lower() == self.signer.address.lower()

    def evidence_window(self) -> int:
        if self.leader is not None:
            return self.leader.evidence_window
        return self.config.evidence_window_l1_blocks

    def nearest_due(self) -> int | None:
        """The nearest deadline signed for a block not yet on L1 (None: none is waiting)."""
        return min((min(d.values()) for d in self.due.values() if d), default=None)

    def pressure(self) -> deadlines.Pressure:
        return deadlines.Pressure(self.deadline_head()[0], self.l1_age_s(), self.nearest_due())

    def earliest_deadline(self) -> int | None:
        head, leads_next = self.deadline_head()
        return deadlines.earliest_deadline(
            head, self.posting_model(), self.unposted_blocks(), leads_next
        )

    def check_promising(self) -> None:
        """Raise `deadlines.Refusal` unless a new promise can be signed now and kept: the L1 view is
        fresh, the backlog leaves every signed deadline its margin, and the deadline a
        pre-confirmation would carry is one the batcher can meet. The verdict is reused for
        `PROMISING_CHECK_S` (it changes with L1 blocks, not with requests): off the hot path."""
        now = time.monotonic()
        if now - self._promising_at > PROMISING_CHECK_S:
            self._promising_refusal = self._promising_verdict()
            self._promising_at = now
        refusal = self._promising_refusal
        if refusal is not None:
            self.metrics.refused.labels(refusal.data.get("reason", "deadline")).inc()
            raise refusal

    def _promising_verdict(self) -> deadlines.Refusal | None:
        limits = deadlines.PressureLimits(
            self.config.backpressure_margin_l1_blocks, self.config.l1_max_age_s
        )
        refusal = deadlines.backpressure(self.pressure(), limits)
        if refusal is None:
            earliest = self.earliest_deadline()
            deadline = self.l1_head + self.config.preconf_deadline_l1_blocks
            if earliest is None or earliest > deadline:
                refusal = deadlines.Refusal(
                    f"sequencer busy: a deadline of L1 block {deadline} cannot be met now "
                    f"(earliest {earliest}); retry later",
                    {"reason": "deadline", "earliestDeadline": earliest, "retryAfterSeconds": 2},
                )
        return refusal

    def check_bundle_deadline(self, deadline: int) -> None:
        """Raise `deadlines.Refusal` unless a bundle receipt with this deadline can be kept and
        proven."""
        self.check_promising()
        head, leads_next = self.deadline_head()
        deadlines.check_bundle_deadline(
            deadline,
            head,
            self.posting_model(),
            self.evidence_window(),
            self.unposted_blocks(),
            leads_next,
        )

    def _promised(self, chain_id: int, number: int, deadline: int) -> None:
        """A pre-confirmation's deadline was signed for block `number`: it counts until L1 holds
        the block. (Without a SharedInbox nothing says when a block is posted: no backlog is
        tracked.) Bundle receipts are not counted: their deadline is the user's choice (down to
        the earliest one the batcher can meet), and a short one must not stop every promise;
        a receipt is signed only while its deadline can still be met (`BundleBook.select`)."""
        if self.posted is None:
            return
        due = self.due[chain_id]
        current = due.get(number)
        if current is None or deadline < current:
            due[number] = deadline

    # --- resuming from the journal ---

    async def rebuild_engine(self, engine: Engine) -> int:
        """Replay onto `engine` what it lost: the blocks L1 holds and the journal's sealed
        blocks, each with exactly the header signed for it (`sequencer/recovery.py`). At start
        and whenever a slot finds its engine below the plan (a fresh engine after a crash)."""
        inbox = self.manifest.l1.contracts.get("SharedInbox")

        def load_l1() -> recovery.L1Blocks:
            from web3 import Web3

            from sequencer.derive import L1BatchSource

            assert inbox is not None
            w3 = Web3(Web3.HTTPProvider(self.manifest.l1.rpc_url, request_kwargs={"timeout": 30}))
            return recovery.l1_blocks(L1BatchSource(w3, inbox.address, inbox.abi))

        try:
            count = await recovery.rebuild_engine(
                engine, self.journal, load_l1 if inbox is not None else None
            )
        except recovery.RecoveryError as exc:
            raise BuildError(str(exc)) from exc
        if count:
            self.metrics.engine_rebuilt_blocks.inc(count)
        return count

    async def _undo_rewind_marks(self, marks: dict[int, RewindMark]) -> None:
        """The journal holds rewind marks (`MarkReason`): a bundle slot was being mined when the
        service stopped (`Journal.begin_bundle_slot`), or a follower was abandoning blocks L1
        never got (`Journal.abandon_after`: the mark is the first abandoned block, no longer
        sealed, so the engine is rolled back below it). Both are handled alike.

        If any block of the slot is sealed in the journal, every block of it was mined with all
        its legs successful (sealing starts only then): the rest is sealed by `_resume_chain`.
        Otherwise every engine is rolled back to the block before the slot; `_resume_chain` then
        drops the slot's legs and relays from the journal (their blocks are no longer mined) and
        plans its promised and forced transactions again at their positions. The bundles stay
        with the `BundleBook`.
        """
        if not marks:
            return
        assert self.session is not None
        slot = {chain_id: mark.block_number for chain_id, mark in marks.items()}
        reasons = ",".join(sorted({mark.reason.value for mark in marks.values()}))
        if any(self.journal.block(chain_id, number) for chain_id, number in slot.items()):
            log.info(
                "bundle slot was sealed before restart", extra={"slot": str(slot), "why": reasons}
            )
        else:
            for chain_id, number in sorted(slot.items()):
                entry = self.manifest.by_chain_id(chain_id)
                engine = self._connect(entry.rpc_url, chain_id)
                await self._check_chain_id(engine)
                parent = await engine.call("eth_getBlockByNumber", [hex(number - 1), False])
                if parent is None:
                    raise BuildError(f"chain {chain_id}: block {number - 1} is not on the engine")
                if await rewind(engine, head_from_block(parent)):
                    log.warning(
                        "bundle slot rewound after restart",
                        extra={
                            "event": "slot_rewound",
                            "chain": chain_id,
                            "block": number,
                            "why": reasons,
                        },
                    )
        await self.journal.clear_rewind_marks()

    async def _resume_chain(
        self,
        engine: EngineClient,
        pending: list[PreconfRecord],
        last_sealed: dict[int, int],
        posted_to: int = 0,
    ) -> None:
        """`posted_to`: the last block L1 holds (a follower derived the blocks up to it)."""
        chain_id = engine.chain_id
        mine = [r for r in pending if r.chain_id == chain_id]
        latest = head_from_block(await engine.call("eth_getBlockByNumber", ["latest", False]))
        sealed_to = last_sealed.get(chain_id)
        if sealed_to is not None and sealed_to > latest.number:
            raise BuildError(
                f"chain {chain_id}: the journal sealed block {sealed_to} but the engine is at "
                f"{latest.number}: the engine lost blocks (restart it from its state or derive)"
            )
        by_block: dict[int, list[PreconfRecord]] = defaultdict(list)
        for record in mine:
            by_block[record.block_number].append(record)
        if sealed_to is not None:
            first_unsealed = sealed_to + 1
        else:
            first_unsealed = min(
                [n for n in by_block if n <= latest.number], default=latest.number + 1
            )
        if posted_to >= first_unsealed:  # derived from L1 (sequencer/leader.py), not built here
            first_unsealed = posted_to + 1
            for number in [n for n in by_block if n <= posted_to]:
                log.error(
                    "promises for a block another sequencer posted are broken",
                    extra={"chain": chain_id, "block": number, "count": len(by_block[number])},
                )
                del by_block[number]
        # Blocks mined before the crash but not yet journaled: seal them if they are the plan.
        for number in range(first_unsealed, latest.number + 1):
            want = [r.tx_hash for r in by_block.pop(number, [])]
            sealed, _ = await verify_and_sign(
                engine, number, want, self.signer, self.domain, self.journal
            )
            await self.journal.seal(sealed)
            log.info(
                "sealed block mined before restart", extra={"chain": chain_id, "block": number}
            )
        for number in list(by_block):  # legs of blocks never mined: the bundle never landed
            if any(r.slot_tx for r in by_block[number]):
                await self.journal.drop_slot_txs(chain_id, number)
                by_block[number] = [r for r in by_block[number] if not r.slot_tx]
                if not by_block[number]:
                    del by_block[number]
        plan = ChainPlan(chain_id, latest)
        ledger = SenderLedger()
        chain = ChainState(
            ChainRuntime(chain_id, engine, plan),
            ledger,
            ChainRules(chain_id=chain_id, block_gas_limit=latest.gas_limit),
        )
        self.chains[chain_id] = chain
        for number in sorted(by_block):
            for record in by_block[number]:
                plan.restore(
                    number,
                    record.index,
                    PlannedTx(record.tx_hash, record.raw, record.sender, decode_tx(record.raw).gas),
                )
                self.promises[record.tx_hash] = record
            chain.runtime.mark_durable(number, len(by_block[number]))
        senders = {r.sender for records in by_block.values() for r in records}
        for sender in senders:
            await self.ensure_account(chain, sender)
        for number in sorted(by_block):
            for record in by_block[number]:
                tx = decode_tx(record.raw)
                expected = ledger.pending_nonce(tx.sender)
                if expected != tx.nonce:
                    raise BuildError(
                        f"chain {chain_id}: promised tx 0x{tx.tx_hash.hex()} has nonce "
                        f"{tx.nonce} but its sender is at {expected}: the promise cannot be kept"
                    )
                ledger.add(tx)
        self.metrics.pending.labels(chain_id).set(plan.pending_count())
        self.metrics.head.labels(chain_id).set(latest.number)

    async def _resume_relays(self, relays: RelayQueue) -> None:
        """Rebuild the relay queue from the sealed blocks (see `sequencer/relays.py`)."""
        sent: list[Message] = []
        for chain_id, messenger in relays.messengers.items():
            chain = self.chains[chain_id]
            logs = await chain.engine.call(
                "eth_getLogs",
                [
                    {
                        "address": messenger,
                        "topics": ["0x" + MESSAGE_SENT_TOPIC.hex()],
                        "fromBlock": "0x0",
                        "toBlock": hex(chain.plan.head.number),
                    }
                ],
            )
            sent += messages_of_block([{"logs": logs, "status": "0x1"}], messenger, chain_id)
        done: set[bytes] = set()
        for chain_id, raw in self.journal.sealed_txs_from(relays.address):
            with contextlib.suppress(MessageError, TxRejected):
                done.add(message_of_relay(chain_id, decode_tx(raw).data).hash)
        unknown = [m for m in sent if m.hash not in done and m.dest_chain in relays.messengers]
        selector = "0x" + keccak(b"relayed(bytes32)")[:4].hex()
        for dest in {m.dest_chain for m in unknown}:
            mine = [m for m in unknown if m.dest_chain == dest]
            chain = self.chains[dest]
            answers = await chain.engine.batch(
                [
                    (
                        "eth_call",
                        [
                            {"to": relays.messengers[dest], "data": selector + m.hash.hex()},
                            hex(chain.plan.head.number),
                        ],
                    )
                    for m in mine
                ]
            )
            for message, answer in zip(mine, answers, strict=True):
                if "error" in answer:
                    raise EngineError(f"relayed() on chain {dest}: {answer['error']}")
                if int(answer["result"], 16):
                    done.add(message.hash)
        relays.resume(sent, done)
        log.info(
            "relay queue resumed",
            extra={"sent": len(sent), "waiting": relays.pending()},
        )

    # --- accounts ---

    async def _fetch_account(self, chain: ChainState, sender: str, height: int) -> AccountState:
        tag = hex(height)
        answers = await chain.engine.batch(
            [
                ("eth_getTransactionCount", [sender, tag]),
                ("eth_getBalance", [sender, tag]),
                ("eth_getCode", [sender, tag]),
            ]
        )
        if any("error" in a for a in answers):
            raise EngineError(f"account {sender} on chain {chain.chain_id}: {answers}")
        code = answers[2]["result"]
        return AccountState(
            nonce=int(answers[0]["result"], 16),
            balance=int(answers[1]["result"], 16),
            is_contract=code not in ("0x", "0x0", None) and not code.startswith("0xef0100"),
        )

    async def ensure_account(self, chain: ChainState, sender: str, refresh: bool = False) -> None:
        """Make the ledger know `sender` as of the plan's head (re-read if the head moved)."""
        while refresh or not chain.ledger.known(sender):
            height = chain.plan.head.number
            state = await self._fetch_account(chain, sender, height)
            if chain.plan.head.number != height:
                continue
            current = chain.ledger.accounts.get(sender)
            if current is not None and refresh:
                if current.nonce != state.nonce:
                    raise EngineError(f"{sender} nonce moved outside the sequencer")
                current.balance, current.exact = state.balance, True
            elif current is None:
                chain.ledger.set_account(sender, state)
            return

    async def pending_nonce(self, chain_id: int, address: str) -> int:
        chain = self.chains[chain_id]
        sender = to_checksum_address(address)
        await self.ensure_account(chain, sender)
        nonce = chain.ledger.pending_nonce(sender)
        assert nonce is not None
        return nonce

    # --- admission ---

    async def send_raw(self, chain_id: int | None, raw: bytes) -> PreconfRecord:
        """Validate, place, sign and journal one transaction; returns its durable promise."""
        started = time.perf_counter()
        if self.halted is not None:
            raise Refused(f"sequencer halted: {self.halted}")
        if self.leader is not None and not self.leader.accepting:
            try:
                self.leader.check_accepting()
            except NotAccepting as exc:
                raise RpcError(exc.code, exc.message, exc.data) from None
        label = str(chain_id) if chain_id is not None else "any"
        self.check_promising()
        try:
            tx = decode_tx(raw)
            if chain_id is None:
                chain_id = tx.chain_id if tx.chain_id in self.chains else -1
                label = str(chain_id)
            chain = self.chains.get(chain_id)
            if chain is None:
                raise TxRejected(
                    "invalid_chain_id",
                    f"invalid chain id for signer: have {tx.chain_id} want "
                    f"{' or '.join(str(c) for c in self.chains)}",
                )
            require(judge_static(tx, chain.rules))
        except TxRejected as exc:
            self.metrics.rejected.labels(label, exc.reason).inc()
            raise Refused(exc.message) from None
        existing = None
        if tx.tx_hash in self.seen:
            existing = self.promises.get(tx.tx_hash) or self.journal.preconf(tx.tx_hash)
        if existing is not None:
            return await self._known(existing)
        try:
            await self.ensure_account(chain, tx.sender)
            if tx.nonce < (chain.ledger.pending_nonce(tx.sender) or 0):
                existing = self.journal.preconf(tx.tx_hash)  # sealed long ago: not in `seen`
                if existing is not None:
                    return await self._known(existing)
            state = chain.ledger.accounts[tx.sender]
            if not state.exact:
                queue = chain.ledger.pending.get(tx.sender, ())
                if state.balance < tx.max_cost + sum(p.max_cost for p in queue):
                    await self.ensure_account(chain, tx.sender, refresh=True)
        except EngineError as exc:
            raise Unavailable(f"engine unavailable: {exc}") from None
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        while True:
            if not self._arrivals:
                asyncio.get_running_loop().call_soon(self._admit)
            self._arrivals.append((chain_id, Candidate(next(self._arrival_seq), tx), future))
            try:
                record = await future
                break
            except _Held:  # a bundle leg of its sender is being mined, or its account was evicted
                await self.bundle_book.released.wait()
                try:
                    await self.ensure_account(chain, tx.sender)
                except EngineError as exc:
                    raise Unavailable(f"engine unavailable: {exc}") from None
                future = asyncio.get_running_loop().create_future()
        self.metrics.latency_of(label).observe(time.perf_counter() - started)
        return record

    async def _known(self, existing: PreconfRecord) -> PreconfRecord:
        """The answer to a transaction sent again: its promise, or "already known"."""
        if not existing.promised:
            raise Refused("already known")  # a bundle leg, relay or forced tx
        await self.journal.barrier()  # the first answer may still be on its way to disk
        return existing

    def _admit(self) -> None:
        """Admit everything that arrived in this loop turn: order, check, place, sign, journal."""
        arrivals, self._arrivals = self._arrivals, []
        by_chain: dict[int, list[tuple[Candidate, asyncio.Future]]] = defaultdict(list)
        for chain_id, cand, future in arrivals:
            by_chain[chain_id].append((cand, future))
        records: list[PreconfRecord] = []
        waiting: list[tuple[asyncio.Future, PreconfRecord]] = []
        deadline = self.l1_head + self.config.preconf_deadline_l1_blocks
        received = time.time_ns()
        for chain_id, items in by_chain.items():
            chain = self.chains[chain_id]
            futures = {cand.arrival: future for cand, future in items}
            base_fee = chain.plan.base_fee_bound(chain.plan.target(0))
            for cand in order_batch([c for c, _ in items], self.config.ordering, base_fee):
                future = futures[cand.arrival]
                # A request cancelled while it waited (its client gone, shutdown) has a done
                # future: it gets no answer, and must not stop the others' (InvalidStateError).
                try:
                    record = self._admit_one(chain, cand.tx, deadline, received)
                except _Held:
                    _fail(future, _Held())
                    continue
                except TxRejected as exc:
                    self.metrics.rejected.labels(str(chain_id), exc.reason).inc()
                    _fail(future, Refused(exc.message))
                    continue
                except Exception as exc:  # noqa: BLE001 - never leave a request waiting
                    log.exception("admission failed", extra={"event": "admit_error"})
                    _fail(future, Unavailable(f"internal error: {exc}"))
                    continue
                records.append(record)
                waiting.append((future, record))
            self.metrics.pending.labels(chain_id).set(chain.plan.pending_count())
        if not records:
            return
        # Straight to the journal's queue, answered from the commit group's own wake-up (no
        # task, no future in between: fewer turns of the loop between fsync and answer).
        try:
            self.journal.append_nowait(
                records, functools.partial(self._answer_durable, records, waiting)
            )
        except Exception as exc:  # noqa: BLE001 - the journal failed earlier: halt as below
            self._answer_durable(records, waiting, exc)

    @functools.cached_property
    def _preconf_signer(self) -> seqcore.PreconfSigner:
        return self.signer.preconf_signer(self.separator)

    def _admit_one(
        self, chain: ChainState, tx: DecodedTx, deadline: int, received_ns: int
    ) -> PreconfRecord:
        if tx.sender in self.bundle_book.held.get(chain.chain_id, ()):
            raise _Held()
        if not chain.ledger.known(tx.sender):
            raise _Held()  # evicted from the cache since it was read: read it again
        if tx.tx_hash in self.promises:
            raise TxRejected("already_known", "already known")
        target = chain.plan.target(tx.gas)
        require(judge_pending(tx, chain.ledger, chain.plan.base_fee_bound(target)))
        number, index = chain.plan.place(PlannedTx(tx.tx_hash, tx.raw, tx.sender, tx.gas))
        assert number == target
        chain.ledger.add(tx)
        # the promise's EIP-712 digest and signature, compiled (`Signer.preconf_signer`)
        signature = self._preconf_signer.sign(chain.chain_id, number, index, tx.tx_hash, deadline)
        # The frozen dataclass's __init__ sets each field with object.__setattr__ (1.9 us);
        # filling __dict__ makes the same object (eq, hash, repr) in a third of that.
        record = object.__new__(PreconfRecord)
        record.__dict__.update(
            chain_id=chain.chain_id,
            block_number=number,
            index=index,
            tx_hash=tx.tx_hash,
            raw=tx.raw,
            sender=tx.sender,
            nonce=tx.nonce,
            max_cost=tx.max_cost,
            deadline=deadline,
            signature=signature,
            received_ns=received_ns,
            status=None,
            kind=TxKind.PROMISED,
        )
        self.promises[tx.tx_hash] = record
        self.seen.add(tx.tx_hash)
        self._promised(chain.chain_id, number, deadline)
        return record

    def _answer_durable(
        self,
        records: list[PreconfRecord],
        waiting: list[tuple[asyncio.Future, PreconfRecord]],
        error: BaseException | None,
    ) -> None:
        """The journal's commit of `records` is durable (error None): answer their requests."""
        if error is not None:  # positions are in memory but not on disk
            self.halted = f"journal write failed: {error}"
            log.critical("journal write failed", extra={"event": "halt", "error": str(error)})
            for future, _ in waiting:
                if not future.done():
                    future.set_exception(Unavailable(self.halted))
            return
        durable: dict[tuple[int, int], int] = {}
        for record in records:
            key = (record.chain_id, record.block_number)
            durable[key] = max(durable.get(key, 0), record.index + 1)
        for (chain_id, number), count in durable.items():
            self.chains[chain_id].runtime.mark_durable(number, count)
        accepted: dict[int, int] = defaultdict(int)
        for future, record in waiting:
            if not future.done():
                future.set_result(record)
            accepted[record.chain_id] += 1
        for chain_id, count in accepted.items():  # one increment per rollup and commit group
            self.metrics.accepted_of(chain_id).inc(count)

    # --- sealing ---

    def _on_sealed(
        self, runtime: ChainRuntime, sealed: SealedBlock, head: HeadInfo, build_s: float
    ) -> None:
        chain = self.chains[runtime.chain_id]
        self.seen.sealed(runtime.chain_id, sealed.number, sealed.tx_hashes)
        records = [self.promises.pop(h) for h in sealed.tx_hashes if h in self.promises]
        chain.ledger.sealed((r.sender, r.tx_hash) for r in records)
        chain.ledger.forget_idle(keep=100_000)
        if sealed.tx_hashes:  # (an empty block, every idle slot: no receipts, no task)
            self._background(self._fill_statuses(chain, sealed.number, sealed.tx_hashes))
        label = str(runtime.chain_id)
        self.metrics.slot_build.labels(label).observe(build_s)
        self.metrics.head.labels(label).set(head.number)
        self.metrics.sealed_txs.labels(label).inc(len(records))
        self.metrics.pending.labels(label).set(chain.plan.pending_count())

    def _background(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coro)
        self._fills.add(task)
        task.add_done_callback(self._fills.discard)

    async def _fill_statuses(
        self, chain: ChainState, number: int, hashes: tuple[bytes, ...]
    ) -> None:
        """Read a sealed block's receipts and journal each transaction's status."""
        if not hashes:
            return
        attempt = 0
        while True:  # until the engine answers (logged once); a restart fills what is left
            try:
                mined = await chain.engine.call("eth_getBlockByNumber", [hex(number), False])
                if not isinstance(mined, dict):  # a fresh engine being rebuilt: not yet
                    raise EngineError(f"chain {chain.chain_id}: block {number} not on the engine")
                statuses = await block_statuses(chain.engine, number, hashes)
                await self.journal.set_statuses(hashes, statuses)
                if attempt:
                    log.info("receipts read", extra={"chain": chain.chain_id, "block": number})
                return
            except (EngineError, TypeError, KeyError, ValueError) as exc:  # wrong shapes too
                if attempt == 0:
                    log.warning(
                        "receipts unavailable; retrying",
                        extra={"chain": chain.chain_id, "block": number, "error": str(exc)},
                    )
                attempt += 1
                await asyncio.sleep(min(0.2 * attempt, 2.0))
            except BuildError as exc:
                self.halted = str(exc)
                log.critical("receipts contradict the plan", extra={"error": str(exc)})
                return

    # --- queries ---

    def preconf(self, tx_hash: bytes) -> PreconfRecord | None:
        return self.promises.get(tx_hash) or self.journal.preconf(tx_hash)

    def preconf_json(self, record: PreconfRecord) -> dict[str, Any]:
        return {
            "txHash": "0x" + record.tx_hash.hex(),
            "chainId": record.chain_id,
            "blockNumber": record.block_number,
            "index": record.index,
            "deadline": record.deadline,
            "signature": "0x" + record.signature.hex(),
            "signer": self.signer.address,
            "status": self._status_name(record),
            "domain": self.domain_json(),
        }

    def pending_tx_json(self, tx_hash: bytes) -> dict[str, Any] | None:
        """eth_getTransactionByHash for a promised transaction its engine has not mined yet."""
        record = self.promises.get(tx_hash)
        if record is None:
            return None
        return pending_tx_json(record.raw, record.sender)

    def _status_name(self, record: PreconfRecord) -> str:
        if record.status is None:
            chain = self.chains.get(record.chain_id)
            if chain is not None and record.block_number <= chain.plan.head.number:
                return "mined"  # sealed; its receipt is being read
            return "promised"
        return STATUS_NAMES.get(record.status, "unknown")

    def domain_json(self) -> dict[str, Any]:
        return dict(self._domain_json)

    def block_json(self, chain_id: int, number: int) -> dict[str, Any] | None:
        block = self.journal.block(chain_id, number)
        if block is None:
            return None
        forced, skipped = self.journal.forced_for_block(chain_id, number)
        return {
            "chainId": block.chain_id,
            "blockNumber": block.number,
            "blockHash": "0x" + block.block_hash.hex(),
            "parentHash": "0x" + block.parent_hash.hex(),
            "timestamp": block.timestamp,
            "transactions": ["0x" + h.hex() for h in block.tx_hashes],
            "statuses": list(block.statuses),
            "forced": list(forced),
            "forcedSkipped": list(skipped),
            "signature": "0x" + block.signature.hex(),
            "signer": self.signer.address,
            "domain": self.domain_json(),
        }

    def queue_sample(self) -> QueueSample:
        """The relay, forced and bundle queues now (for seq_status and the metrics)."""
        book, forced = self.bundle_book, self.forced
        return QueueSample(
            relays_waiting=self.relays.pending() if self.relays is not None else 0,
            relays_sealed=self.builder.relays_sealed if self.builder is not None else 0,
            forced_queued=forced.queued_count() if forced is not None else 0,
            forced_placed=forced.placed if forced is not None else 0,
            forced_skipped=forced.skipped if forced is not None else 0,
            forced_nearest_deadline=forced.nearest_deadline() if forced is not None else None,
            forced_at_risk=len(forced.at_risk()) if forced is not None else 0,
            bundles_pending=len(book.pending) + len(book.inflight) + len(book.arriving),
            bundles_included=book.included,
            bundles_dropped=book.dropped,
            deadline_slack=deadlines.slack(self.pressure()),
            unposted_blocks=self.unposted_blocks(),
            l1_age_s=self.l1_age_s(),
        )

    def _promising_json(self) -> dict[str, Any]:
        """The backpressure view: how close the signed deadlines are (seq_status)."""
        limits = deadlines.PressureLimits(
            self.config.backpressure_margin_l1_blocks, self.config.l1_max_age_s
        )
        pressure = self.pressure()
        refusal = self._promising_verdict()
        return {
            "accepting": refusal is None,
            "reason": refusal.data.get("reason") if refusal is not None else None,
            "nearestDeadline": pressure.oldest_unposted_deadline,
            "slackBlocks": deadlines.slack(pressure),
            "marginBlocks": limits.margin_blocks,
            "unpostedBlocks": self.unposted_blocks(),
            "postedTips": {str(c): n for c, n in (self.posted or {}).items()},
            "earliestDeadline": self.earliest_deadline(),
            "evidenceWindowBlocks": self.evidence_window(),
        }

    def status(self) -> dict[str, Any]:
        q = self.queue_sample()
        out = {
            "signer": self.signer.address,
            "domain": self.domain_json(),
            "l1Head": self.l1_head,
            "l1AgeSeconds": round(self.l1_age_s(), 1),
            "promising": self._promising_json(),
            "slotMs": self.config.slot_ms,
            "slots": self.builder.slots if self.builder else 0,
            "ordering": self.config.ordering,
            "halted": self.halted,
            "chains": {
                str(chain_id): {
                    "head": chain.plan.head.number,
                    "lastPlannedBlock": chain.plan.last_number,
                    "pending": chain.plan.pending_count(),
                    "blockGasLimit": chain.plan.gas_limit,
                }
                for chain_id, chain in self.chains.items()
            },
            "relays": {"waiting": q.relays_waiting, "relayed": q.relays_sealed},
            "forced": {
                "queued": q.forced_queued,
                "placed": q.forced_placed,
                "skipped": q.forced_skipped,
                "nearestDeadline": q.forced_nearest_deadline,
                "atRisk": q.forced_at_risk,
            },
            "bundles": {
                "pending": q.bundles_pending,
                "included": q.bundles_included,
                "dropped": q.bundles_dropped,
            },
        }
        if self.leader is not None:
            out["leader"] = self.leader.status_json()
        return out


@functools.lru_cache(maxsize=4096)  # a pending bundle's legs are judged again every slot
def _decoded(raw: bytes) -> DecodedTx:
    """A bundle leg's transaction (it decoded when the bundle was accepted)."""
    return decode_tx(raw)


def bundle_hash(legs: list[Leg], beneficiary: str, deadline: int) -> bytes:
    """keccak256 over each leg's (chain id, tx hash) in order, the beneficiary and the deadline.

    This names a `seq_sendBundle` bundle: a set of signed transactions. It is not the hash of a
    `BundleSettlement` intent (`sequencer/bundles.py`), which the owner signs and which the
    transactions of such a bundle may carry (`execute_leg`); the `BundleReceipt` signs this one.
    """
    data = b"".join(leg.chain_id.to_bytes(32, "big") + leg.tx_hash for leg in legs)
    data += bytes(12) + bytes.fromhex(beneficiary[2:]) + deadline.to_bytes(32, "big")
    return keccak(data)


class BundleHost(ServiceCore, Protocol):
    """What the bundle book uses of the running service (`Sequencer` is one): the rollups'
    plans and ledgers, the journal, the signer and domain of receipts, the L1 head and the
    deadline rules, the hashes seen lately."""

    signer: Signer
    domain: Domain
    seen: RecentHashes
    l1_head: int

    def domain_json(self) -> dict[str, Any]: ...

    def earliest_deadline(self) -> int | None: ...

    def check_bundle_deadline(self, deadline: int) -> None: ...

    async def ensure_account(
        self, chain: ChainState, sender: str, refresh: bool = False
    ) -> None: ...


class BundleBook:
    """Bundles waiting for a slot: intake checks, per-slot selection, receipts.

    A bundle is offered to every slot until its deadline (an L1 block): it is selected when each
    leg's sender is at that leg's nonce after its promised transactions of the slot's block, has
    no promises in later blocks, can pay, and every leg fits the block's remaining gas. While a
    selected bundle is mined, new transactions from its senders wait (so no promise can depend
    on a leg that may be dropped). A receipt is signed only after every leg succeeded at seal.
    A bundle is journaled before `seq_sendBundle` answers, and what became of it once settled,
    so the pending ones are offered again after a restart (`resume`).
    """

    DONE_KEEP = 10_000  # settled bundles kept in memory (older ones: from the journal)

    def __init__(self, seq: BundleHost) -> None:
        self.seq = seq
        self.pending: dict[bytes, Bundle] = {}
        self.done: dict[bytes, Bundle] = {}
        self.inflight: dict[bytes, Bundle] = {}  # selected for the slot being built
        self.arriving: set[bytes] = set()  # being stored by `submit`
        self.included = 0  # bundles landed with a receipt (since start)
        self.dropped = 0  # bundles dropped (since start)
        self._unsaved: list[tuple[bytes, str, str]] = []  # settled, not yet journaled
        self.held: dict[int, set[str]] = {}
        self.released = asyncio.Event()
        self.released.set()

    async def submit(self, txs: dict[int, list[bytes]], beneficiary: str, deadline: int) -> Bundle:
        """Check a bundle, store it durably, then offer it to the slots."""
        bundle = self._check(txs, beneficiary, deadline)
        self.arriving.add(bundle.bundle_hash)
        try:
            await self.seq.journal.store_bundle_request(
                BundleRequest(
                    bundle.bundle_hash,
                    tuple((leg.chain_id, leg.raw) for leg in bundle.legs),
                    bundle.beneficiary,
                    bundle.deadline,
                )
            )
        finally:
            self.arriving.discard(bundle.bundle_hash)
        self.pending[bundle.bundle_hash] = bundle
        return bundle

    def _check(self, txs: dict[int, list[bytes]], beneficiary: str, deadline: int) -> Bundle:
        seq = self.seq
        seq.check_bundle_deadline(deadline)  # honourable and provable (sequencer/deadlines.py)
        legs: list[Leg] = []
        gas: dict[int, int] = defaultdict(int)
        for chain_id, raws in txs.items():
            chain = seq.chains.get(chain_id)
            if chain is None:
                raise Refused(f"no rollup with chain id {chain_id}")
            for raw in raws:
                verdict = judge_raw(raw, chain.rules)
                if isinstance(verdict, Reject):
                    raise Refused(verdict.message)
                tx = verdict.tx
                if tx.tx_hash in seq.seen or any(leg.tx_hash == tx.tx_hash for leg in legs):
                    raise Refused("already known")
                gas[chain_id] += tx.gas
                if gas[chain_id] > chain.rules.block_gas_limit:
                    raise Refused("exceeds block gas limit")
                legs.append(
                    Leg(chain_id, tx.tx_hash, raw, tx.sender, tx.nonce, tx.gas, tx.max_cost)
                )
        if not legs:
            raise Refused("empty bundle")
        beneficiary = to_checksum_address(beneficiary)
        bundle = Bundle(
            bundle_hash(legs, beneficiary, deadline), tuple(legs), beneficiary, deadline
        )
        if (
            bundle.bundle_hash in self.pending
            or bundle.bundle_hash in self.arriving
            or bundle.bundle_hash in self.inflight
            or bundle.bundle_hash in self.done
            or seq.journal.bundle_request(bundle.bundle_hash) is not None
        ):
            raise Refused("already known")
        return bundle

    async def resume(self) -> None:
        """Take back the bundles the journal holds as pending (on start, after the rollups are
        resumed). One whose legs are all in sealed blocks landed before the restart (a crash
        between sealing its slot and storing its receipt): it gets its receipt now."""
        seq = self.seq
        for request in seq.journal.bundle_requests("pending"):
            legs = []
            for chain_id, raw in request.legs:
                tx = decode_tx(raw)
                legs.append(
                    Leg(chain_id, tx.tx_hash, raw, tx.sender, tx.nonce, tx.gas, tx.max_cost)
                )
            bundle = Bundle(request.bundle_hash, tuple(legs), request.beneficiary, request.deadline)
            records = [seq.journal.preconf(leg.tx_hash) for leg in legs]
            if all(
                r is not None
                and r.kind == TxKind.BUNDLE_LEG
                and seq.journal.block(r.chain_id, r.block_number)
                for r in records
            ):
                positions = [
                    (r.chain_id, r.block_number, r.index, r.tx_hash)
                    for r in records
                    if r is not None  # all are (checked above)
                ]
                await self._include(bundle, positions)  # the engines' accounts show its legs
                await self._save()
                log.info(
                    "bundle landed before restart", extra={"bundle": request.bundle_hash.hex()}
                )
                continue
            self.pending[bundle.bundle_hash] = bundle
        if self.pending:
            log.info("bundles resumed", extra={"pending": len(self.pending)})

    async def select(self, blocks: dict[int, PlannedBlock]) -> list[Bundle]:
        """The pending bundles that fit the slot's `blocks`, in arrival order; their senders are
        held (no new promise from them) until the slot is settled.

        Admission runs whenever this awaits, so every account is read first, and the checks and
        the holds then run with no await between them: a promise cannot take a leg's nonce after
        its bundle was checked.
        """
        seq = self.seq
        unreadable: set[tuple[int, str]] = set()
        for bundle in list(self.pending.values()):
            for leg in bundle.legs:
                try:
                    await seq.ensure_account(seq.chains[leg.chain_id], leg.sender)
                except EngineError:
                    unreadable.add((leg.chain_id, leg.sender))
        chosen: list[Bundle] = []
        extra_gas: dict[int, int] = defaultdict(int)
        nonces: dict[tuple[int, str], int] = {}
        costs: dict[tuple[int, str], int] = defaultdict(int)
        earliest = seq.earliest_deadline()  # a receipt is signed only for a deadline it can meet
        for bundle in list(self.pending.values()):
            if bundle.deadline < seq.l1_head:
                self._drop(bundle, "deadline passed")
                continue
            if earliest is None:
                continue  # no deadline can be met in this term: wait for the next
            if bundle.deadline < earliest:
                self._drop(bundle, f"deadline can no longer be met (earliest now {earliest})")
                continue
            verdict = self._fits(bundle, blocks, extra_gas, nonces, costs, unreadable)
            if verdict == "wait":
                continue
            if verdict != "ok":
                self._drop(bundle, verdict)
                continue
            chosen.append(bundle)
            for leg in bundle.legs:
                extra_gas[leg.chain_id] += leg.gas
                nonces[(leg.chain_id, leg.sender)] = leg.nonce + 1
                costs[(leg.chain_id, leg.sender)] += leg.max_cost
        if chosen:
            for bundle in chosen:
                del self.pending[bundle.bundle_hash]
                self.inflight[bundle.bundle_hash] = bundle
                for leg in bundle.legs:
                    self.held.setdefault(leg.chain_id, set()).add(leg.sender)
            self.released.clear()
        await self._save()  # after the senders are held: admission runs while this awaits
        return chosen

    def requeue(self, bundles: list[Bundle]) -> None:
        """The slot that selected `bundles` was undone after an engine fault (see
        `Builder.recover`): they are pending again, ahead of the later ones, and their senders
        are released."""
        for bundle in bundles:
            self.inflight.pop(bundle.bundle_hash, None)
        self.pending = {b.bundle_hash: b for b in bundles} | self.pending
        self.held.clear()
        self.released.set()

    def _fits(
        self,
        bundle: Bundle,
        blocks: dict[int, PlannedBlock],
        extra_gas: dict[int, int],
        nonces: dict[tuple[int, str], int],
        costs: dict[tuple[int, str], int],
        unreadable: set[tuple[int, str]],
    ) -> str:
        """ "ok", "wait" (not in this slot) or why the bundle is dropped. Never awaits.

        Each leg is judged (`judge.judge_pending`) after its sender's pending transactions and
        the legs of this slot before it: a nonce gap or a fee cap below the block's base-fee
        bound waits for a later slot, any other refusal (a nonce used, funds short, a contract
        sender) drops the bundle."""
        seq = self.seq
        gas: dict[int, int] = defaultdict(int)
        local_nonce: dict[tuple[int, str], int] = {}
        local_cost: dict[tuple[int, str], int] = defaultdict(int)
        for leg in bundle.legs:
            chain = seq.chains[leg.chain_id]
            block = blocks[leg.chain_id]
            gas[leg.chain_id] += leg.gas
            if block.gas + extra_gas[leg.chain_id] + gas[leg.chain_id] > chain.plan.gas_limit:
                return "wait"
            if any(
                tx.sender == leg.sender
                for number, later in chain.plan.blocks.items()
                if number > block.number
                for tx in later.txs
            ):
                return "wait"
            key = (leg.chain_id, leg.sender)
            if key in unreadable or not chain.ledger.known(leg.sender):
                return "wait"  # the engine did not answer, or the account was evicted meanwhile
            verdict = judge_pending(
                _decoded(leg.raw),
                chain.ledger,
                chain.plan.base_fee_bound(block.number),
                nonce_after=local_nonce.get(key) or nonces.get(key),
                extra_cost=costs[key] + local_cost[key],
            )
            if isinstance(verdict, Reject):
                if verdict.reason in ("nonce_too_high", "fee_cap_too_low"):
                    return "wait"  # an earlier transaction is not placed yet; the fee may fall
                return f"{verdict.message}: leg tx 0x{leg.tx_hash.hex()}"
            local_nonce[key] = leg.nonce + 1
            local_cost[key] += leg.max_cost
        return "ok"

    async def _save(self) -> None:
        """Journal what became of the bundles settled since the last call."""
        settled, self._unsaved = self._unsaved, []
        if settled:
            await self.seq.journal.settle_bundle_requests(settled)

    def _done(self, bundle: Bundle) -> None:
        """Remember a settled bundle; the oldest are forgotten past `DONE_KEEP` (the journal
        keeps what became of each)."""
        if bundle.status == "included":
            self.included += 1
        else:
            self.dropped += 1
        # settled: no longer in flight (seq_status would count it as pending and settled at once
        # until the slot's bookkeeping ends)
        self.inflight.pop(bundle.bundle_hash, None)
        self.done[bundle.bundle_hash] = bundle
        self._unsaved.append((bundle.bundle_hash, bundle.status, bundle.reason))
        while len(self.done) > self.DONE_KEEP:
            del self.done[next(iter(self.done))]

    def _drop(self, bundle: Bundle, reason: str) -> None:
        bundle.status, bundle.reason = "dropped", reason
        self.pending.pop(bundle.bundle_hash, None)
        self._done(bundle)
        log.info(
            "bundle dropped", extra={"bundle": "0x" + bundle.bundle_hash.hex(), "reason": reason}
        )

    async def settled(
        self,
        included: list[tuple[Bundle, list[tuple[int, int, int, bytes]]]],
        dropped: list[Bundle],
    ) -> None:
        seq = self.seq
        try:
            for bundle in dropped:
                self._drop(bundle, bundle.reason or "a leg failed")
            for bundle, positions in included:
                for leg in bundle.legs:
                    state = seq.chains[leg.chain_id].ledger.accounts[leg.sender]
                    state.nonce += 1
                    state.balance = max(0, state.balance - leg.max_cost)
                    state.exact = False
                await self._include(bundle, positions)
            await self._save()
        finally:
            self.inflight.clear()
            self.held.clear()
            self.released.set()

    async def _include(self, bundle: Bundle, positions: list[tuple[int, int, int, bytes]]) -> None:
        """Sign and store the receipt of a bundle whose legs are all sealed with success."""
        seq = self.seq
        for leg in bundle.legs:
            seq.seen.add(leg.tx_hash)
        lh = legs_hash(positions)
        msg = BundleReceiptMsg(bundle.bundle_hash, lh, bundle.beneficiary, bundle.deadline)
        record = BundleReceiptRecord(
            bundle.bundle_hash,
            lh,
            tuple(positions),
            bundle.beneficiary,
            bundle.deadline,
            seq.signer.sign(seq.domain, msg),
        )
        if seq.journal.bundle(bundle.bundle_hash) is None:
            await seq.journal.store_bundle(record)
        bundle.status = "included"  # once the receipt is stored: seq_getBundleReceipt has it
        self._done(bundle)

    def receipt_json(self, record: BundleReceiptRecord) -> dict[str, Any]:
        return {
            "bundleHash": "0x" + record.bundle_hash.hex(),
            "legsHash": "0x" + record.legs_hash.hex(),
            "legs": [
                {"chainId": c, "blockNumber": b, "index": i, "txHash": "0x" + h.hex()}
                for c, b, i, h in record.legs
            ],
            "beneficiary": record.beneficiary,
            "deadline": record.deadline,
            "signature": "0x" + record.signature.hex(),
            "signer": self.seq.signer.address,
            "domain": self.seq.domain_json(),
        }

    def status_json(self, bundle_hash: bytes) -> dict[str, Any] | None:
        bundle = (
            self.pending.get(bundle_hash)
            or self.inflight.get(bundle_hash)
            or self.done.get(bundle_hash)
        )
        if bundle is None:
            request = self.seq.journal.bundle_request(bundle_hash)  # settled before a restart
            if request is None:
                return None
            return {
                "bundleHash": "0x" + bundle_hash.hex(),
                "status": request.status,
                "reason": request.reason or None,
            }
        return {
            "bundleHash": "0x" + bundle_hash.hex(),
            "status": bundle.status,
            "reason": bundle.reason or None,
        }
