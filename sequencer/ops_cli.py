"""Commands around the service: `sequencer batch`, `sequencer derive`, `sequencer status`,
`sequencer watch` (the fisherman), and the whole-system run behind `make devnet` (`run_stack`).

This module only parses arguments and wires parts together: the batcher, derivation, status view
and process management live in their own modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sequencer.devnet import (
    PROJECT_ROOT,
    ROLLUP_FLAGS,
    ChainSpec,
    Child,
    Devnet,
    free_port,
    port_holder,
    spawn,
)
from sequencer.manifest import Manifest, ManifestError, load_manifest

if TYPE_CHECKING:  # imported lazily below: the commands that need them pay for them
    from web3 import Web3

    from sequencer.commitments import Signer

F = TypeVar("F", bound=Callable[..., Any])


def _key_options(function: F) -> F:
    function = click.option(
        "--keystore",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Encrypted eth-account keystore; password from SEQUENCER_KEYSTORE_PASSWORD(_FILE).",
    )(function)
    return click.option(
        "--devnet-key",
        is_flag=True,
        default=False,
        help="Sign with anvil's PUBLIC well-known key #1 (devnet only).",
    )(function)


def _manifest(path: Path) -> Manifest:
    try:
        return load_manifest(path)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc


def _l1_contract(manifest: Manifest, name: str) -> tuple[str, list]:
    entry = manifest.l1.contracts.get(name)
    if entry is None:
        raise click.ClickException(f"the manifest has no {name} on the L1 (deploy the L1 first)")
    return entry.address, entry.abi


def _signer(manifest: Path, devnet_key: bool, keystore: Path | None) -> Signer:
    """The sequencer's key from `_key_options` (devnet key or encrypted keystore), as a
    `commitments.Signer`; a clear error, never a traceback, when it cannot be loaded."""
    from sequencer.config import ConfigError, ServiceConfig

    try:
        config = ServiceConfig(
            manifest=manifest, key_source="devnet" if devnet_key else "keystore", keystore=keystore
        )
        return config.load_signer()
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def _l1_web3(manifest: Manifest) -> Web3:
    from web3 import Web3

    return Web3(Web3.HTTPProvider(manifest.l1.rpc_url, request_kwargs={"timeout": 30}))


def _run_until_interrupted(run: Callable[[threading.Event, float], None], interval: float) -> None:
    """`run(stop, interval)` (the batcher's or the fisherman's loop) until Ctrl-C."""
    stop = threading.Event()
    try:
        run(stop, interval)
    except KeyboardInterrupt:
        stop.set()


@click.command("batch")
@click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@_key_options
@click.option(
    "--mode",
    type=click.Choice(["auto", "calldata", "blob"]),
    default="auto",
    show_default=True,
    help="How the payload travels to L1.",
)
@click.option(
    "--interval", type=float, default=2.0, show_default=True, help="Seconds between posting rounds."
)
@click.option(
    "--confirmations",
    type=int,
    default=1,
    show_default=True,
    help="L1 blocks on top of a batch before it counts as posted.",
)
@click.option(
    "--max-blocks",
    type=int,
    default=None,
    help="Most blocks per rollup in one batch (default: as many as the carrier holds).",
)
@click.option(
    "--margin-blocks",
    type=int,
    default=8,
    show_default=True,
    help="Post when the nearest promise or forced-item deadline among unposted blocks is this "
    "many L1 blocks away (or the term's posting window closes that soon).",
)
@click.option(
    "--max-delay",
    type=float,
    default=60.0,
    show_default=True,
    help="Post when the oldest unposted transaction has waited this many seconds.",
)
@click.option(
    "--fill-bytes",
    type=int,
    default=None,
    help="Post when the unposted blocks' payload (estimated as encoded, at the last batch's "
    "compression ratio) reaches this many bytes (default: one blob's payload, 126,972 bytes).",
)
@click.option(
    "--every-round",
    is_flag=True,
    help="No posting policy: post whatever is unposted every round (empty blocks included).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve the batcher's Prometheus metrics on 127.0.0.1:PORT/metrics.",
)
@click.option(
    "--sequencer-rpc",
    default="http://127.0.0.1:8547",
    show_default=True,
    help="The sequencer's RPC, for the forced-queue items each block processed.",
)
@click.option("--once", is_flag=True, help="Post what is pending once, then exit.")
def batch(
    manifest: Path,
    devnet_key: bool,
    keystore: Path | None,
    mode: str,
    interval: float,
    confirmations: int,
    max_blocks: int | None,
    margin_blocks: int,
    max_delay: float,
    fill_bytes: int | None,
    every_round: bool,
    metrics_port: int | None,
    sequencer_rpc: str,
    once: bool,
) -> None:
    """Post sealed rollup blocks to the L1 SharedInbox (only in this key's terms), when the
    posting policy says so: a full blob, a deadline near, or the maximum delay; never for empty
    blocks alone. `--once` posts what is pending now, policy or not, then exits."""
    from sequencer.batcher import Batcher, InboxView
    from sequencer.engine import SyncEngineClient
    from sequencer.posting import BLOB_CAPACITY, PostingPolicy
    from sequencer.txmgr import TxManager

    try:
        policy = PostingPolicy(margin_blocks, fill_bytes or BLOB_CAPACITY, max_delay)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    m = _manifest(manifest)
    signer = _signer(manifest, devnet_key, keystore)
    w3 = _l1_web3(m)
    inbox = InboxView(w3, _l1_contract(m, "SharedInbox"), _l1_contract(m, "SequencerRegistry"))
    txmgr = TxManager(w3, signer.local_account(), confirmations=confirmations)
    engines = {r.chain_id: SyncEngineClient(r.rpc_url) for r in m.rollups}
    batcher = Batcher(
        inbox,
        txmgr,
        engines,
        mode=mode,
        max_blocks=max_blocks,
        sequencer=SyncEngineClient(sequencer_rpc.rstrip("/") + "/"),
        policy=None if every_round else policy,
    )
    click.echo(f"batcher for {signer.address} posting to {inbox.inbox.address} ({mode})")
    if metrics_port is not None:
        from sequencer import batcher_metrics

        batcher_metrics.serve(lambda: batcher.stats, metrics_port)
        click.echo(f"batcher metrics on http://127.0.0.1:{metrics_port}/metrics")
    if once:
        # everything sealed now, in as many batches as it takes (blocks sealed meanwhile wait)
        target = batcher._sealed_heads()
        while batcher.step(force=True) is not None:
            tips = batcher.inbox.tips()
            if all(tips.get(c, (0, b""))[0] >= head for c, head in target.items()):
                break
        click.echo(json.dumps(batcher.stats.last))
        return
    _run_until_interrupted(batcher.run, interval)


@click.command("endpoint")
@click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@_key_options
@click.option(
    "--url",
    required=True,
    help="This sequencer's public RPC base URL (empty string: withdraw it).",
)
def endpoint(manifest: Path, devnet_key: bool, keystore: Path | None, url: str) -> None:
    """Publish this sequencer's RPC URL in the SequencerRegistry (`set_endpoint`): the other
    sequencers forward the writes they receive to it while this one leads a term."""
    from web3 import Web3

    from sequencer.txmgr import TxManager, TxRequest

    m = _manifest(manifest)
    signer = _signer(manifest, devnet_key, keystore)
    w3 = _l1_web3(m)
    address, abi = _l1_contract(m, "SequencerRegistry")
    registry = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
    data = bytes.fromhex(registry.encode_abi("set_endpoint", args=[url])[2:])
    txmgr = TxManager(w3, signer.local_account(), confirmations=1)
    confirmed = txmgr.send_and_wait(TxRequest(to=registry.address, data=data))
    if confirmed.status != 1:
        raise click.ClickException(
            f"set_endpoint reverted (tx 0x{confirmed.tx_hash.hex()}): is {signer.address} "
            "a registered sequencer?"
        )
    click.echo(f"{signer.address} publishes {url or '(no endpoint)'} in {registry.address}")


@click.command("watch")
@click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option(
    "--keystore",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The fisherman's encrypted eth-account keystore; password from "
    "SEQUENCER_KEYSTORE_PASSWORD(_FILE).",
)
@click.option(
    "--devnet-key",
    is_flag=True,
    default=False,
    help="Send with anvil's PUBLIC well-known key #4 (only on the devnet L1, chain 31337).",
)
@click.option(
    "--preconfs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON lines of signed pre-confirmations, as seq_sendRawTransaction returns them.",
)
@click.option(
    "--headers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON lines of signed block headers, as seq_getBlockHeader returns them.",
)
@click.option(
    "--receipts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON lines of signed bundle receipts, as seq_getBundleReceipt returns them.",
)
@click.option(
    "--sequencer-rpc",
    default=None,
    help="The sequencer's RPC: polled for the signed header of every new block.",
)
@click.option(
    "--tx-hash",
    "tx_hashes",
    multiple=True,
    help="With --sequencer-rpc: fetch this transaction's pre-confirmation (repeatable).",
)
@click.option(
    "--interval", type=float, default=2.0, show_default=True, help="Seconds between rounds."
)
@click.option("--once", is_flag=True, help="One round, print the counts as JSON, exit.")
def watch(
    manifest: Path,
    keystore: Path | None,
    devnet_key: bool,
    preconfs: Path | None,
    headers: Path | None,
    receipts: Path | None,
    sequencer_rpc: str | None,
    tx_hashes: tuple[str, ...],
    interval: float,
    once: bool,
) -> None:
    """The fisherman: watch L1 and the sequencer's signed promises, and submit evidence of every
    broken one to the Slasher (censorship, pre-confirmations, equivocation, bundle receipts)."""
    from sequencer.engine import SyncEngineClient
    from sequencer.fisherman import DEVNET_FISHERMAN_KEY, DEVNET_L1_CHAIN_ID, Fisherman
    from sequencer.txmgr import TxManager

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    m = _manifest(manifest)
    if devnet_key == (keystore is not None):
        raise click.UsageError("give exactly one of --keystore and --devnet-key")
    if devnet_key and m.l1.chain_id != DEVNET_L1_CHAIN_ID:
        raise click.UsageError(
            f"--devnet-key is a public key: refused on L1 chain {m.l1.chain_id} "
            f"(only the devnet's {DEVNET_L1_CHAIN_ID})"
        )
    key: bytes | str = DEVNET_FISHERMAN_KEY
    if keystore is not None:
        key = _signer(manifest, False, keystore).local_account().key
    w3 = _l1_web3(m)
    contracts = {n: _l1_contract(m, n) for n in ("Slasher", "SharedInbox", "SequencerRegistry")}
    txmgr = TxManager(w3, key, confirmations=1)
    del key
    fisher = Fisherman(
        w3,
        contracts,
        txmgr,
        {r.chain_id: SyncEngineClient(r.rpc_url) for r in m.rollups},
        SyncEngineClient(sequencer_rpc.rstrip("/") + "/") if sequencer_rpc else None,
    )
    for tx_hash in tx_hashes:
        fisher.watch_tx.add(bytes.fromhex(tx_hash.removeprefix("0x")))
    if preconfs is not None:
        click.echo(f"{fisher.load_lines(preconfs, 'preconf')} pre-confirmations from {preconfs}")
    if headers is not None:
        click.echo(f"{fisher.load_lines(headers, 'header')} block headers from {headers}")
    if receipts is not None:
        click.echo(f"{fisher.load_lines(receipts, 'receipt')} bundle receipts from {receipts}")
    click.echo(f"fisherman {txmgr.address} reporting to the Slasher {fisher.slasher.address}")
    if once:
        fisher.step()
        click.echo(json.dumps(fisher.stats.as_dict()))
        return
    _run_until_interrupted(fisher.run, interval)


@click.command("derive")
@click.option(
    "--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option(
    "--from-block",
    type=int,
    default=0,
    show_default=True,
    help="First L1 block to read batches from.",
)
def derive(manifest: Path, from_block: int) -> None:
    """Rebuild both rollups from L1 alone on fresh engines and check every commitment.

    Starts one fresh anvil per rollup (same chain id and genesis as the devnet's rollups), replays
    every batch the SharedInbox accepted, and exits non-zero naming the batch, rollup, block and
    field of the first mismatch.
    """

    from sequencer import batch_codec as bc
    from sequencer.derive import DerivationMismatch, L1BatchSource, derive_batch
    from sequencer.engine import EngineClient, engine_session

    m = _manifest(manifest)
    w3 = _l1_web3(m)
    address, abi = _l1_contract(m, "SharedInbox")
    source = L1BatchSource(w3, address, abi)
    posted = source.batches(from_block)
    queue = source.forced_queue()
    specs = [ChainSpec(r.name, "rollup", r.chain_id, free_port(), ROLLUP_FLAGS) for r in m.rollups]

    async def replay(urls: dict[int, str]) -> int:
        async with engine_session() as session:
            engines = {c: EngineClient(u, c, session) for c, u in urls.items()}
            cursor = dict.fromkeys(queue, 0)  # per rollup: forced items consumed so far
            count = 0
            for item in posted:
                try:
                    data = bc.decode(item.payload)
                except bc.CodecError as exc:
                    raise click.ClickException(
                        f"batch {item.header.sequence}: payload does not decode: {exc}"
                    ) from exc
                forced = {}
                for rng in data.ranges:
                    n = sum(block.forced_count for block in rng.blocks)
                    start = cursor.get(rng.chain_id, 0)
                    forced[rng.chain_id] = queue.get(rng.chain_id, [])[start : start + n]
                    cursor[rng.chain_id] = start + n
                await derive_batch(item.header, data, engines, forced)
                count += len(data.raw_txs())
                click.echo(
                    f"batch {item.header.sequence} ({item.mode}, L1 block {item.l1_block}): "
                    f"{len(data.raw_txs())} txs replayed, every commitment matches"
                )
            return count

    with tempfile.TemporaryDirectory(prefix="derive-") as tmp, Devnet(specs, Path(tmp)):
        started = time.perf_counter()
        try:
            count = asyncio.run(replay({s.chain_id: s.url for s in specs}))
        except DerivationMismatch as exc:
            raise click.ClickException(f"derivation mismatch: {exc}") from exc
        elapsed = time.perf_counter() - started
    click.echo(
        f"derived {len(posted)} batches, {count} L2 txs in {elapsed:.2f} s: "
        "both rollups rebuilt from L1 alone"
    )


@click.command("status")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With a manifest: the live view, L1 batches and stakes too.",
)
@click.option(
    "--rpc",
    "--url",
    "rpc",
    default="http://127.0.0.1:8547",
    show_default=True,
    help="The sequencer's RPC.",
)
@click.option(
    "--batcher-metrics",
    default=None,
    help="The batcher's metrics URL (`sequencer batch --metrics-port`), for its backlog, "
    "deadline slack and reverted posts.",
)
@click.option("--once", is_flag=True, help="Print one snapshot and exit.")
def status(manifest: Path | None, rpc: str, batcher_metrics: str | None, once: bool) -> None:
    """A running sequencer's state; with --manifest, the live view of the whole system (slots,
    pre-confirmations, batches on L1 with bytes and gas per L2 tx, leader and stake)."""
    if manifest is None:
        _print_seq_status(rpc)
        return
    from rich.console import Console
    from rich.live import Live

    from sequencer.status import METRICS_EVERY_S, REFRESH_S, Collector, render

    console = Console()
    watching = not once and console.is_terminal
    collector = Collector(
        _manifest(manifest),
        rpc,
        batcher_metrics_url=batcher_metrics,
        metrics_every_s=METRICS_EVERY_S if watching else 0.0,
    )
    if not watching:
        console.print(render(collector.snapshot()))
        return
    with Live(render(collector.snapshot()), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(REFRESH_S)
                live.update(render(collector.snapshot()), refresh=True)
        except KeyboardInterrupt:
            pass


def _print_seq_status(url: str) -> None:
    """seq_status as text: signer, L1 head, each rollup's head; exit 1 if the builder halted."""
    from sequencer.devnet import DevnetError, rpc_call

    try:
        state = rpc_call(url.rstrip("/") + "/", "seq_status", [], timeout=5.0)
    except (OSError, DevnetError) as exc:
        raise click.ClickException(f"no sequencer answering at {url}: {exc}") from exc
    click.echo(
        f"signer   {state['signer']}  (verifying contract "
        f"{state['domain']['verifyingContract']} on L1 {state['domain']['chainId']})"
    )
    click.echo(
        f"L1 head  {state['l1Head']}   slots built {state['slots']}   "
        f"ordering {state['ordering']}   halted {state['halted'] or 'no'}"
    )
    leader = state.get("leader")
    if leader is not None:
        click.echo(
            f"role     {leader['role']}  term {leader.get('term')} (ends at L1 block "
            f"{leader.get('termEnd')})  leader {leader.get('leader') or '-'}  next "
            f"{leader.get('nextLeader') or '-'}  forwarding to {leader.get('forwardUrl') or '-'}"
        )
    for chain_id, chain in state["chains"].items():
        click.echo(
            f"rollup {chain_id:<6} head {chain['head']:<8} pending {chain['pending']:<6} "
            f"last planned {chain['lastPlannedBlock']}  gas limit {chain['blockGasLimit']}"
        )
    if state["halted"]:
        raise SystemExit(1)


# --- the whole system, for `make devnet` ---


class StackNotReady(click.ClickException):
    """The deployment lacks what the services need; the chains can still run."""


def _wait_http(url: str, timeout: float, child: Child) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            tail = child.log_path.read_text(errors="replace")[-1500:]
            raise click.ClickException(f"{child.name} exited at start:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"{child.name} did not answer on {url} within {timeout} s")


def run_stack(
    manifest_path: Path,
    log_dir: Path,
    rpc_port: int,
    demo: bool,
    exit_after: float | None,
    alive_check: Callable[[], object],
) -> None:
    """Run the sequencer, the batcher and the demo workload against a deployed devnet, and show
    the live status until Ctrl-C (or `exit_after` seconds). Every process started here dies with
    the caller."""
    from rich.console import Console
    from rich.live import Live

    from sequencer.status import METRICS_EVERY_S, REFRESH_S, Collector, render

    holder = port_holder(rpc_port)
    if holder is not None:
        raise click.ClickException(f"sequencer RPC port {rpc_port} is already in use by {holder}")
    manifest = _manifest(manifest_path)
    if "Slasher" not in manifest.l1.contracts and not os.environ.get("SEQUENCER_SLASHER_ADDRESS"):
        raise StackNotReady(
            "the manifest has no Slasher on the L1, so signed promises would have no verifier: "
            "the sequencer is not started (deploy the L1 contracts, or set "
            "SEQUENCER_SLASHER_ADDRESS)"
        )
    journal = log_dir.parent / "journal.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal}{suffix}").unlink(missing_ok=True)  # fresh chains, fresh journal
    python = sys.executable
    children: list[Child] = []
    try:
        sequencer = spawn(
            "sequencer",
            [
                python,
                "-m",
                "sequencer.cli",
                "run",
                "--manifest",
                str(manifest_path),
                "--devnet-key",
                "--port",
                str(rpc_port),
                "--journal",
                str(journal),
            ],
            log_dir / "sequencer.log",
        )
        children.append(sequencer)
        rpc_url = f"http://127.0.0.1:{rpc_port}"
        _wait_http(rpc_url + "/health", 60, sequencer)
        click.echo(
            f"sequencer  {rpc_url}  (rollups at {rpc_url}/<chain_id>; log {sequencer.log_path})"
        )
        batcher_metrics_url = None
        if "SharedInbox" in manifest.l1.contracts:
            metrics_port = free_port()
            batcher_metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            children.append(
                spawn(
                    "batcher",
                    [
                        python,
                        "-m",
                        "sequencer.cli",
                        "batch",
                        "--manifest",
                        str(manifest_path),
                        "--devnet-key",
                        "--sequencer-rpc",
                        rpc_url,
                        "--metrics-port",
                        str(metrics_port),
                    ],
                    log_dir / "batcher.log",
                )
            )
            click.echo(f"batcher    posting to L1 (log {log_dir / 'batcher.log'})")
        else:
            click.echo("batcher    not started: the manifest has no SharedInbox on the L1")
        demo_log = log_dir / "demo.log"
        if demo:
            children.append(
                spawn(
                    "demo",
                    [
                        python,
                        str(PROJECT_ROOT / "scripts" / "demo_workload.py"),
                        "--manifest",
                        str(manifest_path),
                        "--rpc",
                        rpc_url,
                    ],
                    demo_log,
                )
            )
        collector = Collector(
            manifest,
            rpc_url,
            demo_log if demo else None,
            batcher_metrics_url=batcher_metrics_url,
            metrics_every_s=METRICS_EVERY_S,
        )
        console = Console()
        started = time.monotonic()

        def check() -> None:
            alive_check()
            for child in children:
                if child.name != "demo" and not child.alive():
                    raise click.ClickException(f"{child.name} exited; see {child.log_path}")

        if console.is_terminal:  # redrawn with each snapshot only (no timer of its own)
            with Live(render(collector.snapshot()), console=console, auto_refresh=False) as live:
                while exit_after is None or time.monotonic() - started < exit_after:
                    time.sleep(REFRESH_S)
                    check()
                    live.update(render(collector.snapshot()), refresh=True)
        else:
            last_print = 0.0
            while exit_after is None or time.monotonic() - started < exit_after:
                time.sleep(REFRESH_S)
                check()
                if time.monotonic() - last_print >= 5:
                    last_print = time.monotonic()
                    console.print(render(collector.snapshot()))
    finally:
        for child in reversed(children):
            child.stop()
