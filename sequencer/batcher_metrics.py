"""The batcher's Prometheus metrics (`sequencer batch --metrics-port`), read by the status view.

Owns turning `BatcherStats` into metrics at each scrape: batches, reverts (with the inbox's
reason of the last one), rebuilds at the term check, the policy's waits and triggers, the
backlog of sealed unposted blocks and the slack of the nearest deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sequencer.batcher import BatcherStats


class _StatsCollector:
    def __init__(self, stats: Callable[[], BatcherStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        for name, value, doc in (
            ("seq_batcher_batches", s.batches, "Batches posted and confirmed."),
            ("seq_batcher_l2_txs", s.l2_txs, "L2 transactions in posted batches."),
            ("seq_batcher_l1_gas", s.l1_gas, "L1 gas used by posted batches."),
            ("seq_batcher_payload_bytes", s.payload_bytes, "Payload bytes of posted batches."),
            ("seq_batcher_reverts", s.reverts, "Posts that landed and reverted."),
            ("seq_batcher_rebuilt", s.rebuilt, "Batches dropped at the term check and rebuilt."),
            (
                "seq_batcher_prebuilt_used",
                s.prebuilt_used,
                "Batches built while the previous one waited for L1, then posted.",
            ),
            (
                "seq_batcher_prebuilt_dropped",
                s.prebuilt_dropped,
                "Batches built ahead and dropped: L1 was not as predicted at their turn.",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        waits = CounterMetricFamily(
            "seq_batcher_waits", "Rounds the policy waited, by reason.", labels=["reason"]
        )
        for reason, n in sorted(s.waits.items()):
            waits.add_metric([reason], n)
        yield waits
        triggers = CounterMetricFamily(
            "seq_batcher_posts_by_trigger", "Posts, by the policy's reason.", labels=["reason"]
        )
        for reason, n in sorted(s.triggers.items()):
            triggers.add_metric([reason], n)
        yield triggers
        yield GaugeMetricFamily(
            "seq_batcher_backlog_blocks", "Sealed blocks not on L1 yet.", value=s.backlog_blocks
        )
        yield GaugeMetricFamily(
            "seq_batcher_send_margin_blocks",
            "L1 blocks of the term that must remain for a post to be sent (covers the measured "
            "send latency).",
            value=s.send_margin,
        )
        if s.deadline_slack is not None:
            yield GaugeMetricFamily(
                "seq_batcher_deadline_slack_blocks",
                "Nearest unposted deadline minus the L1 head.",
                value=s.deadline_slack,
            )
        if s.last_revert:
            info = GaugeMetricFamily(
                "seq_batcher_last_revert",
                "The last reverted post (value: its L1 block), with the inbox's reason.",
                labels=["reason", "sequence"],
            )
            info.add_metric(
                [str(s.last_revert["reason"]), str(s.last_revert["sequence"])],
                s.last_revert["l1_block"],
            )
            yield info


def registry_for(stats: Callable[[], BatcherStats]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatsCollector(stats))
    return registry


def serve(stats: Callable[[], BatcherStats], port: int, host: str = "127.0.0.1") -> None:
    """Serve the metrics at http://host:port/metrics in a daemon thread."""
    start_http_server(port, addr=host, registry=registry_for(stats))
