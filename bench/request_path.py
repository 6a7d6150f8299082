"""Where a promise's CPU goes on the request path, in-process: JSON-RPC batches through
`RpcServer.respond` into a `Sequencer` with a real journal (SQLite WAL, fsync'd commits).

    .venv/bin/python bench/request_path.py [--batches 150] [--batch 20] [--runs 3]

No HTTP and no engine work: the rollups are the in-memory engines of tests/sequencer/fakes.py,
and every sender's account is read before the clock starts, so what is measured is the
service's own path from a parsed body to the encoded answer (decode and sender recovery, the
static and pending judges, placement, the promise's digest and signature, the journal's rows and
group commits, the answers). Prints the process CPU per transaction (all threads: the journal
writer's too) for the whole path and for `Sequencer.send_raw` alone (the difference is the
JSON-RPC layer), then one run with the path's stages timed (thread CPU around each stage; the
timers add about 1 us per stage call, and stages nest: `_admit_one` holds the signature).
`bench/ingest.py` measures the same path behind HTTP, against anvil.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "sequencer"))

from fakes import FakeEngine, start_sequencer, transfer  # noqa: E402

import sequencer.builder as builder_module  # noqa: E402
import sequencer.journal as journal_module  # noqa: E402
import sequencer.mempool as mempool_module  # noqa: E402
import sequencer.rpc as rpc_module  # noqa: E402
import sequencer.service as service_module  # noqa: E402
from sequencer.rpc import RpcServer  # noqa: E402

# (owner, attribute, label): the stages timed by --split
STAGES: list[tuple[Any, str, str]] = [
    (rpc_module, "parse_body", "parse the body (JSON)"),
    (rpc_module, "encode_answer", "encode the answers (JSON)"),
    (service_module, "decode_tx", "decode + recover the sender (compiled)"),
    (service_module, "judge_static", "judge, static"),
    (service_module.Sequencer, "check_promising", "backpressure verdict"),
    (service_module.Sequencer, "ensure_account", "account known? (cached)"),
    (service_module.Sequencer, "_admit", "admit a loop turn's arrivals (all below)"),
    (service_module.Sequencer, "_admit_one", "  admit one (judge, place, sign, record)"),
    (service_module, "judge_pending", "    judge, against the sender's queue"),
    (builder_module.ChainPlan, "target", "    plan: target block"),
    (builder_module.ChainPlan, "place", "    plan: place"),
    (builder_module.ChainPlan, "base_fee_bound", "    plan: base fee bound"),
    (mempool_module.SenderLedger, "add", "    ledger: add"),
    (service_module.Sequencer, "preconf_json", "the promise's JSON view"),
    (service_module.Sequencer, "_answer_durable", "answer a durable commit group"),
    (journal_module, "_insert_txs", "journal rows (writer thread)"),
]


def _timed(fn: Callable, label: str, spent: collections.Counter) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - began

    return wrapper


async def run(args: argparse.Namespace, mode: str) -> tuple[float, dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-request-path-"))
    keys = ["0x" + (i + 1).to_bytes(32, "big").hex() for i in range(args.batches)]
    funded = {Account.from_key(k).address: 10**22 for k in keys}
    engines = {901: FakeEngine(901, funded), 902: FakeEngine(902, funded)}
    stack = await start_sequencer(
        tmp, engines=engines, journal_synchronous="FULL", l1_max_age_s=1e6
    )
    seq = stack.seq
    rpc = RpcServer(seq, seq.config, seq.metrics)
    bodies = [
        json.dumps(
            [
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "seq_sendRawTransaction",
                    "params": ["0x" + transfer(keys[b], 901 + b % 2, i).hex()],
                }
                for i in range(args.batch)
            ]
        ).encode()
        for b in range(args.batches)
    ]
    for chain in seq.chains.values():
        for address in funded:
            await seq.ensure_account(chain, address)
    spent: collections.Counter = collections.Counter()
    patched = []
    if mode == "split":
        for owner, name, label in STAGES:
            original = getattr(owner, name)
            patched.append((owner, name, original))
            setattr(owner, name, _timed(original, label, spent))
        signer = seq._preconf_signer

        class TimedSigner:
            def sign(self, *fields: Any) -> bytes:
                began = time.thread_time()
                try:
                    return signer.sign(*fields)
                finally:
                    spent["    the promise's digest + signature (compiled)"] += (
                        time.thread_time() - began
                    )

        seq.__dict__["_preconf_signer"] = TimedSigner()

    async def one(body: bytes) -> None:
        answer, status = await rpc.respond(None, None, 200, body, "bench", None)
        text = rpc.render(answer, status)[1] or ""
        assert status == 200 and '"error"' not in text, text[:300]

    async def direct(body: bytes) -> None:
        raws = [bytes.fromhex(item["params"][0][2:]) for item in json.loads(body)]
        await seq.turns.enter(len(raws))
        await asyncio.gather(*(seq.send_raw(None, raw) for raw in raws))

    began = time.process_time()
    try:
        await asyncio.gather(*((direct if mode == "send_raw" else one)(b) for b in bodies))
        cpu = time.process_time() - began
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
        await seq.stop()
    txs = args.batch * args.batches
    return cpu / txs * 1e6, {label: s / txs * 1e6 for label, s in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150, help="batches (one sender each)")
    parser.add_argument("--batch", type=int, default=20, help="transactions per batch")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for mode in ("respond", "send_raw"):
        figures = [uvloop.run(run(args, mode))[0] for _ in range(args.runs)]
        what = "JSON-RPC batch -> answer" if mode == "respond" else "Sequencer.send_raw alone"
        print(f"{what:<26} CPU per tx: " + ", ".join(f"{f:.0f}" for f in figures) + " us")
    _, split = uvloop.run(run(args, "split"))
    order = {label: i for i, (_, _, label) in enumerate(STAGES)}
    print("stages (thread CPU per tx, one timed run):")
    for label, value in sorted(split.items(), key=lambda kv: order.get(kv[0], 8.5)):
        print(f"  {label:<48} {value:6.1f} us")


if __name__ == "__main__":
    main()
