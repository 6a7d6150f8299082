"""Metrics and logs: a Prometheus registry of the service's counters, and structured JSON logs.

Owns the metric definitions (one registry per service, passed down; no global state) and the log
format. It must never record a key, a password or a raw transaction: log records carry only the
fields given in `extra`, and `JsonFormatter` drops any field whose name says it is a secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
# Journal stages of a commit group (seconds): fine below 1 ms, where most of them fall.
JOURNAL_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.02,
    0.05,
    0.1,
)
SLOT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SECRET_WORDS = ("key", "password", "secret", "mnemonic", "raw")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


@dataclass(frozen=True)
class QueueSample:
    """The relay, forced and bundle queues at one moment (counts since the service started)."""

    relays_waiting: int = 0
    relays_sealed: int = 0
    forced_queued: int = 0
    forced_placed: int = 0
    forced_skipped: int = 0
    forced_nearest_deadline: int | None = None  # L1 block; None when nothing is queued
    forced_at_risk: int = 0  # queued items whose deadline is within the warning margin
    bundles_pending: int = 0
    bundles_included: int = 0
    bundles_dropped: int = 0
    deadline_slack: int | None = None  # L1 blocks to the nearest deadline not yet on L1
    unposted_blocks: int = 0  # of the busiest rollup: sealed or planned, not yet on L1
    l1_age_s: float = 0.0  # since the L1 head was last read


class _QueueCollector:
    """Reads a `QueueSample` from the service at each scrape (so nothing can drift)."""

    def __init__(self) -> None:
        self.source: Callable[[], QueueSample] | None = None

    def collect(self) -> Iterator[Metric]:
        if self.source is None:
            return
        q = self.source()
        yield GaugeMetricFamily(
            "seq_relays_waiting", "Cross-rollup messages waiting for a relay", q.relays_waiting
        )
        yield CounterMetricFamily(
            "seq_relays_sealed", "Relays mined in sealed blocks", q.relays_sealed
        )
        yield GaugeMetricFamily(
            "seq_forced_queued", "L1 forced-queue items read, not yet placed", q.forced_queued
        )
        yield CounterMetricFamily(
            "seq_forced_placed",
            "Forced transactions placed at the start of a block",
            q.forced_placed,
        )
        yield CounterMetricFamily(
            "seq_forced_skipped", "Forced-queue items refused (skipped)", q.forced_skipped
        )
        if q.forced_nearest_deadline is not None:
            yield GaugeMetricFamily(
                "seq_forced_nearest_deadline_l1_block",
                "Nearest L1 deadline of a queued forced item",
                q.forced_nearest_deadline,
            )
        yield GaugeMetricFamily(
            "seq_forced_deadline_at_risk",
            "Queued forced items whose L1 deadline is within the warning margin",
            q.forced_at_risk,
        )
        yield GaugeMetricFamily("seq_bundles_pending", "Bundles not yet settled", q.bundles_pending)
        yield CounterMetricFamily(
            "seq_bundles_included", "Bundles landed with a receipt", q.bundles_included
        )
        yield CounterMetricFamily("seq_bundles_dropped", "Bundles dropped", q.bundles_dropped)
        if q.deadline_slack is not None:
            yield GaugeMetricFamily(
                "seq_deadline_slack_l1_blocks",
                "L1 blocks between the L1 head and the nearest deadline of a block not yet on L1",
                q.deadline_slack,
            )
        yield GaugeMetricFamily(
            "seq_unposted_blocks", "Blocks sealed or planned, not yet on L1", q.unposted_blocks
        )
        yield GaugeMetricFamily(
            "seq_l1_view_age_seconds", "Seconds since the L1 head was last read", q.l1_age_s
        )


class Metrics:
    """The service's Prometheus metrics."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "seq_tx_accepted", "Transactions pre-confirmed", ["chain"], registry=r
        )
        self.rejected = Counter(
            "seq_tx_rejected", "Transactions refused, by reason", ["chain", "reason"], registry=r
        )
        self.preconf_latency = Histogram(
            "seq_preconf_latency_seconds",
            "Time from request to durable signed pre-confirmation",
            ["chain"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.slot_build = Histogram(
            "seq_block_build_seconds",
            "Time to build, verify, sign and journal one block",
            ["chain"],
            buckets=SLOT_BUCKETS,
            registry=r,
        )
        self.journal_stage = Histogram(
            "seq_journal_stage_seconds",
            "Per journal commit group: waiting for the writer (the commit in flight, the "
            "thread's wake-up), the fsync'd commit, the event loop's wake-up after it",
            ["stage"],
            buckets=JOURNAL_BUCKETS,
            registry=r,
        )
        self._stages = tuple(
            self.journal_stage.labels(s) for s in ("writer_wait", "commit", "loop_wakeup")
        )
        self.pending = Gauge("seq_pending_txs", "Promised, not yet sealed", ["chain"], registry=r)
        self.head = Gauge("seq_head_block", "Last sealed block", ["chain"], registry=r)
        self.sealed_txs = Counter(
            "seq_sealed_txs", "Transactions mined in sealed blocks", ["chain"], registry=r
        )
        self.rpc_errors = Counter(
            "seq_rpc_errors", "JSON-RPC errors answered, by code", ["code"], registry=r
        )
        self.refused = Counter(
            "seq_promises_refused",
            "New promises refused by backpressure (backlog, l1_stale, deadline)",
            ["reason"],
            registry=r,
        )
        self.connections_closed = Counter(
            "seq_connections_closed",
            "Connections the service closed on its own: over_cap (the client's open connections "
            "at max_connections_per_client), header_timeout, write_timeout",
            ["reason"],
            registry=r,
        )
        self.l1_faults = Counter(
            "seq_l1_fault_episodes", "Episodes of failing L1 reads (each logged once)", registry=r
        )
        self.engine_faults = Counter(
            "seq_engine_faults",
            "Slots recovered and retried after a rollup engine fault",
            registry=r,
        )
        self.task_restarts = Counter(
            "seq_task_restarts", "Background tasks restarted after failing", ["task"], registry=r
        )
        self.engine_rebuilt_blocks = Counter(
            "seq_engine_rebuilt_blocks",
            "Blocks replayed onto a rollup engine that lost them (sequencer/recovery.py)",
            registry=r,
        )
        self._queues = _QueueCollector()
        r.register(self._queues)

        self._accepted_of: dict[int | str, Counter] = {}  # the labelled children, cached
        self._latency_of: dict[int | str, Histogram] = {}

    def observe_queues(self, source: Callable[[], QueueSample]) -> None:
        """Report the service's queues (read at each scrape)."""
        self._queues.source = source

    def accepted_of(self, chain: int | str) -> Counter:
        if chain not in self._accepted_of:
            self._accepted_of[chain] = self.accepted.labels(str(chain))
        return self._accepted_of[chain]

    def latency_of(self, chain: int | str) -> Histogram:
        if chain not in self._latency_of:
            self._latency_of[chain] = self.preconf_latency.labels(str(chain))
        return self._latency_of[chain]

    def observe_commit(self, writer_wait_s: float, commit_s: float, wakeup_s: float) -> None:
        """A journal commit group's stage times (see `Journal.on_commit`)."""
        for child, value in zip(self._stages, (writer_wait_s, commit_s, wakeup_s), strict=True):
            child.observe(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name in _STANDARD or name.startswith("_"):
                continue
            if any(word in name.lower() for word in SECRET_WORDS):
                continue
            out[name] = value if isinstance(value, int | float | str | bool | None) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("sequencer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def now_ns() -> int:
    return time.time_ns()
