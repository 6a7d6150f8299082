"""Which deadlines the sequencer may sign, and when it must stop promising (pure).

Owns the rule behind every deadline the service signs (pre-confirmations and bundle receipts):
`earliest_deadline` is the first L1 block by which a block sealed now is surely on L1 (the
batcher's cadence and backlog, its term margin, its confirmation depth), `check_bundle_deadline`
bounds a user's deadline between that and the evidence window, and `backpressure` says when the
unposted backlog or a stale L1 view puts the deadlines already signed at risk. It never reads a
chain or a clock: the service passes every figure in (sequencer/service.py).

The model (docs/service-and-rpc.md, "Deadlines and backpressure"). A block sealed at L1 head `h`
waits for the batcher's next round (at most `cadence` L1 blocks), behind the backlog of blocks
sealed before it (`backlog_rounds` more rounds); the round sends at head `s` and the batch lands in
block `s + 1`. The batcher sends nothing while fewer than `term_margin` L1 blocks are left in the
term (a header carries its term): such a round is skipped. The rounds' phase is unknown, so `s`
is the latest over every phase. If another sequencer leads the next term and `s` falls in it,
the block can never be posted by this node: no deadline is honourable. The deadline must leave
the batch `confirmations` more blocks (a post re-sent after a reorg or a fee bump) and `spare`
blocks on top (the slot's seal). A batch that lands by the deadline also meets the Slasher's
term rule (T * TERM_BLOCKS <= its landing block, for the term T it carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sequencer.posting import PostingPolicy, min_deadline_distance
from sequencer.refusals import Refused


@dataclass(frozen=True)
class PostingModel:
    """How fast a sealed block reaches L1 (all figures in L1 blocks)."""

    cadence: int  # between two batcher rounds
    confirmations: int  # the batcher's confirmation depth
    spare: int = 1  # the slot's seal and a fee bump
    term_blocks: int = 0  # 0: no terms (a standalone sequencer posts at any time)
    term_margin: int = 2  # the batcher sends nothing when fewer blocks are left in the term
    max_blocks_per_batch: int = 64  # rollup blocks one batch takes per rollup
    # The batcher's posting policy (sequencer/posting.py): it posts when the nearest deadline is
    # `policy_margin` L1 blocks away; 0: a batcher that posts every round, with no policy.
    policy_margin: int = 0


class Refusal(Refused):
    """A promise refused: it could not be kept now (message and `data`, always given)."""

    data: dict[str, Any]


def backlog_rounds(unposted_blocks: int, model: PostingModel) -> int:
    """Batcher rounds needed before a block sealed now is taken (the unposted blocks of the
    busiest rollup go first, `max_blocks_per_batch` per round)."""
    return max(0, unposted_blocks) // model.max_blocks_per_batch


def earliest_send(
    head: int, model: PostingModel, rounds: int = 0, leads_next: bool = True
) -> int | None:
    """The L1 head by which the batcher surely sends a block sealed at `head`, whatever the
    phase of its rounds (None: never, the block would have to be posted in a term another
    sequencer leads, or one not drawn yet)."""
    send = max(_send_at(head + phase, model, rounds) for phase in range(1, model.cadence + 1))
    if model.term_blocks <= 0:
        return send
    term, head_term = send // model.term_blocks, head // model.term_blocks
    if term > head_term + 1 or (term > head_term and not leads_next):
        return None
    return send


def _send_at(first: int, model: PostingModel, rounds: int) -> int:
    """The round that takes the block, for rounds at `first`, `first + cadence`, ...: rounds in
    a term's last `term_margin` blocks send nothing; `rounds` full batches go first."""
    send = first
    while True:
        if not _in_margin(send, model):
            if rounds == 0:
                return send
            rounds -= 1
        send += model.cadence


def _in_margin(head: int, model: PostingModel) -> bool:
    if model.term_blocks <= 0:
        return False
    return (head // model.term_blocks + 1) * model.term_blocks - 1 - head < model.term_margin


def earliest_deadline(
    head: int, model: PostingModel, unposted_blocks: int = 0, leads_next: bool = True
) -> int | None:
    """The earliest deadline (L1 block) the sequencer can honour for a block sealed at `head`;
    None when no deadline is (the block would be posted in another sequencer's term)."""
    send = earliest_send(head, model, backlog_rounds(unposted_blocks, model), leads_next)
    if send is None:
        return None
    earliest = send + 1 + model.confirmations + model.spare
    if model.policy_margin > 0:
        # the batcher waits until a deadline is `policy_margin` away: only a deadline the
        # policy always meets may be signed (posting.min_deadline_distance)
        policy = PostingPolicy(margin_blocks=model.policy_margin)
        earliest = max(earliest, head + min_deadline_distance(policy, model.term_margin))
    return earliest


def check_bundle_deadline(
    deadline: int,
    head: int,
    model: PostingModel,
    evidence_window: int,
    unposted_blocks: int = 0,
    leads_next: bool = True,
) -> None:
    """Raise `Refusal` unless `deadline` (L1 block) is one the sequencer can honour and a
    fisherman can still prove: at least `earliest_deadline`, at most `head + evidence_window`."""
    latest = head + evidence_window
    if deadline > latest:
        raise Refusal(
            f"bundle deadline {deadline} is beyond the evidence window: at most L1 block "
            f"{latest} (head {head} + {evidence_window})",
            {"latestDeadline": latest, "l1Head": head, "evidenceWindowBlocks": evidence_window},
        )
    earliest = earliest_deadline(head, model, unposted_blocks, leads_next)
    if earliest is None:
        raise Refusal(
            f"no deadline can be honoured now: the term ends before the batcher can post "
            f"(L1 head {head}); retry in the next term",
            {"l1Head": head, "retryAtL1Block": (head // model.term_blocks + 1) * model.term_blocks}
            if model.term_blocks
            else {"l1Head": head},
        )
    if deadline < earliest:
        raise Refusal(
            f"bundle deadline {deadline} is too soon: the earliest deadline the sequencer can "
            f"honour is L1 block {earliest} (head {head})",
            {"earliestDeadline": earliest, "l1Head": head},
        )


@dataclass(frozen=True)
class Pressure:
    """What the service knows now about the promises it already signed."""

    l1_head: int
    l1_age_s: float  # seconds since the L1 head was last read
    oldest_unposted_deadline: int | None  # the nearest deadline among unposted promises


@dataclass(frozen=True)
class PressureLimits:
    margin_blocks: int  # refuse when the nearest unposted deadline is closer than this
    max_l1_age_s: float  # refuse when the L1 view is older than this


def slack(p: Pressure) -> int | None:
    """L1 blocks left before the nearest unposted deadline (None: nothing unposted)."""
    if p.oldest_unposted_deadline is None:
        return None
    return p.oldest_unposted_deadline - p.l1_head


def backpressure(p: Pressure, limits: PressureLimits) -> Refusal | None:
    """Why no new promise may be signed now (None: it may): the L1 view is stale, or the
    backlog leaves an already-signed deadline less than `margin_blocks` away."""
    if p.l1_age_s > limits.max_l1_age_s:
        return Refusal(
            f"sequencer busy: its view of L1 is {p.l1_age_s:.1f} s old (limit "
            f"{limits.max_l1_age_s:g} s); retry later",
            {"reason": "l1_stale", "l1AgeSeconds": round(p.l1_age_s, 1), "retryAfterSeconds": 2},
        )
    left = slack(p)
    if left is not None and left < limits.margin_blocks:
        return Refusal(
            f"sequencer busy: the batcher is behind (a promised block is due on L1 within {left} "
            f"blocks, margin {limits.margin_blocks}); retry later",
            {
                "reason": "backlog",
                "slackBlocks": left,
                "marginBlocks": limits.margin_blocks,
                "retryAfterL1Blocks": limits.margin_blocks - left,
            },
        )
    return None
