"""Fair loop turns for admission, and the slot's wait for its own promises: no chain."""

import asyncio

import pytest

from sequencer.builder import Builder, ChainPlan, ChainRuntime, HeadInfo
from sequencer.journal import JournalError
from sequencer.turns import TurnGate


async def _passes_by_turn(gate: TurnGate, callers: int) -> list[tuple[int, int]]:
    """(caller, loop turn) in the order callers pass the gate; all enter in the same turn."""
    turn = 0
    passed: list[tuple[int, int]] = []
    stop = False

    def tick() -> None:
        nonlocal turn
        turn += 1
        if not stop:
            asyncio.get_running_loop().call_soon(tick)

    async def caller(i: int) -> None:
        await gate.enter()
        passed.append((i, turn))

    asyncio.get_running_loop().call_soon(tick)
    await asyncio.gather(*(caller(i) for i in range(callers)))
    stop = True
    return passed


def test_gate_lets_per_turn_callers_through_each_turn_in_arrival_order():
    passed = asyncio.run(_passes_by_turn(TurnGate(3), 10))
    assert [i for i, _ in passed] == list(range(10))  # nobody overtakes, nobody is lost
    per_turn: dict[int, int] = {}
    for _, turn in passed:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert max(per_turn.values()) <= 3
    assert len(per_turn) >= 4  # 10 callers, 3 a turn


def test_gate_is_no_wait_under_its_allowance():
    passed = asyncio.run(_passes_by_turn(TurnGate(64), 10))
    assert len({turn for _, turn in passed}) == 1


def test_gate_skips_a_cancelled_waiter():
    async def main() -> list[int]:
        gate = TurnGate(1)
        order: list[int] = []

        async def caller(i: int) -> None:
            await gate.enter()
            order.append(i)

        tasks = [asyncio.create_task(caller(i)) for i in range(4)]
        await asyncio.sleep(0)  # all four entered: 0 passed, 1..3 wait
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return order

    assert asyncio.run(main()) == [0, 2, 3]


def test_gate_counts_weights_and_lets_a_heavy_caller_through_alone():
    async def main() -> list[tuple[str, int]]:
        gate = TurnGate(20)
        turn = 0
        passed: list[tuple[str, int]] = []

        def tick() -> None:
            nonlocal turn
            turn += 1
            if len(passed) < 4:
                asyncio.get_running_loop().call_soon(tick)

        async def caller(name: str, weight: int) -> None:
            await gate.enter(weight)
            passed.append((name, turn))

        asyncio.get_running_loop().call_soon(tick)
        await asyncio.gather(
            caller("batch of 15", 15),
            caller("batch of 10", 10),  # 25 > 20: next turn
            caller("batch of 50", 50),  # heavier than a turn: alone, first in its turn
            caller("single", 1),
        )
        return passed

    passed = asyncio.run(main())
    assert [name for name, _ in passed] == ["batch of 15", "batch of 10", "batch of 50", "single"]
    turns = [turn for _, turn in passed]
    assert turns[0] < turns[1] < turns[2] < turns[3]


def test_gate_refuses_an_empty_allowance():
    with pytest.raises(ValueError, match="at least 1"):
        TurnGate(0)


def _runtime() -> ChainRuntime:
    head = HeadInfo(10, b"\x01" * 32, 1_000, 10**9, 0, 30_000_000)
    return ChainRuntime(901, engine=None, plan=ChainPlan(901, head))  # type: ignore[arg-type]


class _Journal:
    """Only the barrier, completed when the test says (the journal's queue behind the slot)."""

    def __init__(self) -> None:
        self.queue_done = asyncio.get_running_loop().create_future()
        self.barriers = 0

    def barrier_nowait(self) -> asyncio.Future:
        self.barriers += 1
        return self.queue_done


def _builder(journal: _Journal, runtime: ChainRuntime) -> Builder:
    return Builder([runtime], journal, None, None, 250, lambda *a: None)  # type: ignore[arg-type]


def test_until_durable_resolves_when_the_block_prefix_is_durable():
    async def main() -> None:
        runtime = _runtime()
        runtime.mark_durable(11, 2)
        assert runtime.until_durable(11, 2).done()  # already there: no waiting
        later = runtime.until_durable(11, 5)
        runtime.mark_durable(11, 4)
        assert not later.done()
        runtime.mark_durable(11, 5)
        assert later.done() and not runtime.waiters

    asyncio.run(main())


def test_slot_waits_for_its_own_promises_not_the_whole_journal_queue():
    async def main() -> None:
        journal = _Journal()
        runtime = _runtime()
        builder = _builder(journal, runtime)
        slot = asyncio.create_task(builder._until_durable([runtime.until_durable(11, 3)]))
        await asyncio.sleep(0)
        assert not slot.done()
        runtime.mark_durable(11, 3)  # the block's last promise landed; later ones have not
        await asyncio.wait_for(slot, 1)
        assert not journal.queue_done.done()

    asyncio.run(main())


def test_slot_falls_back_to_the_barrier_for_unmarked_transactions():
    async def main() -> None:
        journal = _Journal()
        runtime = _runtime()
        builder = _builder(journal, runtime)
        # e.g. forced transactions close the block: no promise marks them
        slot = asyncio.create_task(builder._until_durable([runtime.until_durable(11, 2)]))
        await asyncio.sleep(0)
        assert not slot.done() and journal.barriers == 1
        journal.queue_done.set_result(None)
        await asyncio.wait_for(slot, 1)

    asyncio.run(main())


def test_slot_halts_on_a_failed_journal_write():
    async def main() -> None:
        journal = _Journal()
        runtime = _runtime()
        builder = _builder(journal, runtime)
        slot = asyncio.create_task(builder._until_durable([runtime.until_durable(11, 2)]))
        await asyncio.sleep(0)
        journal.queue_done.set_exception(JournalError("journal write failed: disk full"))
        with pytest.raises(JournalError, match="disk full"):
            await asyncio.wait_for(slot, 1)

    asyncio.run(main())


def test_no_barrier_when_everything_is_already_durable():
    async def main() -> None:
        journal = _Journal()
        runtime = _runtime()
        runtime.mark_durable(11, 7)
        await _builder(journal, runtime)._until_durable([runtime.until_durable(11, 7)])
        assert journal.barriers == 0

    asyncio.run(main())
