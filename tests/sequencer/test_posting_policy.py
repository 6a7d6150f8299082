"""The batcher's posting policy (sequencer.posting), a pure function: unit cases, and a property
over random traffic, deadlines, forced items and posting latencies simulated block by block
against the term rules: no promise misses its deadline because of the policy, and no post is
empty."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.posting import Backlog, PostingPolicy, decide, min_deadline_distance

POLICY = PostingPolicy(margin_blocks=6, fill_bytes=1000, max_delay_s=30)


def test_nothing_to_post_waits_however_long():
    idle = Backlog(blocks=5000, waited_s=10**6, l1_head=100, nearest_deadline=101, window_end=100)
    assert decide(POLICY, idle).reason == "empty"


def test_each_trigger():
    base = Backlog(blocks=3, txs=2, tx_bytes=200, l1_head=100, waited_s=1)
    assert decide(POLICY, base).reason == "wait"
    assert decide(POLICY, Backlog(**{**base.__dict__, "tx_bytes": 1000})).reason == "fill"
    assert decide(POLICY, Backlog(**{**base.__dict__, "nearest_deadline": 106})).reason == (
        "deadline"
    )
    assert decide(POLICY, Backlog(**{**base.__dict__, "nearest_deadline": 107})).reason == "wait"
    far = {**base.__dict__, "nearest_deadline": 150}
    assert decide(POLICY, Backlog(**{**far, "window_end": 106})).reason == "window"
    assert decide(POLICY, Backlog(**{**far, "window_end": 107})).reason == "wait"
    # the window matters only for a promise: without a deadline, content waits for the delay
    assert decide(POLICY, Backlog(**{**base.__dict__, "window_end": 100})).reason == "wait"
    assert decide(POLICY, Backlog(**{**base.__dict__, "waited_s": 30})).reason == "max_delay"
    forced_only = Backlog(blocks=1, forced_items=1, l1_head=100, nearest_deadline=103)
    assert decide(POLICY, forced_only).reason == "deadline"


def test_fill_is_decided_on_the_encoded_payload_not_on_raw_bytes():
    """Raw transaction bytes compress about 2x: a backlog of a blob's worth of raw bytes fills
    only part of a blob. With the batcher's payload estimate, the fill waits for a full one."""
    raw_full = Backlog(blocks=40, txs=9, tx_bytes=1000, payload_bytes=600, l1_head=100)
    assert decide(POLICY, raw_full).reason == "wait"
    full = Backlog(blocks=70, txs=16, tx_bytes=1700, payload_bytes=1000, l1_head=100)
    assert decide(POLICY, full).reason == "fill"
    # without an estimate, the raw bytes stand for the payload (as before)
    assert decide(POLICY, Backlog(blocks=40, txs=9, tx_bytes=1000, l1_head=100)).reason == "fill"
    assert full.size == 1000 and Backlog(tx_bytes=5).size == 5


def test_bad_knobs_are_refused():
    with pytest.raises(ValueError):
        PostingPolicy(margin_blocks=0)


# --- the property: a block-by-block simulation of L1, the sequencer and the batcher ---


@dataclass
class L2Block:
    txs: int
    nbytes: int
    deadlines: list[int]  # of its promises and of the forced items it processed
    forced: int
    seen_at: int  # L1 block at which the batcher could first see it
    posted_at: int | None = None


@dataclass
class Flight:
    """A batch the batcher decided on: built with the term of its decision, sent at `send_at`
    (after the term check), landing `land_after` blocks later."""

    blocks: list[L2Block]
    term: int
    send_at: int
    land_after: int
    sent: bool = False


@dataclass
class Sim:
    term_blocks: int
    term_margin: int
    policy: PostingPolicy
    ratio: float = 0.5  # the batcher's compression estimate (payload bytes per raw byte)
    blocks: list[L2Block] = field(default_factory=list)
    flight: Flight | None = None
    posts: list[list[L2Block]] = field(default_factory=list)

    def window_end(self, head: int) -> int:
        """The last head at which a send passes the batcher's term check."""
        term_end = (head // self.term_blocks + 1) * self.term_blocks - 1
        return term_end - self.term_margin

    def backlog(self, head: int) -> Backlog:
        """What the batcher would see at `head` (payload: raw bytes times `ratio`)."""
        unposted = [b for b in self.blocks if b.posted_at is None and b.seen_at <= head]
        content = [b for b in unposted if b.txs or b.forced]
        deadlines = [d for b in unposted for d in b.deadlines]
        return Backlog(
            blocks=len(unposted),
            txs=sum(b.txs for b in unposted),
            tx_bytes=sum(b.nbytes for b in unposted),
            payload_bytes=int(sum(b.nbytes for b in unposted) * self.ratio),
            forced_items=sum(b.forced for b in unposted),
            nearest_deadline=min(deadlines, default=None),
            waited_s=float(head - min((b.seen_at for b in content), default=head)),
            l1_head=head,
            window_end=self.window_end(head),
        )

    def _advance(self, head: int) -> None:
        f = self.flight
        if f is not None and not f.sent and head >= f.send_at:
            blocks_left = self.term_blocks - 1 - head % self.term_blocks
            if head // self.term_blocks != f.term or blocks_left < self.term_margin:
                for b in f.blocks:  # the term check right before sending: rebuild later
                    b.posted_at = None
                self.flight = f = None
            else:
                f.sent, f.send_at = True, head
        if f is not None and f.sent and head >= f.send_at + f.land_after:
            for b in f.blocks:
                b.posted_at = head
            self.flight = None

    def tick(self, head: int, delay: tuple[int, int]) -> None:
        self._advance(head)
        if self.flight is None and decide(self.policy, self.backlog(head)).post:
            taken = [b for b in self.blocks if b.posted_at is None and b.seen_at <= head]
            assert any(b.txs or b.forced for b in taken), "an empty post"
            self.posts.append(taken)
            for b in taken:
                b.posted_at = -1  # in flight: not offered again
            build, land = delay
            self.flight = Flight(taken, head // self.term_blocks, head + build, land)
            self._advance(head)  # a build that takes no block sends at once


@st.composite
def scenarios(draw):
    term_margin = draw(st.integers(1, 3))
    margin = draw(st.integers(2, 10))
    policy = PostingPolicy(
        margin_blocks=margin,
        fill_bytes=draw(st.integers(200, 20_000)),
        max_delay_s=draw(st.floats(1, 200)),
    )
    term_blocks = draw(st.integers(min_deadline_distance(policy, term_margin) + 2, 64))
    # The worst latency the policy's margin allows: half of it per post (one post in flight,
    # then the one the trigger starts), landing needs at least one block and at most the term
    # margin (the batcher's term check assumes so).
    half = margin // 2
    latency = st.integers(1, max(1, min(half, term_margin))).flatmap(
        lambda land: st.tuples(st.integers(0, max(0, half - land)), st.just(land))
    )
    blocks_per_l1 = st.integers(0, 3)
    traffic = draw(
        st.lists(
            st.tuples(
                blocks_per_l1,
                st.lists(st.integers(0, 4), min_size=3, max_size=3),  # txs per new block
                st.integers(0, 80),  # how much later than the minimum its promises fall due
                st.booleans(),  # a forced item placed in the first new block
                latency,
            ),
            min_size=20,
            max_size=200,
        )
    )
    ratio = draw(st.floats(0.2, 1.2))  # the fill waits on the estimated payload
    return term_margin, policy, term_blocks, traffic, ratio


@given(scenarios(), st.integers(0, 200))
@settings(max_examples=300, deadline=None)
def test_no_promise_misses_its_deadline_and_no_post_is_empty(scenario, start):
    term_margin, policy, term_blocks, traffic, ratio = scenario
    sim = Sim(term_blocks, term_margin, policy, ratio)
    distance = min_deadline_distance(policy, term_margin)
    head = start
    for new_blocks, tx_counts, extra, forced, delay in traffic:
        for i in range(new_blocks):
            txs = tx_counts[i]
            deadlines = [head + distance + extra] * txs
            item = forced and i == 0
            if item:
                deadlines.append(head + distance)  # the forced item's L1 deadline
            sim.blocks.append(L2Block(txs, 120 * txs, deadlines, int(item), head))
        sim.tick(head, delay)
        head += 1
    # drain: no more traffic; the policy must still post everything with a deadline in time
    last_delay = traffic[-1][4]
    for _ in range(4 * term_blocks + 300):
        sim.tick(head, last_delay)
        head += 1
    for block in sim.blocks:
        if block.deadlines:
            assert block.posted_at is not None and block.posted_at > 0, "never posted"
            assert block.posted_at <= min(block.deadlines), "posted late"
    for taken in sim.posts:
        assert any(b.txs or b.forced for b in taken)
