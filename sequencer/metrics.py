"""Metrics and logs: a Prometheus registry of the service's counters, and structured JSON logs.

Owns the metric definitions (one registry per service, passed down; no global state) and the log
format. It must never record a key, a password or a raw transaction: log records carry only the
fields given in `extra`, and `JsonFormatter` drops any field whose name says it is a secret.
"""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
SLOT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SECRET_WORDS = ("key", "password", "secret", "mnemonic", "raw")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


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
        self.pending = Gauge("seq_pending_txs", "Promised, not yet sealed", ["chain"], registry=r)
        self.head = Gauge("seq_head_block", "Last sealed block", ["chain"], registry=r)
        self.sealed_txs = Counter(
            "seq_sealed_txs", "Transactions mined in sealed blocks", ["chain"], registry=r
        )
        self.rpc_errors = Counter(
            "seq_rpc_errors", "JSON-RPC errors answered, by code", ["code"], registry=r
        )

        self._children: dict[tuple[str, object], object] = {}

    def accepted_of(self, chain: int | str) -> Counter:
        key = ("accepted", chain)
        if key not in self._children:
            self._children[key] = self.accepted.labels(str(chain))
        return self._children[key]  # type: ignore[return-value]

    def latency_of(self, chain: int | str) -> Histogram:
        key = ("latency", chain)
        if key not in self._children:
            self._children[key] = self.preconf_latency.labels(str(chain))
        return self._children[key]  # type: ignore[return-value]

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
