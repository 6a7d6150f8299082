"""`forced_through` of a batch: advanced over items consumed in the batch and in blocks L1 holds,
never over an item still unconsumed, whatever the batcher remembers (it remembers nothing)."""

from __future__ import annotations

from sequencer.batcher import InboxState, SealedRange, advance_forced_through


def _state(through: int, count: int, tips: dict[int, int]) -> InboxState:
    return InboxState(
        next_sequence=3,
        prev_hash=b"\x00" * 32,
        term=1,
        forced_through=through,
        last_block=tips,
        forced_count=count,
    )


def _range(chain_id: int, indexes: tuple[int, ...]) -> SealedRange:
    return SealedRange(chain_id, b"\x00" * 32, (), (), b"\x00" * 32, forced_indexes=indexes)


def test_stops_at_the_first_unconsumed_item():
    # item 0 (rollup B) is still waiting; item 1 (rollup A) is in this batch
    assert advance_forced_through(_state(0, 2, {901: 10, 902: 10}), [_range(901, (1,))], []) == 0


def test_items_consumed_in_posted_blocks_count_after_a_restart():
    # item 1 went to L1 in rollup A's block 8 (before a restart: no memory of it);
    # item 0 lands now, in rollup B's range: through jumps over both
    placements = [(901, 8, (1,)), (902, 12, (0,))]
    state = _state(0, 3, {901: 10, 902: 10})
    assert advance_forced_through(state, [_range(902, (0,))], placements) == 2


def test_placements_in_blocks_not_yet_on_l1_do_not_count():
    # item 1 was placed in rollup A's block 11, which L1 does not hold yet (tip 10)
    placements = [(901, 11, (1,)), (902, 12, (0,))]
    state = _state(0, 2, {901: 10, 902: 10})
    assert advance_forced_through(state, [_range(902, (0,))], placements) == 1
    state = _state(0, 2, {901: 11, 902: 10})
    assert advance_forced_through(state, [_range(902, (0,))], placements) == 2


def test_never_beyond_the_queue():
    state = _state(2, 3, {901: 10})
    assert advance_forced_through(state, [_range(901, (2, 3, 4))], []) == 3
    assert advance_forced_through(_state(3, 3, {901: 10}), [], [(901, 5, (3,))]) == 3
