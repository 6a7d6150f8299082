"""The narrow interfaces between the service and its collaborators, owned by none of them.

`ChainState` is one rollup as the service holds it (builder runtime, sender ledger, rules);
`ServiceCore` is what every collaborator (forced inbox, leader node) may use of the running
service; each collaborator widens it by what only it needs (`forced.ForcedHost`,
`leader.LeaderHost`), so none of them imports `service` and the service is wired in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sequencer.builder import ChainPlan, ChainRuntime
from sequencer.config import ServiceConfig
from sequencer.engine import EngineClient
from sequencer.journal import Journal, PreconfRecord
from sequencer.judge import ChainRules
from sequencer.manifest import Manifest
from sequencer.mempool import SenderLedger
from sequencer.metrics import Metrics


@dataclass
class ChainState:
    """One rollup inside the service."""

    runtime: ChainRuntime
    ledger: SenderLedger
    rules: ChainRules

    @property
    def chain_id(self) -> int:
        return self.runtime.chain_id

    @property
    def plan(self) -> ChainPlan:
        return self.runtime.plan

    @property
    def engine(self) -> EngineClient:
        # The service builds every runtime on an EngineClient; the builder sees only its
        # `builder.Engine` protocol (unit tests drive it with fakes).
        return self.runtime.engine  # type: ignore[return-value]


class ServiceCore(Protocol):
    """What the service's collaborators may read and use of it (`service.Sequencer` is one)."""

    config: ServiceConfig
    manifest: Manifest
    journal: Journal
    metrics: Metrics
    chains: dict[int, ChainState]  # by chain id
    promises: dict[bytes, PreconfRecord]  # unsealed promises, by tx hash
    l1: EngineClient | None  # the L1 client, set once the service has started
