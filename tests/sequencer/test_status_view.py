"""The status view's pure parts: Prometheus parsing, quantiles, and the rendered screen."""

from rich.console import Console

from sequencer.status import (
    BatchInfo,
    Snapshot,
    demo_tail,
    histogram_quantile,
    metric_sum,
    parse_metrics,
    render,
)

METRICS = """# HELP seq_tx_accepted_total Transactions pre-confirmed
# TYPE seq_tx_accepted_total counter
seq_tx_accepted_total{chain="901"} 30.0
seq_tx_accepted_total{chain="902"} 12.0
seq_tx_rejected_total{chain="901",reason="nonce too low"} 2.0
seq_preconf_latency_seconds_bucket{chain="901",le="0.001"} 10.0
seq_preconf_latency_seconds_bucket{chain="901",le="0.005"} 28.0
seq_preconf_latency_seconds_bucket{chain="901",le="+Inf"} 30.0
seq_preconf_latency_seconds_bucket{chain="902",le="0.001"} 2.0
seq_preconf_latency_seconds_bucket{chain="902",le="0.005"} 12.0
seq_preconf_latency_seconds_bucket{chain="902",le="+Inf"} 12.0
seq_sealed_txs_total{chain="901"} 29.0
"""


def test_metrics_are_summed_over_labels_and_quantiles_read_from_buckets():
    metrics = parse_metrics(METRICS)
    assert metric_sum(metrics, "seq_tx_accepted_total") == 42
    assert metric_sum(metrics, "seq_tx_rejected_total") == 2
    # 12 of 42 at <= 1 ms, 40 of 42 at <= 5 ms
    assert histogram_quantile(metrics, "seq_preconf_latency_seconds", 0.25) == 0.001
    assert histogram_quantile(metrics, "seq_preconf_latency_seconds", 0.5) == 0.005
    assert histogram_quantile(metrics, "seq_preconf_latency_seconds", 0.99) == float("inf")
    assert histogram_quantile({}, "seq_preconf_latency_seconds", 0.5) is None


def test_the_screen_shows_what_a_user_watches():
    snap = Snapshot(
        taken_at=0,
        sequencer={
            "slots": 7,
            "slotMs": 250,
            "signer": "0xabc",
            "halted": None,
            "chains": {"901": {"head": 12, "pending": 3}, "902": {"head": 11, "pending": 0}},
            "bundles": {"pending": 1, "included": 4, "dropped": 2},
            "relays": {"waiting": 0, "relayed": 9},
            "forced": {
                "queued": 1,
                "placed": 3,
                "skipped": 1,
                "nearestDeadline": 140,
                "atRisk": 0,
            },
            "leader": {"role": "lead", "term": 5, "termEnd": 160, "forwardUrl": None},
        },
        metrics=parse_metrics(METRICS),
        l1_head=99,
        batches=[
            BatchInfo(0, "calldata", 1000, 20, 60_000, 50),
            BatchInfo(1, "blob", 3000, 60, 100_000, 70),
        ],
        stakes={"0x70997970C51812dc3A010C7d01b50e0d17dc79C8": 2 * 10**18},
        leader="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        log_tail=["[demo] round 1: ok"],
    )
    console = Console(width=120, record=True)
    console.print(render(snap))
    text = console.export_text()
    assert "42 accepted, 2 refused; p50 <= 5.0 ms" in text
    assert "slots built" in text and "7" in text
    assert "50.0" in text  # bytes per L2 tx: 4000 / 80
    assert "2,000" in text  # L1 gas per L2 tx: 160,000 / 80
    assert "#1 blob, 60 txs" in text
    assert "2.00 ETH" in text and "round 1: ok" in text
    assert "4 included, 2 dropped, 1 pending" in text  # bundles
    assert "9 relayed, 0 waiting" in text
    assert "3 placed, 1 skipped, 1 queued, next deadline L1 140" in text
    assert "lead in term 5 (ends at L1 block 160)" in text


def test_an_unreachable_sequencer_is_shown_not_raised():
    console = Console(width=100, record=True)
    console.print(render(Snapshot(taken_at=0, sequencer_error="connection refused")))
    assert "unreachable: connection refused" in console.export_text()


def test_the_demo_panel_keeps_the_one_off_scenes_above_the_latest_rounds():
    scenes = [f"[demo] scene {i}" for i in range(8)]
    rounds = [f"[demo] round {i}: ok" for i in range(1, 40)]
    lines = scenes[:5] + rounds[:3] + scenes[5:] + rounds[3:]
    assert demo_tail(lines) == scenes[2:] + ["[demo] round 38: ok", "[demo] round 39: ok"]
    assert demo_tail(rounds[:1]) == rounds[:1]
    assert demo_tail([]) == []


def test_a_reverted_post_shows_with_the_inbox_reason():
    """The batcher's stats -> its Prometheus text -> the status screen: backlog, slack, and the
    last reverted post's reason, in red."""
    from prometheus_client import generate_latest

    from sequencer.batcher import BatcherStats
    from sequencer.batcher_metrics import registry_for
    from sequencer.status import last_revert_reason

    stats = BatcherStats(batches=4, reverts=1, rebuilt=2, backlog_blocks=17, deadline_slack=23)
    stats.last_revert = {"sequence": 5, "reason": "inbox: wrong term", "l1_block": 63}
    text = generate_latest(registry_for(lambda: stats)).decode()
    assert last_revert_reason(text) == "inbox: wrong term"
    snap = Snapshot(
        taken_at=0,
        sequencer={"chains": {}},
        batcher=parse_metrics(text),
        batcher_revert=last_revert_reason(text),
    )
    console = Console(width=200, record=True)
    console.print(render(snap))
    screen = console.export_text()
    assert "4 posted, backlog 17 blocks, deadline slack 23 L1 blocks" in screen
    assert "2 rebuilt at the term check, 1 reverted (last: inbox: wrong term)" in screen
    quiet = Snapshot(taken_at=0, sequencer={"chains": {}})
    console = Console(width=200, record=True)
    console.print(render(quiet))
    assert "batcher" not in console.export_text()  # no batcher configured: no line


def test_the_live_view_scrapes_the_service_metrics_at_most_every_few_seconds(monkeypatch):
    # The live view takes a snapshot every second; scraping the service's /metrics with each
    # one cost the idle service about 0.4 % of a core (bench/idle.py). The live loops take them
    # every METRICS_EVERY_S (the last scrape shown in between); `--once` and 0 scrape every time.
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sequencer import status
    from sequencer.manifest import ChainEntry, Manifest

    asked: list[str] = []

    class Sequencer(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            asked.append(self.path)
            self._answer(METRICS.encode())

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            asked.append("seq_status")
            self._answer(json.dumps({"jsonrpc": "2.0", "id": 1, "result": {}}).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sequencer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    manifest = Manifest("t", {"l1": ChainEntry("l1", "l1", 31337, "http://127.0.0.1:1", {})})
    monkeypatch.setattr(status.Collector, "_read_l1", lambda self, snap: None)
    clock = [100.0]
    monkeypatch.setattr(status.time, "monotonic", lambda: clock[0])
    try:
        live = status.Collector(manifest, url, metrics_every_s=status.METRICS_EVERY_S)
        snaps = []
        for step in (0.0, 1.0, 1.0, 1.0, 1.0, 1.0):
            clock[0] += step
            snaps.append(live.snapshot())
        assert asked.count("seq_status") == 6
        assert asked.count("/metrics") == 2  # at 100 s and at 105 s
        assert all(metric_sum(s.metrics, "seq_tx_accepted_total") == 42 for s in snaps)
        asked.clear()
        once = status.Collector(manifest, url)
        once.snapshot()
        once.snapshot()
        assert asked.count("/metrics") == 2
    finally:
        server.shutdown()
