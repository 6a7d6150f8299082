"""Leader awareness: who leads which term, when this node may promise and build, and following.

Owns three things. The *term schedule* (pure: `TermView`, `decide_role`): from the registry's
`TERM_BLOCKS`, `leader_of(term)` for the current and the next term and `jailed(me)`, the role of
this node at an L1 head. The *node loop* (`LeaderNode.run`, which the service runs instead of
`Builder.run` when the manifest has a SequencerRegistry): build slots while leading, follow L1
otherwise, and take over cleanly when its term comes. The *write forwarding* of a follower
(`LeaderNode.forward`): writes go to the RPC of the sequencer that takes them now.
It never sends an L1 transaction (the batcher posts), never decides admission rules (`mempool`),
and never builds a block from anything but its own plan or an L1 batch.

The choices, as an operator would set them (README "Leaders and followers"):

- Terms: term(b) = b // TERM_BLOCKS; term T runs from L1 block T * TERM_BLOCKS to
  end(T) = (T + 1) * TERM_BLOCKS - 1. The head's term is the current one (as for the batcher).
- LEAD: the registry names this key the leader of the current term and the key is not jailed.
  The node promises positions and builds one block per rollup per slot. If it also leads the
  next term it simply goes on across the boundary.
- DRAIN (handoff margin): when another sequencer leads the next term, the node stops promising
  new positions once fewer than `handoff_l1_blocks` L1 blocks are left in its term
  (end(T) - head < handoff, default 8); it keeps building slots only until every promised block
  is sealed, then builds nothing, so the batcher can still post every sealed block inside the
  term. Default 8 = 2 (the batcher posts nothing in the last 2 L1 blocks of a term: the header's
  term would be stale) + 1 (a post lands in the block after the head it was sent at) + 2 (the
  batcher's 2-s rounds at 1-s L1 blocks) + 1 (its confirmation depth) + 2 to spare (the last
  slot's seal, a fee bump). A pre-confirmation's deadline is the head plus
  `preconf_deadline_l1_blocks`, which the configuration keeps at least `handoff_l1_blocks`,
  so every promise made while leading can be met inside the term.
- A term nobody leads (no eligible stake, e.g. the term in which the first sequencer registered):
  the next term's leader already builds (LEAD) if its promises' deadlines reach past the start
  of its own term plus the handoff margin, since it will post those blocks itself.
- FOLLOW, in every other case: no slot is built and no position promised. The node reads the
  batches the SharedInbox accepted (`derive.L1BatchSource`) and replays each rollup range onto
  its own engines with `derive.derive_batch` (every commitment checked), so its engines hold
  every posted block; ranges it already holds (its own posted blocks) are checked by hash and
  skipped. When its own term starts it reads L1 once more and builds on the last posted block
  of each rollup (fresh sender ledgers; the forced-inclusion queue resumes after what posted
  blocks consumed).
- L1 reorgs: a follower replays a batch once it is `follow_confirmations` L1 blocks deep
  (default 0, for the devnet's L1, which does not reorg); the leader of a new term starts
  building only once every batch posted before its term is that deep.
- Blocks sealed but never posted cannot be part of the chain. Another leader's are never seen
  (a follower reads only L1), so nothing is built on them; their promises are that leader's
  slashable breach. This node's own (its batcher failed to post in time), and promises it made
  for blocks it never sealed, are abandoned once another sequencer leads: the engine is rolled
  back to the last posted block (`anvil_rollback`), the journal forgets them, and the node logs
  an error naming how many; those promises are broken and slashable.
- Forwarding: while not accepting, `eth_sendRawTransaction`, `seq_sendRawTransaction`,
  `seq_sendBundle` and `eth_getTransactionCount(.., "pending")` are sent to the RPC of the
  sequencer that takes writes now (the current leader; in a term nobody leads, the next one)
  and its answer is returned unchanged; `seq_getPreconfirmation`, `seq_getBundleReceipt` and
  `seq_getBundleStatus` for a hash this node does not know are asked of it too. Its URL comes
  from the `leader_urls` configuration (address -> URL) if given there, else from the registry
  (`endpoint(address)`, published by each sequencer with `set_endpoint`). Without a URL, or
  while this node drains, or for a request that was itself forwarded (no forwarding loops), the
  answer is a JSON-RPC error -32000 saying why. Reads are always served from the local engines.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import event_abi_to_log_topic, keccak, to_checksum_address

from sequencer import batch_codec as bc
from sequencer.builder import Builder, BuildError, HeadInfo, head_from_block, rewind
from sequencer.commitments import BatchHeader, Signer, header_from_abi
from sequencer.derive import DerivationMismatch, L1BatchSource, derive_batch
from sequencer.forced import ForcedInbox
from sequencer.mempool import SenderLedger
from sequencer.ports import ChainState, ServiceCore
from sequencer.rpc_errors import ERR_INTERNAL, ERR_SERVER, RpcError

log = logging.getLogger("sequencer.leader")

FORWARDED_HEADER = "X-Sequencer-Forwarded-By"
# Writes a follower sends to the leader (plus eth_getTransactionCount "pending", see below).
FORWARDED_WRITES = frozenset({"eth_sendRawTransaction", "seq_sendRawTransaction", "seq_sendBundle"})
# Promise lookups a follower answers from the leader when it does not know the hash itself.
FORWARDED_LOOKUPS = frozenset(
    {"seq_getPreconfirmation", "seq_getBundleReceipt", "seq_getBundleStatus"}
)

# Set by the RPC layer for a request that another sequencer forwarded (its address).
forwarded_by: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "forwarded_by", default=None
)


class LeaderError(RuntimeError):
    """The registry or L1 cannot be read, or the follower cannot continue the posted chain."""


class NotAccepting(RpcError):
    """This node takes no writes now; carries the JSON-RPC error to answer with."""


# --- the term schedule (pure) ---


class Role(enum.StrEnum):
    LEAD = "lead"  # promise positions and build
    DRAIN = "drain"  # the term ends soon and the next is another's: seal what was promised
    FOLLOW = "follow"  # derive what the leader posts; forward writes


def term_of(l1_block: int, term_blocks: int) -> int:
    return l1_block // term_blocks


def term_end(term: int, term_blocks: int) -> int:
    """The last L1 block of `term`."""
    return (term + 1) * term_blocks - 1


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


@dataclass(frozen=True)
class TermView:
    """What the registry says at one L1 head. Leaders are None when nobody is eligible (or,
    for the next term, while its seed block is not mined yet)."""

    l1_head: int
    term_blocks: int
    leader: str | None
    next_leader: str | None
    jailed: bool = False  # this node's key

    @property
    def term(self) -> int:
        return term_of(self.l1_head, self.term_blocks)

    @property
    def end(self) -> int:
        return term_end(self.term, self.term_blocks)

    @property
    def blocks_left(self) -> int:
        """L1 blocks after the head that still belong to the current term."""
        return self.end - self.l1_head


def decide_role(view: TermView, me: str, handoff_blocks: int, deadline_blocks: int) -> Role:
    """This node's role at `view.l1_head` (the rules are in the module docstring)."""
    if view.jailed:
        return Role.FOLLOW
    if _same(view.leader, me):
        if _same(view.next_leader, me) or view.blocks_left >= handoff_blocks:
            return Role.LEAD
        return Role.DRAIN
    if view.leader is None and _same(view.next_leader, me):
        # blocks built now are posted from the start of the next term, by this node
        if view.end + 1 + handoff_blocks <= view.l1_head + deadline_blocks:
            return Role.LEAD
    return Role.FOLLOW


def write_target(view: TermView, me: str) -> str | None:
    """The sequencer that takes writes now, when it is not this node (None: nobody)."""
    if view.leader is not None:
        return None if _same(view.leader, me) else view.leader
    if view.next_leader is not None and not _same(view.next_leader, me):
        return view.next_leader
    return None


def forwards(method: str, params: list[Any]) -> bool:
    """Whether a follower sends this call to the leader: writes, and the pending nonce (which
    counts the leader's promises)."""
    if method in FORWARDED_WRITES:
        return True
    return method == "eth_getTransactionCount" and len(params) > 1 and params[1] == "pending"


# --- registry reads (ABI by hand: a few static calls) ---


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def _call(to: str, signature: str, types: list[str], args: list[Any]) -> dict[str, Any]:
    data = _selector(signature) + abi_encode(types, args).hex()
    return {"to": to, "data": data}


def _address_result(answer: dict[str, Any]) -> str | None:
    """A `leader_of` answer: None for a revert (seed unknown) or the empty address."""
    result = answer.get("result")
    if "error" in answer or not isinstance(result, str) or len(result) < 66:
        return None
    address = "0x" + result[-40:]
    return None if int(address, 16) == 0 else to_checksum_address(address)


# --- following (the L1 side of derivation, kept between rounds) ---


@dataclass
class FollowState:
    next_sequence: int = 0
    scanned_to: int = -1  # L1 block
    tips: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # per rollup, last posted
    forced_used: Counter = field(default_factory=Counter)  # per rollup: forced items posted
    forced_queue: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)


class PostedTips:
    """The last block of each rollup that L1 holds, read incrementally from the SharedInbox's
    `BatchPosted` events (`read`: blocking, call from a thread; `read_async`: the service's
    every L1 poll). A tip that the inbox no longer matches at the block read to
    (`rollup_tip_matches`: an L1 reorg dropped a batch) makes it read from the start."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.tips: dict[int, tuple[int, bytes]] = {}
        self.scanned_to = -1
        self._lock = threading.Lock()
        self._async_lock = asyncio.Lock()
        self._topic: str | None = None  # BatchPosted's topic 0

    def read(self, to_block: int) -> dict[int, int]:
        with self._lock:
            return self._read(to_block)

    async def read_async(self, l1: Any, to_block: int) -> dict[int, int]:
        """`read` from the event loop, through `l1` (the service's `EngineClient`). The idle
        case, every L1 poll (no `BatchPosted` since the last read, every cached tip still held),
        costs one `eth_getLogs` and one batch of `rollup_tip_matches` on `l1`, no thread and no
        web3 (about 2 ms of CPU a poll through web3 in a thread); anything else (events to
        decode, a tip no longer held) is `read` in a thread, as before."""
        async with self._async_lock:
            if to_block > self.scanned_to:
                if self._topic is None:
                    abi = self.inbox.events.BatchPosted.abi
                    self._topic = "0x" + event_abi_to_log_topic(abi).hex()
                query = {
                    "address": self.inbox.address,
                    "topics": [self._topic],
                    "fromBlock": hex(self.scanned_to + 1),
                    "toBlock": hex(to_block),
                }
                logs = await l1.call("eth_getLogs", [query])
                if not isinstance(logs, list):
                    raise LeaderError(f"eth_getLogs of BatchPosted answered {logs!r:.200}")
                if logs:
                    return await asyncio.to_thread(self.read, to_block)
                with self._lock:
                    self.scanned_to = max(self.scanned_to, to_block)
            if self.tips:
                if not _all_match(await l1.batch(self._tip_calls(to_block))):
                    return await asyncio.to_thread(self.read, to_block)  # reads from the start
            return {chain_id: number for chain_id, (number, _) in self.tips.items()}

    def _read(self, to_block: int) -> dict[int, int]:
        if to_block > self.scanned_to:
            logs = self.inbox.events.BatchPosted().get_logs(
                from_block=self.scanned_to + 1, to_block=to_block
            )
            for entry in sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])):
                for rollup in header_from_abi(entry["args"]["header"]).rollups:
                    self.tips[rollup.chain_id] = (rollup.last_block, rollup.last_block_hash)
            self.scanned_to = to_block
        # checked at `to_block`, where the events were read: at the latest block a batch
        # landed since would fail every check, and the read would start over forever
        if not self._tips_match(to_block):
            self.tips, self.scanned_to = {}, -1
            return self._read(to_block)
        return {chain_id: number for chain_id, (number, _) in self.tips.items()}

    def _tips_match(self, at_block: int) -> bool:
        """Whether the inbox still holds every cached tip at `at_block`: one JSON-RPC batch of
        `rollup_tip_matches` calls, straight to the provider (web3's contract calls cost about
        5 ms of CPU each here, with a chain-id read before every one; this read runs every
        L1 poll)."""
        if not self.tips:
            return True
        calls = self._tip_calls(at_block)
        answers = self.inbox.w3.provider.make_batch_request(calls)
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise LeaderError(f"rollup_tip_matches batch answered {answers!r:.200}")
        return _all_match(answers)

    def _tip_calls(self, at_block: int) -> list[tuple[str, list[Any]]]:
        """One `rollup_tip_matches` eth_call per cached tip, at `at_block`."""
        return [
            (
                "eth_call",
                [
                    _call(
                        self.inbox.address,
                        "rollup_tip_matches(uint256,uint256,bytes32)",
                        ["uint256", "uint256", "bytes32"],
                        [chain_id, number, block_hash],
                    ),
                    hex(at_block),
                ],
            )
            for chain_id, (number, block_hash) in self.tips.items()
        ]


def _all_match(answers: list[Any]) -> bool:
    """Whether every `rollup_tip_matches` answer is true; LeaderError for one that is not a
    boolean word (an error, a wrong shape)."""
    for answer in answers:
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, str) or not result.startswith("0x"):
            raise LeaderError(f"rollup_tip_matches answered {answer!r:.200}")
        if int(result, 16) == 0:
            return False
    return True


class LeaderHost(ServiceCore, Protocol):
    """What the leader node uses of the running service (`service.Sequencer` is one)."""

    signer: Signer
    forced: ForcedInbox | None
    session: aiohttp.ClientSession | None  # forwarding to the leader shares the engines' session
    due: dict[int, dict[int, int]]  # per rollup, per unposted block: its nearest promise deadline


class LeaderNode:
    """Leader awareness of one running `Sequencer` (see the module docstring)."""

    def __init__(
        self,
        seq: LeaderHost,
        registry: str,
        inbox: tuple[str, list],
        source: L1BatchSource | None = None,
    ) -> None:
        """`source`: where the batches posted on L1 are read (default: the SharedInbox through
        web3 at the manifest's L1; the unit tests pass an in-memory one)."""
        self.seq = seq
        self.registry = registry
        self.me = seq.signer.address
        config = seq.config
        self.handoff = config.handoff_l1_blocks
        self.deadline_blocks = config.preconf_deadline_l1_blocks
        self.poll_s = config.l1_poll_s
        self.follow_poll_s = config.follow_poll_s
        self.confirmations = config.follow_confirmations
        self.overrides = {k.lower(): v.rstrip("/") for k, v in config.leader_urls.items()}
        self.term_blocks = 0
        self.evidence_window = config.evidence_window_l1_blocks  # the registry's, from start()
        self.view: TermView | None = None
        self.role = Role.FOLLOW
        self.endpoints: dict[str, str] = {}  # published URLs, by lower-case address
        self.ready = False  # took over as leader: admission may place transactions
        self.follow = FollowState()
        if source is None:
            from web3 import Web3

            w3 = Web3(Web3.HTTPProvider(seq.manifest.l1.rpc_url, request_kwargs={"timeout": 30}))
            source = L1BatchSource(w3, *inbox)
        self._source = source
        self._tips = PostedTips(self._source.inbox)
        self.derived_blocks = 0
        self.abandoned_blocks = 0

    # --- lifecycle ---

    async def start(self) -> None:
        assert self.seq.l1 is not None
        answer = await self.seq.l1.call(
            "eth_call", [_call(self.registry, "TERM_BLOCKS()", [], []), "latest"]
        )
        self.term_blocks = int(answer, 16)
        answer = await self.seq.l1.call(
            "eth_call", [_call(self.registry, "EVIDENCE_WINDOW_BLOCKS()", [], []), "latest"]
        )
        self.evidence_window = int(answer, 16)
        if self.deadline_blocks > self.evidence_window:
            raise LeaderError(
                f"preconf_deadline_l1_blocks ({self.deadline_blocks}) is beyond the registry's "
                f"evidence window ({self.evidence_window} L1 blocks)"
            )
        if self.handoff >= self.term_blocks:
            raise LeaderError(
                f"handoff_l1_blocks ({self.handoff}) must be shorter than a term "
                f"({self.term_blocks} L1 blocks)"
            )
        await self.refresh()

    async def posted_tips(self, head: int | None = None) -> dict[int, int]:
        """The last block of each rollup that L1 holds (0: none), from the batch headers, as of
        L1 block `head` (default: the L1 head, read now)."""

        assert self.seq.l1 is not None
        if head is None:
            head = int(await self.seq.l1.call("eth_blockNumber"), 16)
        return await self._tips.read_async(self.seq.l1, head)

    async def watch(self) -> None:
        """Re-read the registry every `l1_poll_s` (the role changes with the L1 head)."""
        failing = False
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep the last view; try again
                if not failing:  # once per episode
                    log.warning("registry unreadable; retrying", extra={"error": str(exc)})
                failing = True
            else:
                if failing:
                    log.info("registry readable again")
                failing = False

    async def refresh(self) -> None:
        l1 = self.seq.l1
        assert l1 is not None
        head = int(await l1.call("eth_blockNumber"), 16)
        term = term_of(head, self.term_blocks)
        at = hex(head)  # every read at the same L1 block
        answers = await l1.batch(
            [
                ("eth_call", [_call(self.registry, "leader_of(uint256)", ["uint256"], [term]), at]),
                (
                    "eth_call",
                    [_call(self.registry, "leader_of(uint256)", ["uint256"], [term + 1]), at],
                ),
                ("eth_call", [_call(self.registry, "jailed(address)", ["address"], [self.me]), at]),
            ]
        )
        if "error" in answers[0] or "error" in answers[2]:
            raise LeaderError(f"registry read failed: {answers}")
        view = TermView(
            l1_head=head,
            term_blocks=self.term_blocks,
            leader=_address_result(answers[0]),
            next_leader=_address_result(answers[1]),
            jailed=int(answers[2]["result"], 16) != 0,
        )
        role = decide_role(view, self.me, self.handoff, self.deadline_blocks)
        if role is not Role.LEAD:
            self.ready = False
        if role is not self.role or self.view is None or view.term != self.view.term:
            log.info(
                "leader schedule",
                extra={
                    "event": "role",
                    "role": str(role),
                    "term": view.term,
                    "leader": view.leader,
                    "next_leader": view.next_leader,
                    "l1_head": head,
                },
            )
        self.view, self.role = view, role
        await self._read_endpoints([a for a in (view.leader, view.next_leader) if a])

    async def _read_endpoints(self, addresses: list[str]) -> None:
        wanted = [a for a in addresses if not _same(a, self.me) and a.lower() not in self.overrides]
        if not wanted:
            return
        assert self.seq.l1 is not None
        answers = await self.seq.l1.batch(
            [
                (
                    "eth_call",
                    [_call(self.registry, "endpoint(address)", ["address"], [a]), "latest"],
                )
                for a in wanted
            ]
        )
        for address, answer in zip(wanted, answers, strict=True):
            if "error" in answer:
                continue
            (url,) = abi_decode(["string"], bytes.fromhex(answer["result"][2:]))
            if url:
                self.endpoints[address.lower()] = url.rstrip("/")
            else:
                self.endpoints.pop(address.lower(), None)

    def url_of(self, address: str) -> str | None:
        return self.overrides.get(address.lower()) or self.endpoints.get(address.lower())

    # --- admission and forwarding ---

    @property
    def accepting(self) -> bool:
        return self.role is Role.LEAD and self.ready

    def check_accepting(self) -> None:
        """Raise `NotAccepting` unless this node may promise positions now."""
        if self.accepting:
            return
        view = self.view
        if self.role is Role.DRAIN and view is not None:
            raise NotAccepting(
                ERR_SERVER,
                f"sequencer {self.me} takes no new transactions: its term {view.term} ends at "
                f"L1 block {view.end} and the next is led by {view.next_leader}; retry",
                {"retryAtL1Block": view.end + 1, "nextLeader": view.next_leader},
            )
        if self.role is Role.LEAD:
            raise NotAccepting(ERR_SERVER, "the leader is catching up with L1; retry")
        raise NotAccepting(ERR_SERVER, f"sequencer {self.me} does not lead the current term")

    async def forward(self, chain_id: int | None, method: str, params: list[Any]) -> Any:
        """Send the call to the sequencer that takes writes now; its result, or its error as a
        `NotAccepting` carrying the same code, message and data."""
        self.check_forwardable()
        view = self.view
        assert view is not None
        target = write_target(view, self.me)
        if target is None:
            raise NotAccepting(ERR_SERVER, f"no sequencer leads term {view.term}: retry later")
        url = self.url_of(target)
        if url is None:
            raise NotAccepting(
                ERR_SERVER,
                f"no RPC endpoint known for {target}, the leader of term {view.term}: it has "
                "published none (SequencerRegistry.set_endpoint) and leader_urls has none",
            )
        path = f"{url}/{chain_id}" if chain_id is not None else f"{url}/"
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        session = self.seq.session
        assert session is not None
        try:
            async with session.post(
                path, json=body, headers={FORWARDED_HEADER: self.me}
            ) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise NotAccepting(
                ERR_INTERNAL, f"the leader {target} at {url} did not answer: {exc}"
            ) from None
        if not isinstance(answer, dict):
            raise NotAccepting(ERR_INTERNAL, f"the leader {target} answered {answer!r}")
        if "error" in answer:
            err = answer["error"]
            raise NotAccepting(
                err.get("code", ERR_INTERNAL), err.get("message", ""), err.get("data")
            )
        return answer.get("result")

    async def lookup(self, chain_id: int | None, method: str, params: list[Any]) -> Any:
        """A promise lookup (`FORWARDED_LOOKUPS`) this node could not answer, asked of the
        leader: the promises of forwarded writes are the leader's. None when it cannot tell."""
        if method not in FORWARDED_LOOKUPS or self.accepting or forwarded_by.get() is not None:
            return None
        try:
            return await self.forward(chain_id, method, params)
        except NotAccepting:
            return None

    def check_forwardable(self) -> None:
        if self.role is Role.DRAIN or self.role is Role.LEAD:
            self.check_accepting()  # this node leads the term: nothing to forward to
        if forwarded_by.get() is not None:
            raise NotAccepting(
                ERR_SERVER,
                f"sequencer {self.me} does not lead the current term (a forwarded write is not "
                "forwarded again)",
            )

    # --- the node loop ---

    def _unsealed(self) -> bool:
        return any(chain.runtime.plan.blocks for chain in self.seq.chains.values())

    async def run(self, builder: Builder) -> None:
        """Build slots while leading (or draining promised blocks); follow L1 otherwise."""
        await builder.run(self._may_build)

    async def _may_build(self) -> bool:
        """Before each slot: True to build it; otherwise take one following step and wait."""
        role = self.role
        if role is Role.LEAD or (role is Role.DRAIN and self._unsealed()):
            if role is Role.DRAIN or self.ready or await self._try(self.take_over):
                return True
        elif role is Role.FOLLOW:
            await self._try(lambda: self.follow_once(abandon=True))
        await asyncio.sleep(self.follow_poll_s)
        return False

    async def _try(self, step: Callable[[], Awaitable[object]]) -> bool:
        """Run one follow or take-over step; an L1 or engine fault is logged and retried on the
        next round, while a batch that does not replay (or a gap) halts the service."""
        try:
            return await step() is not False
        except (DerivationMismatch, LeaderError, BuildError):
            raise
        except Exception as exc:  # noqa: BLE001 - L1 or an engine unreachable: try again
            log.warning("following L1 failed; retrying", extra={"error": str(exc)})
            return False

    async def take_over(self) -> bool:
        """Start a term as leader: hold every posted block, then build on the last ones. False
        while the batches posted before the term are not yet `follow_confirmations` deep."""
        await self.follow_once(abandon=False)
        view = self.view
        if view is not None and self.follow.scanned_to < view.term * view.term_blocks - 1:
            return False
        for chain in self.seq.chains.values():
            if chain.runtime.plan.blocks:
                continue  # promises restored from the journal: the plan already continues them
            latest = await chain.engine.call("eth_getBlockByNumber", ["latest", False])
            self._reset_chain(chain, head_from_block(latest))
        self._resume_forced_queue()
        self.ready = self.role is Role.LEAD  # the role may have moved on meanwhile
        log.info(
            "leading",
            extra={
                "event": "take_over",
                "term": view.term if view else None,
                "heads": ",".join(
                    f"{c}:{chain.plan.head.number}" for c, chain in self.seq.chains.items()
                ),
            },
        )
        return self.ready

    def _reset_chain(self, chain: ChainState, head: HeadInfo) -> None:
        chain.runtime.reset(head)
        chain.ledger = SenderLedger()  # nonces and balances moved with the derived blocks
        self.seq.metrics.head.labels(str(chain.chain_id)).set(head.number)
        self.seq.metrics.pending.labels(str(chain.chain_id)).set(0)

    def _resume_forced_queue(self) -> None:
        forced = self.seq.forced
        if forced is None:
            return
        for chain_id in self.seq.chains:
            used = self.follow.forced_used.get(chain_id, 0)
            queue = self.follow.forced_queue.get(chain_id, [])
            if used == 0 or used > len(queue):
                continue
            forced.skip_before(chain_id, queue[used - 1][0] + 1)

    # --- following ---

    async def follow_once(self, abandon: bool) -> int:
        """Replay every batch posted since the last round onto this node's engines; returns how
        many blocks were replayed. With `abandon`, first drop this node's sealed or promised
        blocks that L1 does not hold (it no longer leads: they can never be posted)."""
        source = self._source
        follow = self.follow
        l1 = self.seq.l1
        assert l1 is not None  # the service sets it before it starts the leader node
        latest = int(await l1.call("eth_blockNumber"), 16)
        head = latest - self.confirmations  # batches this deep are final enough to replay
        posted = []
        if head > follow.scanned_to:
            posted = await asyncio.to_thread(source.batches, follow.scanned_to + 1, head)
        replayed = 0
        for item in posted:
            header = item.header
            if header.sequence < follow.next_sequence:
                continue
            if header.sequence != follow.next_sequence:
                raise LeaderError(
                    f"batch {header.sequence} read before batch {follow.next_sequence}"
                )
            data = bc.decode(item.payload)
            if any(b.forced_count for r in data.ranges for b in r.blocks):
                follow.forced_queue = await asyncio.to_thread(source.forced_queue)
            replayed += await self._apply(header, data)
            follow.next_sequence = header.sequence + 1
        follow.scanned_to = head
        if abandon:
            for chain_id, chain in self.seq.chains.items():
                tip = follow.tips.get(chain_id, (0, b""))[0]
                await self._abandon_after(chain, tip, only_own=True)
        self.derived_blocks += replayed
        return replayed

    async def _apply(self, header: BatchHeader, data: bc.BatchData) -> int:
        """Replay the ranges of one batch this node's engines do not hold yet."""
        follow = self.follow
        by_chain = {r.chain_id: r for r in data.ranges}
        todo_commitments, todo_ranges, forced = [], [], {}
        for commitment in header.rollups:
            chain_id = commitment.chain_id
            rng = by_chain[chain_id]
            used = follow.forced_used[chain_id]
            count = sum(b.forced_count for b in rng.blocks)
            forced[chain_id] = follow.forced_queue.get(chain_id, [])[used : used + count]
            follow.forced_used[chain_id] = used + count
            follow.tips[chain_id] = (commitment.last_block, commitment.last_block_hash)
            chain = self.seq.chains.get(chain_id)
            if chain is None:
                continue  # a rollup this node does not run
            first, last = commitment.first_block, commitment.last_block
            latest = head_from_block(
                await chain.engine.call("eth_getBlockByNumber", ["latest", False])
            )
            if last <= latest.number:
                held = await chain.engine.call("eth_getBlockByNumber", [hex(last), False])
                if bytes.fromhex(held["hash"][2:]) == commitment.last_block_hash:
                    continue  # already held (this node's own posted blocks)
            if first <= latest.number:
                await self._abandon_after(chain, first - 1, only_own=False)
            elif first > latest.number + 1:
                raise LeaderError(
                    f"rollup {chain_id}: batch {header.sequence} starts at block {first} but "
                    f"the engine is at {latest.number}: blocks are missing"
                )
            todo_commitments.append(commitment)
            todo_ranges.append(rng)
        if not todo_ranges:
            return 0
        sub_header = replace(header, rollups=tuple(todo_commitments))
        sub_data = bc.BatchData(tuple(todo_ranges))
        engines = {c.chain_id: self.seq.chains[c.chain_id].engine for c in todo_commitments}
        derived = await derive_batch(sub_header, sub_data, engines, forced)
        for done in derived:
            chain = self.seq.chains[done.chain_id]
            latest = await chain.engine.call("eth_getBlockByNumber", ["latest", False])
            self._reset_chain(chain, head_from_block(latest))
        log.info(
            "followed batch",
            extra={"event": "follow", "sequence": header.sequence, "term": header.term},
        )
        return sum(len(r.blocks) for r in derived)

    async def _abandon_after(self, chain: ChainState, keep_to: int, only_own: bool) -> None:
        """Drop every block above `keep_to` from the engine, the plan and the journal.

        `only_own`: only when the first of them is a block this node sealed (never blocks it did
        not seal, such as the deployment's, which a later batch may still post)."""
        chain_id = chain.chain_id
        await self.seq.journal.barrier()  # promises still on their way to disk are counted too
        latest = head_from_block(await chain.engine.call("eth_getBlockByNumber", ["latest", False]))
        promised = [
            r
            for r in self.seq.promises.values()
            if r.chain_id == chain_id and r.block_number > keep_to
        ]
        mined = max(0, latest.number - keep_to)
        if only_own and mined and self.seq.journal.block(chain_id, keep_to + 1) is None:
            mined = 0
        if not mined and not promised and not chain.runtime.plan.blocks:
            return
        if mined:
            parent = await chain.engine.call("eth_getBlockByNumber", [hex(keep_to), False])
            latest = head_from_block(parent)
        # The journal forgets them first, marking the engine to be rolled back if the service
        # stops before it is: the journal never holds a sealed block the engine lost.
        await self.seq.journal.abandon_after(chain_id, latest.number, rewind_engine=bool(mined))
        if mined:  # back to the last block L1 holds (`rewind` also sets the next base fee)
            await rewind(chain.engine, latest)
            await self.seq.journal.end_abandon()
        for record in promised:
            self.seq.promises.pop(record.tx_hash, None)
        due = self.seq.due[chain_id]  # their deadlines are broken: they no longer hold back
        for number in [n for n in due if n > latest.number]:
            del due[number]
        self._reset_chain(chain, latest)
        self.abandoned_blocks += mined
        log.error(
            "abandoned blocks L1 never got",
            extra={
                "event": "abandon",
                "chain": chain_id,
                "kept_to": latest.number,
                "sealed_blocks": mined,
                "broken_promises": len([r for r in promised if r.promised]),
            },
        )

    # --- status ---

    def status_json(self) -> dict[str, Any]:
        view = self.view
        out: dict[str, Any] = {
            "role": str(self.role),
            "accepting": self.accepting,
            "handoffL1Blocks": self.handoff,
            "followedBatches": self.follow.next_sequence,
            "derivedBlocks": self.derived_blocks,
            "abandonedBlocks": self.abandoned_blocks,
        }
        if view is not None:
            target = write_target(view, self.me)
            out.update(
                {
                    "l1Head": view.l1_head,
                    "term": view.term,
                    "termEnd": view.end,
                    "termBlocks": view.term_blocks,
                    "leader": view.leader,
                    "nextLeader": view.next_leader,
                    "forwardTo": target,
                    "forwardUrl": self.url_of(target) if target else None,
                }
            )
        return out


def leader_node_for(seq: LeaderHost) -> LeaderNode | None:
    """Leader awareness for a manifest with a SequencerRegistry and a SharedInbox on its L1;
    None without them (a standalone sequencer that builds all the time)."""
    contracts = seq.manifest.l1.contracts
    registry, inbox = contracts.get("SequencerRegistry"), contracts.get("SharedInbox")
    if registry is None or inbox is None:
        return None
    return LeaderNode(seq, to_checksum_address(registry.address), (inbox.address, inbox.abi))
