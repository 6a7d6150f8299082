"""Fair turns of the event loop: how much admission work one turn may do.

The service runs the RPC, admission and the slot builder on one asyncio loop. A loop turn runs
every callback that was ready when it began, so under a burst (hundreds of connections, each
with a batch of transactions to decode, recover and sign) one turn can take hundreds of
milliseconds, and each `await` of the builder (an engine call, the journal) waits that long:
the engines sat idle while admission ran, and a slot took a second instead of 250 ms.

`TurnGate` bounds the work the RPC starts in one turn: requests pass with at most `per_turn`
JSON-RPC calls per turn (a batch counts each call); the others wait in arrival order and pass in
the following turns. The builder's callbacks then run
between slices of admission, and the engines take the promised transactions while the service
is still admitting more. It owns no transaction state and never drops a caller.
"""

from __future__ import annotations

import asyncio
import collections


class TurnGate:
    """Callers of `enter` pass with at most `per_turn` weight (JSON-RPC calls) per turn of the
    event loop; the others wait, in order, for the next turns."""

    def __init__(self, per_turn: int) -> None:
        if per_turn < 1:
            raise ValueError("per_turn must be at least 1")
        self.per_turn = per_turn
        self._passed = 0  # callers let through since the last reset
        self._waiters: collections.deque[tuple[asyncio.Future, int]] = collections.deque()
        self._reset_scheduled = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def enter(self, weight: int = 1) -> None:
        """Wait for this caller's turn; `weight` counts against the turn's allowance (a caller
        heavier than the whole allowance passes alone, first in its turn)."""
        if not self._waiters and self._fits(weight):
            self._passed += weight
            self._schedule_reset()
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((future, weight))
        self._schedule_reset()
        await future  # a caller cancelled while waiting is skipped by `_reset`

    def _fits(self, weight: int) -> bool:
        return self._passed == 0 or self._passed + weight <= self.per_turn

    def _schedule_reset(self) -> None:
        if not self._reset_scheduled:
            self._reset_scheduled = True
            asyncio.get_running_loop().call_soon(self._reset)

    def _reset(self) -> None:
        """Next turn: a new allowance; the first waiters take it (they run in the turn after,
        behind whatever else became ready meanwhile, such as the builder's answers)."""
        self._reset_scheduled = False
        self._passed = 0
        while self._waiters and self._fits(self._waiters[0][1]):
            future, weight = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                self._passed += weight
        if self._waiters:
            self._schedule_reset()
