"""When the batcher posts: a pure decision by cost and deadline, op-batcher style.

Owns the posting policy: post when the unposted payload (its encoded size, what goes into the
blob) fills its carrier, when the nearest
deadline among the unposted blocks' promises and the unconsumed forced items comes within a
margin (or the term's posting window is about to close on such a promise), or when the oldest
unposted content has waited a maximum delay; never when nothing but empty blocks is unposted.
No I/O: the batcher gathers a `Backlog` and asks `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Payload bytes one blob carries (4096 field elements x 31 bytes, less a 4-byte length).
BLOB_CAPACITY = 4096 * 31 - 4


@dataclass(frozen=True)
class PostingPolicy:
    """The knobs. `margin_blocks` is the worst case, in L1 blocks, from a "post now" decision to
    the batch landing (build, the term check, sending, inclusion): a deadline `margin_blocks`
    away triggers a post. `fill_bytes`: payload bytes that fill the carrier, compared with the
    backlog's encoded size (`Backlog.payload_bytes`; raw transaction bytes when that is unknown).
    Under sustained load a post then carries close to a full blob, not the ~60 % a fill on raw
    bytes gives once compressed. `max_delay_s`: the longest any content waits."""

    margin_blocks: int = 6
    fill_bytes: int = BLOB_CAPACITY
    max_delay_s: float = 60.0

    def __post_init__(self) -> None:
        if self.margin_blocks < 1 or self.fill_bytes < 1 or self.max_delay_s <= 0:
            raise ValueError("posting policy: margin, fill and delay must be positive")


@dataclass(frozen=True)
class Backlog:
    """What the batcher sees now. Blocks are the sealed ones L1 does not hold yet; `content`
    is what makes posting worth it (a transaction, or a forced-queue item processed, even a
    skipped one). `nearest_deadline` (an L1 block) is the earliest among the unposted blocks'
    promises (pre-confirmations, bundle receipts) and the forced items L1 holds unconsumed;
    None when there is none. `waited_s`: seconds since the oldest unposted content was first
    seen (0 with none). `window_end`: the last L1 head at which this batcher may still send in
    its term (None: no limit known). `payload_bytes`: the encoded size of the unposted blocks
    (the batcher's estimate: raw bytes times the compression ratio of its last full batch);
    None: unknown, the raw `tx_bytes` stand for it."""

    blocks: int = 0
    txs: int = 0
    tx_bytes: int = 0
    payload_bytes: int | None = None
    forced_items: int = 0
    nearest_deadline: int | None = None
    waited_s: float = 0.0
    l1_head: int = 0
    window_end: int | None = None

    @property
    def content(self) -> bool:
        return self.txs > 0 or self.forced_items > 0

    @property
    def size(self) -> int:
        """What the fill rule compares: the encoded payload's size if known, else raw bytes."""
        return self.tx_bytes if self.payload_bytes is None else self.payload_bytes


@dataclass(frozen=True)
class Decision:
    post: bool
    reason: str  # "empty", "fill", "deadline", "window", "max_delay", "wait"


def decide(policy: PostingPolicy, backlog: Backlog) -> Decision:
    """Post now, or wait. Never posts a backlog without content (empty rollup blocks wait for
    the next transaction, however many accumulate)."""
    if not backlog.content:
        return Decision(False, "empty")
    if backlog.size >= policy.fill_bytes:
        return Decision(True, "fill")
    head, deadline = backlog.l1_head, backlog.nearest_deadline
    if deadline is not None:
        if deadline - head <= policy.margin_blocks:
            return Decision(True, "deadline")
        # A promise due after the posting window closes: post while this term still can.
        if backlog.window_end is not None and backlog.window_end - head <= policy.margin_blocks:
            return Decision(True, "window")
    if backlog.waited_s >= policy.max_delay_s:
        return Decision(True, "max_delay")
    return Decision(False, "wait")


# A batcher widens its term margin (nothing sent in a term's last blocks) to cover sends measured
# slow, or a first blob, by at most this many L1 blocks (batcher.SendLatency). A send that takes
# k blocks cannot land in the term from its last k blocks anyway (it would revert "inbox: wrong
# term"); the bound keeps one slow outlier from holding posts back longer than
# `min_deadline_distance` allows for with the default margins (2 x 8 + 2 + 1 = 19 >= 6 + 8 + 1).
SEND_MARGIN_WIDEN_MAX = 4


def min_deadline_distance(policy: PostingPolicy, term_margin: int) -> int:
    """The shortest distance (L1 blocks from the head at signing) of a deadline this policy
    always meets, given that nothing is sent in a term's last `term_margin` blocks: the margin
    the policy keeps, plus a blackout it may have to wait out, plus the landing margin again."""
    return 2 * policy.margin_blocks + term_margin + 1
