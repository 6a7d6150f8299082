"""Batcher backlog benchmark: does the batcher keep up with sustained ingest, deadlines kept?

    .venv/bin/python bench/batcher_backlog.py [--rate 1000] [--seconds 300] [--idle-seconds 30]
                                              [--senders 64] [--mode auto]

Starts its own chains (an L1 mining a block per second, two rollup anvils), deploys the L1
contracts (registry, inbox, slasher) and stakes the devnet sequencer, then runs the service
(`sequencer run`) and the batcher (`sequencer batch`, its posting policy on) as subprocesses.

1. idle: `--idle-seconds` with no traffic: batches posted (0 expected: empty rollup blocks are
   never posted alone) and the batcher's CPU, as a share of one core (target <= 2 %);
2. load: transfers at `--rate` tx/s (the rates of `bench/ingest.py`'s sweep; open loop, one
   lane per sender, a transfer refused by backpressure sent again 0.5 s later) for
   `--seconds`; every second it samples the backlog (sealed blocks of both
   rollups that L1 does not hold yet) and the deadline slack (the nearest promise deadline among
   them minus the L1 head);
3. drain: no traffic until L1 holds every block that carries a promise;
4. verdict: every posted batch's blocks checked against their promises' deadlines (a block is
   late when the batch's L1 block is after the earliest deadline it carries).

Prints backlog and slack over the load phase (min, median, max, last, and a per-10 s series),
the first minute's backlog median against the last minute's (the baseline a bounded backlog
stays near) and the slack's minimum in each, and writes bench/results/batcher_backlog.{json,md}.
`--profile PATH` runs the batcher under cProfile (printed at the end; `bench/batcher_round.py`
profiles single rounds without the load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import requests
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evm import compile_contract, deploy, write_results  # noqa: E402
from ingest import (  # noqa: E402
    CHAIN_IDS,
    PhaseResult,
    _sign_lane,
    cpu_seconds,
    fund,
    split_lanes,
)

from sequencer.batch_codec import BLOB_CAPACITY  # noqa: E402
from sequencer.batcher import InboxView  # noqa: E402
from sequencer.commitments import header_from_abi  # noqa: E402
from sequencer.config import DEVNET_SEQUENCER_ADDRESS  # noqa: E402
from sequencer.devnet import Devnet, default_specs, free_port  # noqa: E402
from sequencer.manifest import ChainEntry, ContractEntry, Manifest  # noqa: E402

TARGET_IDLE_CPU = 0.02


def _rpc(url: str, method: str, params=None):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    answer = requests.post(url, json=body, timeout=30).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def deploy_l1(w3: Web3) -> dict[str, ContractEntry]:
    """Registry, inbox and slasher as `bench/batches.py` deploys them; the devnet sequencer
    staked and leading (it is the only one)."""
    w3.eth.default_account = w3.eth.accounts[0]
    registry_c = compile_contract("contracts/l1/SequencerRegistry.vy")
    inbox_c = compile_contract("contracts/l1/SharedInbox.vy")
    slasher_c = compile_contract("contracts/l1/Slasher.vy")
    treasury = w3.eth.accounts[3]
    registry = deploy(w3, registry_c, 10**18, 32, 1000, 600, 1000, 5000, treasury)
    inbox = deploy(w3, inbox_c, registry.address, 120, 60, 10**15, list(CHAIN_IDS))
    slasher = deploy(w3, slasher_c, registry.address, inbox.address, 10**17)
    w3.eth.wait_for_transaction_receipt(registry.functions.set_slasher(slasher.address).transact())
    w3.eth.wait_for_transaction_receipt(
        registry.functions.register().transact(
            {"from": DEVNET_SEQUENCER_ADDRESS, "value": 2 * 10**18}
        )
    )
    w3.provider.make_request("anvil_mine", [hex(64)])  # the sequencer leads from the next term
    return {
        "SequencerRegistry": ContractEntry("SequencerRegistry", registry.address, registry_c.abi),
        "SharedInbox": ContractEntry("SharedInbox", inbox.address, inbox_c.abi),
        "Slasher": ContractEntry("Slasher", slasher.address, slasher_c.abi),
    }


class Sampler(threading.Thread):
    """Every second: the backlog of sealed, unposted blocks and the nearest deadline's slack."""

    def __init__(self, base: str, view: InboxView) -> None:
        super().__init__(daemon=True)
        self.base, self.view = base, view
        self.samples: list[dict] = []
        self.stop = threading.Event()
        self.started_at = time.monotonic()
        self.deadlines: dict[int, dict[int, int | None]] = {c: {} for c in CHAIN_IDS}

    def sample(self) -> dict:
        status = _rpc(self.base, "seq_status")
        tips = self.view.tips()
        head = self.view.w3.eth.block_number
        backlog, deadlines = 0, []
        for chain_id in CHAIN_IDS:
            sealed = int(status["chains"][str(chain_id)]["head"])
            first = tips.get(chain_id, (0, b""))[0] + 1
            backlog += max(0, sealed - first + 1)
            known = self.deadlines[chain_id]  # sealed blocks do not change: read each once
            for number in [n for n in known if n < first]:
                del known[number]
            start = max([first, *(n + 1 for n in known)])
            for lo in range(start, sealed + 1, 10_000):
                hi = min(sealed, lo + 9_999)
                for s in _rpc(self.base, "seq_getBlockSummaries", [chain_id, lo, hi]):
                    known[s["blockNumber"]] = s["deadline"]
            deadlines += [d for n, d in known.items() if d is not None and n <= sealed]
        return {
            "t": round(time.monotonic() - self.started_at, 1),
            "l1_head": head,
            "backlog_blocks": backlog,
            "slack": (min(deadlines) - head) if deadlines else None,
            "promised_blocks_unposted": len(deadlines),
        }

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append(self.sample())
            except Exception as exc:  # noqa: BLE001 - a missed sample is reported, not fatal
                self.samples.append(
                    {"t": round(time.monotonic() - self.started_at, 1), "error": str(exc)}
                )
            self.stop.wait(1.0)


def late_blocks(base: str, view: InboxView) -> dict:
    """Every posted batch against its blocks' promise deadlines."""
    event = view.inbox.events.BatchPosted()
    blocks = promised = late = late_txs = batches = 0
    worst = None
    for entry in event.get_logs(from_block=0, to_block=view.w3.eth.block_number):
        batches += 1
        landed = entry["blockNumber"]
        for rollup in header_from_abi(entry["args"]["header"]).rollups:
            for lo in range(rollup.first_block, rollup.last_block + 1, 10_000):
                hi = min(rollup.last_block, lo + 9_999)
                for s in _rpc(base, "seq_getBlockSummaries", [rollup.chain_id, lo, hi]):
                    blocks += 1
                    if s["deadline"] is None:
                        continue
                    promised += 1
                    slack = s["deadline"] - landed
                    worst = slack if worst is None else min(worst, slack)
                    if slack < 0:
                        late += 1
                        late_txs += s["txCount"]
    return {
        "batches": batches,
        "blocks_posted": blocks,
        "promised_blocks_posted": promised,
        "late_blocks": late,
        "late_txs": late_txs,
        "min_slack_at_landing": worst,
    }


def _batcher_metrics(url: str) -> dict[str, float]:
    from sequencer.status import metric_sum, parse_metrics

    m = parse_metrics(requests.get(url, timeout=5).text)
    return {
        "batches": metric_sum(m, "seq_batcher_batches_total"),
        "l2_txs": metric_sum(m, "seq_batcher_l2_txs_total"),
        "l1_gas": metric_sum(m, "seq_batcher_l1_gas_total"),
        "payload_bytes": metric_sum(m, "seq_batcher_payload_bytes_total"),
        "reverts": metric_sum(m, "seq_batcher_reverts_total"),
        "rebuilt": metric_sum(m, "seq_batcher_rebuilt_total"),
    }


def _series(samples: list[dict], key: str) -> list:
    return [s[key] for s in samples if s.get(key) is not None]


def _trend(samples: list[dict], load_s: float) -> dict:
    """Backlog medians and slack minima of the load's first and last minute (the first minute
    is the baseline a bounded backlog stays near)."""

    def window(lo: float, hi: float, key: str) -> list:
        return [x[key] for x in samples if lo <= x["t"] < hi and x.get(key) is not None]

    first_b = window(0, 60, "backlog_blocks")
    last_b = window(max(0.0, load_s - 60), load_s + 1, "backlog_blocks")
    first_p = window(0, 60, "promised_blocks_unposted")
    last_p = window(max(0.0, load_s - 60), load_s + 1, "promised_blocks_unposted")
    first_s = window(0, 60, "slack")
    last_s = window(max(0.0, load_s - 60), load_s + 1, "slack")
    b0 = statistics.median(first_b) if first_b else None
    b1 = statistics.median(last_b) if last_b else None
    # per 30 s: the backlog's median and the slack's minimum, and the backlog's least-squares
    # slope over the load's second half (past the start-up): near 0 when bounded
    windows = []
    for lo in range(0, int(load_s) + 1, 30):
        b = window(lo, lo + 30, "backlog_blocks")
        sl = window(lo, lo + 30, "slack")
        if b:
            windows.append(
                {"t": lo, "backlog_median": statistics.median(b), "slack_min": min(sl or [None])}
            )
    half = [
        (x["t"], x["backlog_blocks"])
        for x in samples
        if load_s / 2 <= x["t"] <= load_s and x.get("backlog_blocks") is not None
    ]
    slope = None
    if len(half) >= 2:
        slope = statistics.linear_regression([t for t, _ in half], [b for _, b in half]).slope * 60
    return {
        "backlog_first": b0,
        "backlog_last": b1,
        "bounded": b0 is not None and b1 is not None and (b1 <= 1.5 * b0 or b1 <= b0 + 60),
        "promised_first": statistics.median(first_p) if first_p else None,
        "promised_last": statistics.median(last_p) if last_p else None,
        "slack_min_first": min(first_s) if first_s else None,
        "slack_min_last": min(last_s) if last_s else None,
        "windows": windows,
        "slope_per_min_second_half": None if slope is None else round(slope, 1),
    }


def _stats(values: list) -> str:
    if not values:
        return "-"
    return (
        f"min {min(values)}, median {statistics.median(values):.0f}, max {max(values)}, "
        f"last {values[-1]}"
    )


RETRYABLE = ("sequencer busy", "the leader is catching up")


async def run_lanes_retrying(session, base: str, lanes, rate: float, seconds: float) -> PhaseResult:
    """Each lane sends its transfers in nonce order on an open-loop schedule (`rate` tx/s in
    all) for `seconds`; a transfer refused with a retry hint (backpressure: `sequencer busy`)
    is sent again 0.5 s later, as a client would, so a lane falls behind its schedule instead
    of breaking its nonce sequence (every later nonce would be refused as too high)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = accepted = 0
    gap = len(lanes) / rate
    start = time.perf_counter() + 0.05
    end = start + seconds

    async def lane_task(position: int, lane) -> None:
        nonlocal sent, accepted
        url = f"{base}/{lane.chain_id}"
        for k, raw in enumerate(lane.txs):
            scheduled = start + position / rate + k * gap
            while True:
                now = time.perf_counter()
                if max(now, scheduled) >= end:
                    return
                if scheduled > now:
                    await asyncio.sleep(scheduled - now)
                body = {"jsonrpc": "2.0", "id": k, "method": "seq_sendRawTransaction"}
                async with session.post(url, json=body | {"params": [raw]}) as response:
                    answer = await response.json(content_type=None)
                sent += 1
                if "error" not in answer:
                    accepted += 1
                    latencies.append((time.perf_counter() - scheduled) * 1000)
                    break
                key = answer["error"]["message"].split(":")[0]
                errors[key] = errors.get(key, 0) + 1
                if not key.startswith(RETRYABLE):
                    return  # this lane's later nonces could not be accepted either
                scheduled = time.perf_counter() + 0.5

    began = time.perf_counter()
    await asyncio.gather(*(lane_task(i, lane) for i, lane in enumerate(lanes)))
    elapsed = time.perf_counter() - max(began, start)
    name = f"rate {rate:.0f}"
    return PhaseResult(name, rate, sent, accepted, sent - accepted, elapsed, latencies, errors)


async def _load(base: str, lanes, rate: float, seconds: float):
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=256)
    ) as s:
        return await run_lanes_retrying(s, base, lanes, rate, seconds)


async def _fund(urls: list[str], senders: int) -> None:
    async with aiohttp.ClientSession() as session:
        await fund(session, urls, senders + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="offered L2 tx/s")
    parser.add_argument("--seconds", type=float, default=300.0, help="load phase length")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--mode", default="auto", choices=["auto", "calldata", "blob"])
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run the batcher under cProfile and write its profile here (printed at the end)",
    )
    args = parser.parse_args()

    per_lane = max(1, int(args.rate * args.seconds / args.senders))
    print(f"signing {per_lane * args.senders} transactions ...", flush=True)
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        jobs = [(i, CHAIN_IDS[i % 2], 0, per_lane) for i in range(args.senders)]
        signed = dict(zip(range(args.senders), pool.map(_sign_lane, jobs), strict=True))
    lanes = split_lanes(signed, args.senders, 0, per_lane)

    work = tempfile.TemporaryDirectory(prefix="bench-backlog-")
    tmp = Path(work.name)
    specs = default_specs(free_port(), [free_port(), free_port()], list(CHAIN_IDS))
    children: list[subprocess.Popen] = []
    results: dict = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    }
    with Devnet(specs, log_dir=tmp / "logs") as net:
        l1_spec = next(s for s in net.specs if s.role == "l1")
        w3 = Web3(Web3.HTTPProvider(l1_spec.url, request_kwargs={"timeout": 60}))
        contracts = deploy_l1(w3)
        chains = {
            s.name: ChainEntry(
                s.name, s.role, s.chain_id, s.url, contracts if s.role == "l1" else {}
            )
            for s in net.specs
        }
        manifest = tmp / "manifest.json"
        Manifest(
            name="bench", chains=chains, accounts={"sequencer": DEVNET_SEQUENCER_ADDRESS}
        ).save(manifest)
        asyncio.run(_fund([s.url for s in net.specs if s.role == "rollup"], args.senders))
        port, metrics_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        try:
            service = subprocess.Popen(
                [sys.executable, "-m", "sequencer.cli", "run", "--manifest", str(manifest),
                 "--port", str(port), "--journal", str(tmp / "journal.sqlite"), "--devnet-key"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=open(tmp / "service.log", "wb"),
                text=True, env=env,
            )  # fmt: skip
            children.append(service)
            if "listening" not in service.stdout.readline():
                raise RuntimeError((tmp / "service.log").read_text()[-2000:])
            profiler = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
            batcher = subprocess.Popen(
                [sys.executable, *profiler, "-m", "sequencer.cli", "batch",
                 "--manifest", str(manifest), "--devnet-key", "--sequencer-rpc", base,
                 "--mode", args.mode, "--metrics-port", str(metrics_port)],
                cwd=ROOT, stdout=open(tmp / "batcher.out", "wb"),
                stderr=open(tmp / "batcher.log", "wb"), env=env,
            )  # fmt: skip
            children.append(batcher)
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            deadline = time.monotonic() + 60
            while True:
                try:
                    _batcher_metrics(metrics_url)
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline or batcher.poll() is not None:
                        raise RuntimeError((tmp / "batcher.log").read_text()[-2000:]) from None
                    time.sleep(0.5)
            time.sleep(3)  # the batcher's first rounds (and its one KZG setup load) settle

            # 1. idle
            pids = {"batcher": batcher.pid, "service": service.pid}
            cpu0, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(args.idle_seconds)
            cpu1, t1 = cpu_seconds(pids), time.monotonic()
            idle_cpu = (cpu1["batcher"] - cpu0["batcher"]) / (t1 - t0)
            idle = {
                "seconds": round(t1 - t0, 1),
                "batcher_cpu_share": round(idle_cpu, 4),
                "service_cpu_share": round((cpu1["service"] - cpu0["service"]) / (t1 - t0), 4),
                "batches": _batcher_metrics(metrics_url)["batches"],
            }
            results["idle"] = idle
            print(
                f"idle {idle['seconds']} s: {idle['batches']:.0f} batches, batcher CPU "
                f"{idle_cpu:.2%} of a core (target <= {TARGET_IDLE_CPU:.0%}), service CPU "
                f"{idle['service_cpu_share']:.2%}",
                flush=True,
            )

            # 2. load, sampled
            view = InboxView(
                Web3(Web3.HTTPProvider(l1_spec.url)),
                (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
                (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
            )
            before = _batcher_metrics(metrics_url)
            sampler = Sampler(base, view)
            sampler.start()
            cpu_load0 = cpu_seconds(pids)
            load = asyncio.run(_load(base, lanes, args.rate, args.seconds))
            cpu_load1 = cpu_seconds(pids)
            load_s = load.elapsed_s
            print(
                f"load: {load.accepted} accepted at {load.accepted_per_s:,.0f} tx/s over "
                f"{load_s:.0f} s ({load.sent} sends, refusals {load.errors})",
                flush=True,
            )
            # 3. drain: until no promised block is unposted
            drain_end = time.monotonic() + args.drain_timeout
            while time.monotonic() < drain_end:
                last = sampler.sample()
                if last["promised_blocks_unposted"] == 0:
                    break
                time.sleep(1)
            sampler.stop.set()
            sampler.join()
            after = _batcher_metrics(metrics_url)
            verdict = late_blocks(base, view)
            log_lines = (tmp / "batcher.log").read_text(errors="replace").splitlines()
            (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
            (ROOT / "bench" / "results" / "batcher_backlog.log").write_text("\n".join(log_lines))
            results["batcher_errors"] = [
                line for line in log_lines if "revert" in line or "failed" in line
            ][-10:]
        finally:
            for child in reversed(children):
                # SIGINT: the batcher stops cleanly (and a profiler writes its file)
                child.send_signal(signal.SIGINT if child in children[1:2] else signal.SIGTERM)
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()

    samples = sampler.samples
    loaded = [x for x in samples if x["t"] <= load_s]  # the load phase (drain samples after it)
    backlog = _series(loaded, "backlog_blocks")
    slack = _series(loaded, "slack")
    trend = _trend(loaded, load_s)
    posted_txs = after["l2_txs"] - before["l2_txs"]
    gas = after["l1_gas"] - before["l1_gas"]
    results.update(
        {
            "load": load.row(),
            "load_cpu_share": {
                k: round((cpu_load1[k] - cpu_load0[k]) / load_s, 4) for k in ("batcher", "service")
            },
            "batches": after["batches"] - before["batches"],
            "l2_txs_posted": posted_txs,
            "l1_gas_per_l2_tx": gas / posted_txs if posted_txs else None,
            "payload_bytes_per_batch": (after["payload_bytes"] - before["payload_bytes"])
            / max(1, after["batches"] - before["batches"]),
            "reverts": after["reverts"],
            "rebuilt": after["rebuilt"],
            "verdict": verdict,
            "trend": trend,
            "samples": samples,
        }
    )
    every10 = [s for s in samples if "backlog_blocks" in s][::10]
    lines = [
        "# Batcher backlog under sustained load",
        "",
        f"Idle {idle['seconds']} s: {idle['batches']:.0f} batches; batcher CPU "
        f"{idle['batcher_cpu_share']:.2%} of a core (target <= {TARGET_IDLE_CPU:.0%}): "
        f"{'PASS' if idle['batcher_cpu_share'] <= TARGET_IDLE_CPU else 'MISS'}.",
        "",
        f"Load: {load.accepted:,} transfers accepted at {load.accepted_per_s:,.0f} tx/s (offered "
        f"{args.rate:,.0f}) over {load_s:.0f} s (refusals, each retried: {load.errors or 'none'}; "
        f"p50 {load.pct(0.5):,.0f} ms, p99 {load.pct(0.99):,.0f} ms); batcher CPU "
        f"{results['load_cpu_share']['batcher']:.1%} of a core, service "
        f"{results['load_cpu_share']['service']:.1%}.",
        f"Batches: {results['batches']:.0f} ({args.mode}), {posted_txs:,.0f} L2 txs, "
        f"{results['l1_gas_per_l2_tx'] or 0:,.0f} L1 gas per L2 tx; {after['reverts']:.0f} "
        f"reverted, {after['rebuilt']:.0f} rebuilt at the term check; payload per batch "
        f"{results['payload_bytes_per_batch']:,.0f} bytes "
        f"({results['payload_bytes_per_batch'] / BLOB_CAPACITY:.0%} of a blob's).",
        "",
        "Backlog (sealed, unposted blocks of both rollups), sampled each second under load: "
        f"{_stats(backlog)}.",
        f"Backlog median, first minute {trend['backlog_first']} blocks, last minute "
        f"{trend['backlog_last']} blocks: {'bounded' if trend['bounded'] else 'GROWING'} "
        f"(bounded: the last minute's median within 1.5x the first's, or 60 blocks of it); "
        f"of them carrying a promise: {trend['promised_first']} and {trend['promised_last']} "
        "(empty blocks are never posted alone).",
        f"Backlog slope over the load's second half: {trend['slope_per_min_second_half']} blocks "
        "per minute (least squares; near 0 when bounded). Per 30 s, backlog median / slack min: "
        + ", ".join(
            f"{w['t']}s {w['backlog_median']:.0f}/{w['slack_min']}" for w in trend["windows"]
        )
        + ".",
        "Deadline slack (nearest unposted promise deadline - L1 head, L1 blocks) under load: "
        f"{_stats(slack)}; min in the first minute {trend['slack_min_first']}, in the last "
        f"minute {trend['slack_min_last']}.",
        f"Promised blocks posted: {verdict['promised_blocks_posted']:,} of "
        f"{verdict['blocks_posted']:,} blocks in {verdict['batches']} batches; late: "
        f"{verdict['late_blocks']} blocks ({verdict['late_txs']} txs); least slack at landing: "
        f"{verdict['min_slack_at_landing']} L1 blocks.",
        "",
        "| t (s) | L1 head | backlog blocks | slack (L1 blocks) |",
        "|---:|---:|---:|---:|",
    ]
    for s in every10:
        slack_text = "-" if s["slack"] is None else s["slack"]
        lines.append(f"| {s['t']} | {s['l1_head']} | {s['backlog_blocks']} | {slack_text} |")
    if results["batcher_errors"]:
        lines += ["", "Batcher log, last errors:", "", "```", *results["batcher_errors"], "```"]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    path = write_results("batcher_backlog", results, markdown)
    print(f"results: {path} (+ .json)")
    if args.profile:
        import pstats

        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
    work.cleanup()


if __name__ == "__main__":
    main()
