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


def test_a_prefix_of_a_range_keeps_only_its_blocks_forced_items_and_roots():
    """A batch cut to fit its carrier commits exactly the first n blocks: their forced items
    (so `forced_through` cannot run past the cut), their skipped leaves and the n-th block's
    state root."""
    from sequencer import batch_codec as bc
    from sequencer import commitments as cm

    blocks = tuple(
        bc.BlockData(n, 1000 + n, (), 0, ()) for n, f in ((5, (0,)), (6, ()), (7, (1, 2)))
    )
    records = tuple(cm.BlockRecord(901, b.number, bytes([b.number]) * 32) for b in blocks)
    full = SealedRange(
        901,
        b"\x04" * 32,
        blocks,
        records,
        b"\x07" * 32,
        skipped_leaves=((7, (b"\xaa" * 32,)),),
        forced_indexes=(0, 1, 2),
        state_roots=(b"\x05" * 32, b"\x06" * 32, b"\x07" * 32),
        block_forced=((0,), (), (1, 2)),
    )
    two = full.prefix(2)
    assert [b.number for b in two.blocks] == [5, 6] and two.forced_indexes == (0,)
    assert two.skipped_leaves == () and two.state_root == b"\x06" * 32
    assert two.commitment().last_block == 6 and two.commitment().parent_hash == b"\x04" * 32
    assert full.prefix(3) is full and full.prefix(9) is full
    state = _state(0, 3, {901: 4})
    assert advance_forced_through(state, [two], []) == 1
    assert advance_forced_through(state, [full], []) == 3
