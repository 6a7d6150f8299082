"""Test fault injection: a `builder.SlotHooks` that exits the process, as if killed, at a named
point of a bundle slot.

Owns the names of the points and the environment variable the crash tests set
(`SEQUENCER_TEST_FAULT`, read once by `rpc.serve`); the builder only calls its hooks, which are
a no-op in production. Nothing here runs unless that variable names a point.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from sequencer.builder import NO_HOOKS, SlotHooks

log = logging.getLogger("sequencer.faults")

FAULT_ENV = "SEQUENCER_TEST_FAULT"
# right after the first rollup's block of a bundle slot is mined (before the next rollup's legs
# are sent)
FAULT_BUNDLE_SLOT = "bundle-slot-after-first-block"
# right after the first rollup's block of a bundle slot is sealed and journaled (the others mined)
FAULT_BUNDLE_SEAL = "bundle-slot-after-first-seal"
POINTS = (FAULT_BUNDLE_SLOT, FAULT_BUNDLE_SEAL)


class ExitAt:
    """Exits at once (`os._exit(86)`, no cleanup: like kill -9) when the slot reaches `point`."""

    def __init__(self, point: str) -> None:
        if point not in POINTS:
            raise ValueError(f"{FAULT_ENV}: unknown fault point {point!r} (known: {POINTS})")
        self.point = point

    def bundle_block_mined(self, chain_id: int, number: int, left: int) -> None:
        if self.point == FAULT_BUNDLE_SLOT and left > 0:
            self._exit()

    def bundle_block_sealed(self, chain_id: int, number: int, sealed: int, left: int) -> None:
        if self.point == FAULT_BUNDLE_SEAL and sealed == 1 and left > 0:
            self._exit()

    def _exit(self) -> None:
        log.critical("fault injected: exiting", extra={"event": "fault", "point": self.point})
        os._exit(86)


def hooks_from_env(environ: Mapping[str, str] = os.environ) -> SlotHooks:
    """The builder's hooks: `ExitAt` the point `FAULT_ENV` names, else the no-op hooks."""
    point = environ.get(FAULT_ENV)
    return ExitAt(point) if point else NO_HOOKS
