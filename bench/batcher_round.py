"""Where a batcher round's time goes: full blob batches posted from a sealed backlog, profiled.

    .venv/bin/python bench/batcher_round.py [--txs 8000] [--rounds 3] [--senders 64]

Starts its own chains (an L1 mining a block per second, two rollup anvils) and the service as
in `bench/batcher_backlog.py`, seals `--txs` transfers (sent as fast as the service takes
them), then, with no traffic, runs the batcher in this process (blob mode, every round
forced) for `--rounds` rounds under cProfile: each round builds one full blob batch (read the
blocks, encode, commit, KZG) and posts it (send, wait for L1). Prints each round's phases and
the profile's per-batch cost of each stage (cumulative seconds / batches), so two versions of
the batcher can be compared on the same machine (run it from each one's checkout). Other
processes share the machine's cores: compare runs made back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from batcher_backlog import _fund, deploy_l1  # noqa: E402
from ingest import CHAIN_IDS, _sign_lane, run_lanes, split_lanes, wait_sealed  # noqa: E402

from sequencer.batcher import Batcher, InboxView  # noqa: E402
from sequencer.config import DEVNET_SEQUENCER_ADDRESS, DEVNET_SEQUENCER_KEY  # noqa: E402
from sequencer.devnet import Devnet, default_specs, free_port  # noqa: E402
from sequencer.engine import SyncEngineClient  # noqa: E402
from sequencer.manifest import ChainEntry, Manifest  # noqa: E402
from sequencer.posting import PostingPolicy  # noqa: E402
from sequencer.txmgr import TxManager  # noqa: E402

# (label, file name suffix, function): the stages of a round, as the profile names them
STAGES = [
    ("round (step)", "batcher.py", "_step"),
    ("build (next_batch)", "batcher.py", "next_batch"),
    ("read blocks", "batcher.py", "_read"),
    ("  raw txs from the journal", "batcher.py", "_journal_raws"),
    ("encode payload", "batch_codec.py", "encode"),
    ("  columns split", "batch_codec.py", "_encode_columns"),
    ("commitments (leaves, root)", "batcher.py", "commitment"),
    ("KZG sidecar", "kzg.py", "sidecar"),
    ("post (send + wait)", "batcher.py", "post"),
    ("  send", "txmgr.py", "send"),
    ("  wait for L1", "txmgr.py", "wait"),
]


async def _send_all(base: str, lanes) -> None:
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=300), connector=aiohttp.TCPConnector(limit=256)
    ) as session:
        await run_lanes(
            session, lambda c: f"{base}/{c}", "seq_sendRawTransaction", lanes, None, "fill"
        )
        await wait_sealed(session, base, 300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="build each batch in its own round (the profile then sees every stage)",
    )
    args = parser.parse_args()
    per_lane = max(1, args.txs // args.senders)
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        jobs = [(i, CHAIN_IDS[i % 2], 0, per_lane) for i in range(args.senders)]
        signed = dict(zip(range(args.senders), pool.map(_sign_lane, jobs), strict=True))
    lanes = split_lanes(signed, args.senders, 0, per_lane)

    with tempfile.TemporaryDirectory(prefix="bench-round-") as work:
        tmp = Path(work)
        specs = default_specs(free_port(), [free_port(), free_port()], list(CHAIN_IDS))
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
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            service = subprocess.Popen(
                [sys.executable, "-m", "sequencer.cli", "run", "--manifest", str(manifest),
                 "--port", str(port), "--journal", str(tmp / "journal.sqlite"), "--devnet-key"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=open(tmp / "service.log", "wb"),
                text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            try:
                if "listening" not in service.stdout.readline():
                    raise RuntimeError((tmp / "service.log").read_text()[-2000:])
                started = time.monotonic()
                asyncio.run(_send_all(base, lanes))
                took = time.monotonic() - started
                print(f"{per_lane * args.senders} transfers sealed in {took:.0f} s")
                view = InboxView(
                    w3,
                    (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
                    (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
                )
                from sequencer.commitments import Signer

                batcher = Batcher(
                    view,
                    TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account()),
                    {s.chain_id: SyncEngineClient(s.url) for s in net.specs if s.role == "rollup"},
                    mode="blob",
                    sequencer=SyncEngineClient(base + "/"),
                    policy=PostingPolicy(),  # its block summaries bound what a round reads
                )
                batcher.pipeline = not args.no_pipeline
                from sequencer import kzg

                kzg.trusted_setup()  # loaded once per process: not a round's cost
                profile = cProfile.Profile()
                posted = 0
                wall = time.perf_counter()
                while posted < args.rounds:
                    if view.blocks_left_in_term() < batcher.term_margin + 3:
                        time.sleep(1.0)  # the term's end: no post would be sent
                        continue
                    t0 = time.perf_counter()
                    profile.enable()
                    confirmed = batcher.step(force=True)
                    profile.disable()
                    if confirmed is None:
                        continue
                    posted += 1
                    last = batcher.stats.last
                    print(
                        f"round {posted}: {time.perf_counter() - t0:.2f} s, {last['l2_txs']} txs, "
                        f"{last['bytes']:,} payload bytes, timings {last['timings']}"
                    )
                wall = time.perf_counter() - wall
            finally:
                service.terminate()
                service.wait(10)
    stats = pstats.Stats(profile)
    found = {(f.split("/")[-1], name): ct for (f, _, name), (_, _, _, ct, _) in stats.stats.items()}
    print(f"\n{posted} batches in {wall:.1f} s; per batch (main thread, cumulative):")
    for label, path, name in STAGES:
        if (path, name) in found:
            print(f"  {label:<30} {found[(path, name)] / posted:6.3f} s")
    stats.sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
