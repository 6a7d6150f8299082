"""The fisherman: watches L1 and the sequencer's signed promises, and submits evidence of every
broken one to the Slasher (DESIGN §5).

Owns, in a pure core: the Slasher's lateness rule (a batch posted in L1 block P is late for
deadline D iff P > D), which forced items are overdue or were consumed late, whether a committed
range keeps a signed pre-confirmation (its leaves rebuilt from the batch payload as derivation
does, with proofs drawn from them), which batch proves a block was not covered by its deadline,
and whether two signed block headers conflict; at the edge (`Fisherman`): reading the
SharedInbox, the rollups and the sequencer's RPC, and sending evidence through the TxManager
with its own key. It must never submit evidence it has not verified locally and dry-run with an
`eth_call` to the Slasher, never submit an evidence id twice (the registry's `evidence_used` is
read first), and never hold or ask for the sequencer's key.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from sequencer import batch_codec as bc
from sequencer import commitments as cm
from sequencer.engine import SyncEngineClient

if TYPE_CHECKING:  # web3 is imported lazily (see Fisherman.__init__)
    from web3.contract import Contract

log = logging.getLogger("sequencer.fisherman")

# The Slasher's conditions, as `ViolationProven` logs them and its evidence ids are tagged.
EQUIVOCATION = 1
PRECONF_VIOLATION = 2
BUNDLE_VIOLATION = 3
CENSORSHIP = 4

# anvil's well-known account #4 (mnemonic "test test ... junk"): the devnet fisherman.
# PUBLIC KEY MATERIAL, DEVNET ONLY: anyone can sign with it.
DEVNET_FISHERMAN_KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
DEVNET_L1_CHAIN_ID = 31337


# --- evidence ids, as the Slasher computes them ---


def censorship_evidence_id(queue_index: int) -> bytes:
    return keccak(encode(["uint8", "uint256"], [CENSORSHIP, queue_index]))


def preconf_evidence_id(preconf: cm.PreconfMsg) -> bytes:
    return keccak(encode(["uint8", "bytes32"], [PRECONF_VIOLATION, preconf.struct_hash()]))


def bundle_evidence_id(receipt: cm.BundleReceiptMsg) -> bytes:
    return keccak(encode(["uint8", "bytes32"], [BUNDLE_VIOLATION, receipt.struct_hash()]))


def equivocation_evidence_id(signer: str, chain_id: int, block_number: int) -> bytes:
    return keccak(
        encode(
            ["uint8", "address", "uint256", "uint256"],
            [EQUIVOCATION, to_checksum_address(signer), chain_id, block_number],
        )
    )


# --- signed messages as the sequencer's RPC returns them ---


def _bytes(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


@dataclass(frozen=True)
class SignedPreconf:
    """A `Preconf` and its signature (`seq_sendRawTransaction` / `seq_getPreconfirmation`)."""

    msg: cm.PreconfMsg
    signature: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedPreconf:
        msg = cm.PreconfMsg(
            chain_id=int(data["chainId"]),
            block_number=int(data["blockNumber"]),
            index=int(data["index"]),
            tx_hash=_bytes(data["txHash"]),
            deadline=int(data["deadline"]),
        )
        return cls(msg, _bytes(data["signature"]))

    def signer(self, domain: cm.Domain) -> str:
        return cm.recover(cm.digest(domain, self.msg), self.signature)

    def as_args(self) -> tuple[tuple, bytes]:
        m = self.msg
        return (m.chain_id, m.block_number, m.index, m.tx_hash, m.deadline), self.signature


@dataclass(frozen=True)
class SignedHeader:
    """A `BlockHeader` and its signature (`seq_getBlockHeader`)."""

    msg: cm.BlockHeaderMsg
    signature: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedHeader:
        msg = cm.BlockHeaderMsg(
            chain_id=int(data["chainId"]),
            block_number=int(data["blockNumber"]),
            block_hash=_bytes(data["blockHash"]),
            parent_hash=_bytes(data["parentHash"]),
        )
        return cls(msg, _bytes(data["signature"]))

    def signer(self, domain: cm.Domain) -> str:
        return cm.recover(cm.digest(domain, self.msg), self.signature)

    def as_args(self) -> tuple[tuple, bytes]:
        m = self.msg
        return (m.chain_id, m.block_number, m.block_hash, m.parent_hash), self.signature


@dataclass(frozen=True)
class SignedReceipt:
    """A `BundleReceipt`, its legs and its signature (`seq_getBundleReceipt`)."""

    msg: cm.BundleReceiptMsg
    legs: tuple[tuple[int, int, int, bytes], ...]  # (chain id, block, index, tx hash)
    signature: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedReceipt:
        legs = tuple(
            (int(leg["chainId"]), int(leg["blockNumber"]), int(leg["index"]), _bytes(leg["txHash"]))
            for leg in data["legs"]
        )
        msg = cm.BundleReceiptMsg(
            bundle_hash=_bytes(data["bundleHash"]),
            legs_hash=_bytes(data["legsHash"]),
            beneficiary=to_checksum_address(data["beneficiary"]),
            deadline=int(data["deadline"]),
        )
        if cm.legs_hash(legs) != msg.legs_hash:
            raise ValueError("the legs do not hash to the receipt's legsHash")
        return cls(msg, legs, _bytes(data["signature"]))

    def signer(self, domain: cm.Domain) -> str:
        return cm.recover(cm.digest(domain, self.msg), self.signature)

    def as_args(self) -> tuple[tuple, bytes, list[tuple]]:
        m = self.msg
        receipt = (m.bundle_hash, m.legs_hash, m.beneficiary, m.deadline)
        return receipt, self.signature, [tuple(leg) for leg in self.legs]


# --- pure checks ---


@dataclass(frozen=True)
class ForcedItem:
    """One forced-inclusion item as `SharedInbox.forced_status` reports it."""

    index: int
    sender: str
    deadline: int  # L1 block
    consumed: bool


def posted_late(posted_block: int, deadline: int) -> bool:
    """The Slasher's rule for every deadline (an L1 block): a batch posted in L1 block
    `posted_block` is late iff `posted_block > deadline`; the deadline block itself is on time."""
    return posted_block > deadline


def last_on_time(posted: Iterable[tuple[int, int]], deadline: int) -> int | None:
    """Of batches given as (sequence, posted block), the sequence of the last one posted on time
    for `deadline` (None: every one was posted after it)."""
    on_time = [seq for seq, block in posted if not posted_late(block, deadline)]
    return max(on_time, default=None)


def consumed_late(
    prev_through: int, through: int, posted_block: int, deadlines: Mapping[int, int]
) -> list[int]:
    """Queue indexes a batch posted in `posted_block` consumed (from `prev_through`, its
    predecessor's `forced_through`, up to its own `through`) after their deadline."""
    return [i for i in range(prev_through, through) if posted_late(posted_block, deadlines[i])]


def overdue(items: Iterable[ForcedItem], l1_head: int) -> list[int]:
    """Queue indexes past their deadline and unconsumed at L1 block `l1_head` (the Slasher wants
    `block.number > deadline`, and the dry run executes at the head)."""
    return [item.index for item in items if not item.consumed and l1_head > item.deadline]


@dataclass(frozen=True)
class CommittedRange:
    """One rollup's range of one batch, its leaves rebuilt: tx hashes and counts from the payload,
    block hashes and statuses from a rollup node, skipped forced items from the L1 queue.
    `verified`: the rebuilt leaves give the committed tx root, so proofs drawn here verify;
    `posted_block`: the L1 block its batch was posted in (the inbox's `posted_block`)."""

    header: cm.BatchHeader
    rollup_index: int
    blocks: tuple[cm.BlockRecord, ...]
    skipped: Mapping[int, Sequence[bytes]]
    verified: bool
    posted_block: int

    @property
    def commitment(self) -> cm.RollupCommitment:
        return self.header.rollups[self.rollup_index]

    def covers(self, chain_id: int, number: int) -> bool:
        c = self.commitment
        return c.chain_id == chain_id and c.first_block <= number <= c.last_block

    def block(self, number: int) -> cm.BlockRecord:
        return self.blocks[number - self.commitment.first_block]

    def leaves(self) -> list[bytes]:
        return cm.range_leaves(self.blocks, self.skipped)

    def _position(self, number: int) -> int:
        """Position of the block's first tx leaf in the range's tree."""
        position = 0
        for block in self.blocks:
            if block.number == number:
                return position
            position += len(block.txs) + len(self.skipped.get(block.number, ())) + 1
        raise KeyError(number)

    def tx_proof(self, number: int, index: int) -> tuple[tuple, list[bytes]]:
        """(TxLeaf, proof) of the transaction at (number, index)."""
        block = self.block(number)
        tx = block.txs[index]
        proof = cm.MerkleTree(self.leaves()).proof(self._position(number) + index)
        return (block.chain_id, number, index, tx.tx_hash, tx.status), proof

    def block_proof(self, number: int) -> tuple[tuple, list[bytes]]:
        """(BlockLeaf, proof) of block `number`."""
        block = self.block(number)
        position = self._position(number) + len(block.txs) + len(self.skipped.get(block.number, ()))
        proof = cm.MerkleTree(self.leaves()).proof(position)
        return (block.chain_id, number, len(block.txs), block.block_hash), proof


@dataclass(frozen=True)
class Verdict:
    """What the committed data says of one promise. kind: kept | waiting | wrong_tx |
    short_block | not_posted | posted_late."""

    kind: str
    detail: str = ""

    @property
    def broken(self) -> bool:
        return self.kind not in ("kept", "waiting")


def judge_position(
    position: tuple[int, int, int, bytes],
    deadline: int,
    covering: CommittedRange | None,
    l1_head: int,
    need_success: bool = False,
) -> Verdict:
    """Whether the batch covering a promised (chain, block, index, tx hash) keeps the promise
    (`deadline`: L1 block; late as `posted_late` says). `need_success`: a bundle leg must also
    have succeeded. No covering batch is `not_posted` once the L1 head is past the deadline (the
    Slasher wants `block.number > deadline`, and the dry run executes at the head)."""
    _, number, index, tx_hash = position
    if covering is None:
        if l1_head > deadline:
            return Verdict("not_posted", f"no batch covers block {number}")
        return Verdict("waiting", f"deadline {deadline}, L1 head {l1_head}")
    block = covering.block(number)
    if len(block.txs) <= index:
        return Verdict("short_block", f"block holds {len(block.txs)} txs")
    tx = block.txs[index]
    if tx.tx_hash != tx_hash or tx.status == cm.STATUS_SKIPPED:
        return Verdict("wrong_tx", f"0x{tx.tx_hash.hex()} committed at that position")
    if need_success and tx.status != cm.STATUS_SUCCESS:
        return Verdict("wrong_tx", f"committed with status {tx.status}")
    if posted_late(covering.posted_block, deadline):
        return Verdict("posted_late", f"batch posted in L1 block {covering.posted_block}")
    return Verdict("kept")


def judge_preconf(preconf: cm.PreconfMsg, covering: CommittedRange | None, l1_head: int) -> Verdict:
    """Whether the batch covering the promised block keeps `preconf`."""
    p = preconf
    position = (p.chain_id, p.block_number, p.index, p.tx_hash)
    return judge_position(position, p.deadline, covering, l1_head)


def late_evidence(
    batches: Iterable[tuple[cm.BatchHeader, int]], chain_id: int, number: int, deadline: int
) -> tuple[cm.BatchHeader, int] | None:
    """The race-free proof that no batch posted by `deadline` covers block `number` of rollup
    `chain_id`, from committed batches given as (header, posted block) in sequence order: the
    first one posted after the deadline whose range of that rollup starts at or below the block
    (it covers the block late, or ends below it), as (header, rollup index) for the Slasher's
    `slash_*_posted_late`. It never goes stale; the batch's payload is not needed."""
    for header, posted_block in batches:
        if not posted_late(posted_block, deadline):
            continue
        for index, rollup in enumerate(header.rollups):
            if rollup.chain_id == chain_id and rollup.first_block <= number:
                return header, index
    return None


def conflicting(seen: Iterable[SignedHeader], header: SignedHeader) -> SignedHeader | None:
    """A header already seen for the same (chain, block) with another block hash."""
    for other in seen:
        same_block = (other.msg.chain_id, other.msg.block_number) == (
            header.msg.chain_id,
            header.msg.block_number,
        )
        if same_block and other.msg.block_hash != header.msg.block_hash:
            return other
    return None


# --- the shell ---


@dataclass(frozen=True)
class Submission:
    """Evidence sent to the Slasher and confirmed on L1."""

    kind: str  # censorship | preconf_<verdict> | bundle_<verdict> | equivocation
    function: str  # the Slasher entry point the evidence went to
    evidence_id: bytes
    l1_tx: bytes
    l1_block: int
    status: int
    slashed: int  # wei, from the dry run


@dataclass
class FishermanStats:
    checks: dict[str, int] = field(default_factory=dict)  # what was checked, by kind
    verdicts: dict[str, int] = field(default_factory=dict)  # outcome of each check
    submitted: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # broken promises the Slasher's dry run refused (not sent)
    already_used: int = 0  # evidence ids the registry has seen (another fisherman was first)
    unprovable: int = 0  # broken promises whose proof could not be built
    l1_conflicts: int = 0  # signed headers contradicting L1 with no second signed header

    def bump(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": dict(self.checks),
            "verdicts": dict(self.verdicts),
            "submitted": dict(self.submitted),
            "refused": self.refused,
            "alreadyUsed": self.already_used,
            "unprovable": self.unprovable,
            "l1Conflicts": self.l1_conflicts,
        }


class Fisherman:
    """Watch the inbox, the rollups and the sequencer's promises; slash what is broken.

    `rollups`: per chain id a JSON-RPC client of a rollup node (statuses and block hashes of the
    committed blocks); `sequencer`: the sequencer's RPC (optional), polled for the headers of new
    blocks and for the pre-confirmations of `watch_tx`.
    """

    def __init__(
        self,
        w3: Any,
        contracts: Mapping[str, tuple[str, list]],
        txmgr: Any,
        rollups: Mapping[int, SyncEngineClient],
        sequencer: SyncEngineClient | None = None,
    ) -> None:
        from web3 import Web3

        from sequencer.derive import L1BatchSource

        def contract(name: str) -> Contract:
            address, abi = contracts[name]
            return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

        self.w3 = w3
        self.slasher = contract("Slasher")
        self.inbox = contract("SharedInbox")
        self.registry = contract("SequencerRegistry")
        self.source = L1BatchSource(w3, self.inbox.address, contracts["SharedInbox"][1])
        self.txmgr = txmgr
        self.rollups = dict(rollups)
        self.sequencer = sequencer
        self.domain = cm.Domain(w3.eth.chain_id, self.slasher.address)
        self.preconfs: dict[bytes, SignedPreconf] = {}  # by struct hash
        self.receipts: dict[bytes, SignedReceipt] = {}  # by struct hash
        self.settled: set[bytes] = set()  # promises judged kept or slashed (struct hashes)
        self.headers: dict[tuple[int, int], list[SignedHeader]] = {}
        self.watch_tx: set[bytes] = set()
        self.ranges: dict[int, list[CommittedRange]] = {}
        self.batches: dict[int, tuple[cm.BatchHeader, int]] = {}  # sequence -> (header, posted)
        self._deadlines: dict[int, int] = {}  # forced queue index -> deadline (L1 block)
        self._late_checked = 0  # batches below this sequence were checked for late consumption
        self.done: set[bytes] = set()  # evidence ids sent or found used
        self.submissions: list[Submission] = []
        self.stats = FishermanStats()
        self._next_l1_block = 0
        self._forced_cursor: dict[int, int] = {}
        self._next_header: dict[int, int] = {}
        self._new_headers: set[tuple[int, int]] = set()  # (chain, block) with a header to judge
        self._l1_compared: set[tuple[int, int, bytes]] = set()  # headers compared with L1

    # --- inputs ---

    def add_preconf(self, data: Mapping[str, Any]) -> bool:
        """Keep a signed pre-confirmation (JSON as the RPC returns it) if its signature holds."""
        try:
            signed = SignedPreconf.from_json(data)
            signer = signed.signer(self.domain)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("pre-confirmation refused: %s", exc)
            return False
        if "signer" in data and to_checksum_address(data["signer"]) != signer:
            log.warning(
                "pre-confirmation for 0x%s not signed by its signer", signed.msg.tx_hash.hex()
            )
            return False
        self.preconfs.setdefault(signed.msg.struct_hash(), signed)
        return True

    def add_receipt(self, data: Mapping[str, Any]) -> bool:
        """Keep a signed bundle receipt (JSON as `seq_getBundleReceipt` returns it)."""
        try:
            signed = SignedReceipt.from_json(data)
            signer = signed.signer(self.domain)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("bundle receipt refused: %s", exc)
            return False
        if "signer" in data and to_checksum_address(data["signer"]) != signer:
            log.warning(
                "bundle receipt 0x%s not signed by its signer", signed.msg.bundle_hash.hex()
            )
            return False
        self.receipts.setdefault(signed.msg.struct_hash(), signed)
        return True

    def add_header(self, data: Mapping[str, Any]) -> bool:
        """Keep a signed block header (JSON as `seq_getBlockHeader` returns it)."""
        try:
            signed = SignedHeader.from_json(data)
            signed.signer(self.domain)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("block header refused: %s", exc)
            return False
        seen = self.headers.setdefault((signed.msg.chain_id, signed.msg.block_number), [])
        if all(h.msg != signed.msg or h.signature != signed.signature for h in seen):
            seen.append(signed)
            self._new_headers.add((signed.msg.chain_id, signed.msg.block_number))
            self.stats.bump(self.stats.checks, "header")
        return True

    def load_lines(self, path: Any, kind: str) -> int:
        """JSON lines of pre-confirmations (`kind="preconf"`), block headers (`"header"`) or
        bundle receipts (`"receipt"`)."""
        add = {"preconf": self.add_preconf, "header": self.add_header}.get(kind, self.add_receipt)
        count = 0
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    count += add(json.loads(line))
        return count

    # --- one round ---

    def step(self) -> list[Submission]:
        """One round, in priority order: censorship (unconsumed, then consumed late),
        pre-confirmations, equivocation, bundles."""
        sent: list[Submission] = []
        l1_head = self.w3.eth.block_number
        sent += self.check_censorship(l1_head)
        try:
            self._poll_sequencer()
        except Exception as exc:  # noqa: BLE001 - a silent sequencer must not stop the watch
            log.warning("the sequencer's RPC does not answer: %s", exc)
        self._read_batches()
        sent += self.check_late_forced()
        sent += self.check_preconfs(l1_head)
        sent += self.check_headers()
        sent += self.check_receipts(l1_head)
        return sent

    def run(self, stop: threading.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a fault in one round must not stop the watch
                log.exception("fisherman round failed; retrying")
            stop.wait(interval)

    # --- 1. censorship ---

    def forced_items(self) -> list[ForcedItem]:
        count = self.inbox.functions.forced_count().call()
        through = self.inbox.functions.forced_through().call()
        items = []
        for index in range(through, count):
            sender, deadline, consumed = self.inbox.functions.forced_status(index).call()
            items.append(ForcedItem(index, sender, deadline, consumed))
        return items

    def check_censorship(self, l1_head: int) -> list[Submission]:
        sent = []
        items = self.forced_items()
        self.stats.checks["censorship"] = self.stats.checks.get("censorship", 0) + len(items)
        for index in overdue(items, l1_head):
            evidence_id = censorship_evidence_id(index)
            if evidence_id in self.done:
                continue
            log.info("forced item %d is past its deadline and unconsumed", index)
            result = self._submit("censorship", evidence_id, "slash_censorship", [index])
            if result is not None:
                sent.append(result)
        return sent

    def check_late_forced(self) -> list[Submission]:
        """Forced items that a batch consumed after their deadline (every batch read is checked
        once): slashable with the last batch posted by the deadline (`slash_censorship_late`),
        or, when the first batch ever came after it, with none (`slash_censorship`)."""
        sent = []
        posted = [(seq, block) for seq, (_, block) in self.batches.items()]
        while self._late_checked in self.batches:
            seq = self._late_checked
            header, block = self.batches[seq]
            prev = self.batches[seq - 1][0].forced_through if seq else 0
            for index in range(prev, header.forced_through):
                if index not in self._deadlines:
                    self._deadlines[index] = self.inbox.functions.forced_status(index).call()[1]
            for index in consumed_late(prev, header.forced_through, block, self._deadlines):
                evidence_id = censorship_evidence_id(index)
                if evidence_id in self.done:
                    continue
                deadline = self._deadlines[index]
                last = last_on_time(posted, deadline)
                log.info(
                    "forced item %d (deadline %d) consumed late, by batch %d in L1 block %d",
                    index,
                    deadline,
                    seq,
                    block,
                )
                args: list[Any]
                if last is None:
                    fn, args = "slash_censorship", [index]
                else:
                    fn, args = "slash_censorship_late", [index, self.batches[last][0].as_tuple()]
                result = self._submit("censorship", evidence_id, fn, args)
                if result is not None:
                    sent.append(result)
            self._late_checked = seq + 1
        return sent

    # --- 2. pre-confirmations ---

    def _covering(self, chain_id: int, number: int) -> CommittedRange | None:
        for rng in self.ranges.get(chain_id, []):
            if rng.covers(chain_id, number):
                return rng
        return None

    def _tip(self, chain_id: int) -> tuple[int, bytes]:
        ranges = self.ranges.get(chain_id)
        if not ranges:
            return 0, cm.ZERO_HASH
        last = ranges[-1].commitment
        return last.last_block, last.last_block_hash

    def check_preconfs(self, l1_head: int) -> list[Submission]:
        sent = []
        for key, signed in list(self.preconfs.items()):
            if key in self.settled:
                continue
            p = signed.msg
            covering = self._covering(p.chain_id, p.block_number)
            verdict = judge_preconf(p, covering, l1_head)
            self.stats.bump(self.stats.checks, "preconf")
            self.stats.bump(self.stats.verdicts, f"preconf_{verdict.kind}")
            log.info(
                "pre-confirmation 0x%s (chain %d block %d index %d): %s %s",
                p.tx_hash.hex(),
                p.chain_id,
                p.block_number,
                p.index,
                verdict.kind,
                verdict.detail,
            )
            if verdict.kind == "kept":
                self.settled.add(key)
                continue
            if verdict.kind == "waiting":
                continue
            position = (p.chain_id, p.block_number, p.index, p.tx_hash)
            evidence = self._evidence(verdict, covering, position, p.deadline)
            if evidence is None:
                continue
            form, extra = evidence
            preconf, signature = signed.as_args()
            fn, args = f"slash_preconf_{form}", [preconf, signature, *extra]
            result = self._submit(f"preconf_{verdict.kind}", preconf_evidence_id(p), fn, args)
            if result is not None:
                sent.append(result)
            if preconf_evidence_id(p) in self.done:
                self.settled.add(key)
        return sent

    def _evidence(
        self,
        verdict: Verdict,
        covering: CommittedRange | None,
        position: tuple[int, int, int, bytes],
        deadline: int,
    ) -> tuple[str, list[Any]] | None:
        """The Slasher entry point's suffix (`slash_*_<form>`) and the arguments after the
        signed message it wants for a broken promise at `position`, or None when no proof can
        be drawn. A block not covered by the deadline is proven by a batch posted after it
        (`posted_late`, race-free) whenever one names the rollup; only when none does yet, by
        the rollup's current tip (`not_posted`, stale if a batch naming it lands first: the
        next round then has such a batch)."""
        chain_id, number, index, tx_hash = position
        if verdict.kind in ("not_posted", "posted_late"):
            batches = (self.batches[seq] for seq in sorted(self.batches))
            late = late_evidence(batches, chain_id, number, deadline)
            if late is not None:
                return "posted_late", [late[0].as_tuple(), late[1]]
            return "not_posted", list(self._tip(chain_id))
        assert covering is not None
        where = [covering.header.as_tuple(), covering.rollup_index]
        if not covering.verified:
            self.stats.unprovable += 1
            log.warning(
                "broken promise for 0x%s: the rebuilt leaves do not give the committed tx "
                "root, so no proof can be drawn (run `sequencer derive`)",
                tx_hash.hex(),
            )
            return None
        if verdict.kind == "wrong_tx":
            return "wrong_tx", [*where, *covering.tx_proof(number, index)]
        return "short_block", [*where, *covering.block_proof(number)]

    # --- 3. equivocation ---

    def check_headers(self) -> list[Submission]:
        """Each (chain, block) that received a header since the last round: two headers by one
        signer with different hashes are equivocation. Every header whose block L1 has
        committed is compared with it once."""
        sent = []
        for key in sorted(self._new_headers):
            seen = self.headers[key]
            for i, header in enumerate(seen):
                other = conflicting(seen[:i], header)
                if other is None:
                    continue
                signer = header.signer(self.domain)
                if other.signer(self.domain) != signer:
                    continue  # two sequencers (e.g. across a leader change): no equivocation
                log.info("equivocation: %s signed two headers for chain %d block %d", signer, *key)
                first, first_sig = other.as_args()
                second, second_sig = header.as_args()
                result = self._submit(
                    "equivocation",
                    equivocation_evidence_id(signer, *key),
                    "slash_equivocation",
                    [first, first_sig, second, second_sig],
                )
                if result is not None:
                    sent.append(result)
        self._new_headers.clear()
        for (chain_id, number), seen in self.headers.items():
            covering = self._covering(chain_id, number)
            if covering is None or not covering.verified:
                continue
            committed = covering.block(number).block_hash
            for header in seen:
                mark = (chain_id, number, header.msg.block_hash)
                if mark in self._l1_compared:
                    continue
                self._l1_compared.add(mark)
                if header.msg.block_hash != committed:
                    self.stats.l1_conflicts += 1
                    log.warning(
                        "signed header of chain %d block %d (0x%s) contradicts L1 (0x%s): the "
                        "Slasher takes it only with a second signed header for that block",
                        chain_id,
                        number,
                        header.msg.block_hash.hex(),
                        committed.hex(),
                    )
        return sent

    # --- 4. bundle receipts ---

    def check_receipts(self, l1_head: int) -> list[Submission]:
        sent = []
        for key, signed in list(self.receipts.items()):
            if key in self.settled:
                continue
            self.stats.bump(self.stats.checks, "bundle")
            broken, waiting = None, False
            for leg_index, leg in enumerate(signed.legs):
                covering = self._covering(leg[0], leg[1])
                verdict = judge_position(leg, signed.msg.deadline, covering, l1_head, True)
                waiting = waiting or verdict.kind == "waiting"
                if verdict.broken:
                    broken = (leg_index, leg, verdict, covering)
                    break
            kind = broken[2].kind if broken else ("waiting" if waiting else "kept")
            self.stats.bump(self.stats.verdicts, f"bundle_{kind}")
            log.info("bundle receipt 0x%s: %s", signed.msg.bundle_hash.hex(), kind)
            if broken is None:
                if not waiting:
                    self.settled.add(key)
                continue
            leg_index, leg, verdict, covering = broken
            evidence = self._evidence(verdict, covering, leg, signed.msg.deadline)
            if evidence is None:
                continue
            form, extra = evidence
            receipt, signature, legs = signed.as_args()
            evidence_id = bundle_evidence_id(signed.msg)
            result = self._submit(
                f"bundle_{verdict.kind}",
                evidence_id,
                f"slash_bundle_{form}",
                [receipt, signature, legs, leg_index, *extra],
            )
            if result is not None:
                sent.append(result)
            if evidence_id in self.done:
                self.settled.add(key)
        return sent

    # --- reading ---

    def _poll_sequencer(self) -> None:
        if self.sequencer is None:
            return
        for tx_hash in list(self.watch_tx):
            answer = self.sequencer.call("seq_getPreconfirmation", ["0x" + tx_hash.hex()])
            if answer is not None and self.add_preconf(answer):
                self.watch_tx.discard(tx_hash)
        status = self.sequencer.call("seq_status", [])
        for chain, state in status.get("chains", {}).items():
            chain_id = int(chain)
            start = self._next_header.get(chain_id, 1)
            for number in range(start, int(state["head"]) + 1):
                header = self.sequencer.call("seq_getBlockHeader", [chain_id, number])
                if header is not None:
                    self.add_header(header)
            self._next_header[chain_id] = max(start, int(state["head"]) + 1)

    def _reorged(self) -> bool:
        """Whether the last batch read is no longer the one the inbox holds at its sequence."""
        last = max(
            (r.header for rs in self.ranges.values() for r in rs),
            key=lambda h: h.sequence,
            default=None,
        )
        if last is None:
            return False
        return self.inbox.functions.batch_hash(last.sequence).call() != last.hash()

    def _read_batches(self) -> None:
        if self._reorged():
            # An L1 reorg replaced batches already read: read every batch again, and judge
            # every promise again (evidence already used stays used: the registry is asked).
            log.warning("L1 reorg: a batch read before is gone; reading the inbox again")
            self.ranges.clear()
            self.batches.clear()
            self._late_checked = 0
            self.settled.clear()
            self._l1_compared.clear()
            self._forced_cursor.clear()
            self._next_l1_block = 0
        head = self.w3.eth.block_number
        if head < self._next_l1_block:
            return
        posted = self.source.batches(self._next_l1_block, head)
        queue = self.source.forced_queue() if posted else {}
        for item in posted:
            self.batches[item.header.sequence] = (item.header, item.l1_block)
            try:
                data = bc.decode(item.payload)
            except bc.CodecError as exc:
                log.warning("batch %d: payload does not decode: %s", item.header.sequence, exc)
                continue
            by_chain = {r.chain_id: r for r in data.ranges}
            for index, commitment in enumerate(item.header.rollups):
                rng = by_chain.get(commitment.chain_id)
                if rng is None:
                    log.warning(
                        "batch %d: no payload for rollup %d",
                        item.header.sequence,
                        commitment.chain_id,
                    )
                    continue
                committed = self._rebuild(
                    item.header, index, rng, queue.get(rng.chain_id, []), item.l1_block
                )
                self.ranges.setdefault(commitment.chain_id, []).append(committed)
                log.info(
                    "batch %d rollup %d blocks %d..%d read (leaves %s)",
                    item.header.sequence,
                    commitment.chain_id,
                    commitment.first_block,
                    commitment.last_block,
                    "rebuild the committed root" if committed.verified else "DO NOT rebuild it",
                )
        self._next_l1_block = head + 1

    def _rebuild(
        self,
        header: cm.BatchHeader,
        rollup_index: int,
        rng: bc.RangeData,
        queue: Sequence[tuple[int, bytes]],
        posted_block: int,
    ) -> CommittedRange:
        """The range's leaves: tx hashes and positions from the payload; statuses and block hashes
        from the rollup node; skipped forced items from the L1 queue (as `derive` does)."""
        chain_id = rng.chain_id
        node = self.rollups.get(chain_id)
        cursor = self._forced_cursor.get(chain_id, 0)
        blocks, skipped = [], {}
        consistent = node is not None
        for block in rng.blocks:
            items = list(queue[cursor : cursor + block.forced_count])
            cursor += block.forced_count
            if block.forced_skipped:
                skipped[block.number] = [
                    cm.skipped_leaf(chain_id, block.number, items[k][0], items[k][1])
                    for k in block.forced_skipped
                    if k < len(items)
                ]
            hashes = [keccak(raw) for raw in block.txs]
            statuses = [cm.STATUS_SUCCESS] * len(hashes)
            block_hash = cm.ZERO_HASH
            if consistent and node is not None:  # consistent implies a node
                mined = node.call("eth_getBlockByNumber", [hex(block.number), False])
                if mined is None or [_bytes(h) for h in mined["transactions"]] != hashes:
                    consistent = False
                else:
                    block_hash = _bytes(mined["hash"])
                    if hashes:
                        receipts = node.call("eth_getBlockReceipts", [hex(block.number)])
                        statuses = [int(r["status"], 16) for r in receipts]
            txs = tuple(
                cm.TxRecord(i, h, s) for i, (h, s) in enumerate(zip(hashes, statuses, strict=True))
            )
            blocks.append(cm.BlockRecord(chain_id, block.number, block_hash, txs))
        self._forced_cursor[chain_id] = cursor
        committed = CommittedRange(
            header, rollup_index, tuple(blocks), skipped, False, posted_block
        )
        verified = (
            consistent and cm.MerkleTree(committed.leaves()).root == committed.commitment.tx_root
        )
        return replace(committed, verified=verified)

    # --- sending ---

    def _submit(
        self, kind: str, evidence_id: bytes, fn_name: str, args: list[Any]
    ) -> Submission | None:
        """Dry-run the evidence with an eth_call, then send it; once per evidence id."""
        from web3.exceptions import ContractLogicError

        from sequencer.txmgr import TxManagerError, TxRequest

        if evidence_id in self.done:
            return None
        if self.registry.functions.evidence_used(evidence_id).call():
            self.done.add(evidence_id)
            self.stats.already_used += 1
            log.info("%s evidence 0x%s already used: not sent", kind, evidence_id.hex())
            return None
        function = getattr(self.slasher.functions, fn_name)(*args)
        try:
            amount = function.call({"from": self.txmgr.address})
        except ContractLogicError as exc:
            self.stats.refused += 1
            log.warning(
                "%s evidence 0x%s refused by the Slasher's dry run: %s",
                kind,
                evidence_id.hex(),
                exc,
            )
            return None
        data = bytes.fromhex(self.slasher.encode_abi(fn_name, args=args)[2:])
        try:
            confirmed = self.txmgr.send_and_wait(TxRequest(to=self.slasher.address, data=data))
        except TxManagerError as exc:
            log.warning("%s evidence 0x%s not confirmed: %s", kind, evidence_id.hex(), exc)
            return None
        if confirmed.status == 1:
            self.done.add(evidence_id)
            self.stats.bump(self.stats.submitted, kind)
        submission = Submission(
            kind,
            fn_name,
            evidence_id,
            confirmed.tx_hash,
            confirmed.block_number,
            confirmed.status,
            amount,
        )
        self.submissions.append(submission)
        log.info(
            "%s evidence 0x%s submitted in L1 tx 0x%s (block %d, status %d): %d wei slashed",
            kind,
            evidence_id.hex(),
            confirmed.tx_hash.hex(),
            confirmed.block_number,
            confirmed.status,
            amount if confirmed.status == 1 else 0,
        )
        return submission
