"""Command line: `sequencer devnet up|down|status`, `sequencer run` (and, as they land, derive...).

This module only parses arguments and wires the parts together; each part lives in its own module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from sequencer import devnet as devnet_mod
from sequencer.devnet import PROJECT_ROOT, Devnet, DevnetError, default_specs

DEFAULT_STATE = Path(".devnet/state.json")


@click.group()
@click.version_option(package_name="shared-sequencer")
def main() -> None:
    """Shared sequencer for two rollups, and its local devnet."""


@main.group()
def devnet() -> None:
    """Start, stop and inspect the local chains (one L1 and two rollup anvils)."""


@devnet.command("up")
@click.option("--l1-port", default=8545, show_default=True)
@click.option(
    "--rollup-ports",
    default="9545,9546",
    show_default=True,
    help="Comma-separated ports, one per rollup.",
)
@click.option(
    "--rollup-chain-ids",
    default="901,902",
    show_default=True,
    help="Comma-separated chain ids, one per rollup.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
)
@click.option(
    "--deploy/--no-deploy",
    default=True,
    show_default=True,
    help="Deploy the contracts and write the manifest once the chains answer.",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("deployments/devnet.json"),
    show_default=True,
)
@click.option(
    "--exit-after",
    type=float,
    default=None,
    help="Stop everything after this many seconds (for scripted runs).",
)
@click.option(
    "--run/--no-run",
    "run_services",
    default=True,
    show_default=True,
    help="After deploying: run the sequencer, the batcher and the live status view.",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="With --run: also run the demo workload.",
)
@click.option(
    "--rpc-port",
    type=int,
    default=8547,
    show_default=True,
    help="With --run: the sequencer's RPC port.",
)
def devnet_up(
    l1_port: int,
    rollup_ports: str,
    rollup_chain_ids: str,
    state_file: Path,
    deploy: bool,
    manifest: Path,
    exit_after: float | None,
    run_services: bool,
    demo: bool,
    rpc_port: int,
) -> None:
    """Start the chains and keep them running until Ctrl-C (or SIGTERM).

    With --deploy (default) the contracts are deployed and the manifest written; with --run
    (default) the sequencer, the batcher and the demo then run with a live status view. Every
    process started here dies with this process, however it ends.
    """
    try:
        ports = [int(p) for p in rollup_ports.split(",") if p]
        chain_ids = [int(c) for c in rollup_chain_ids.split(",") if c]
        specs = default_specs(l1_port, ports, chain_ids)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    net = Devnet(specs, log_dir=state_file.parent / "logs", state_file=state_file)
    with devnet_mod.stop_on_signals():
        try:
            net.start()
        except DevnetError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            for chain in net.running():
                click.echo(
                    f"{chain.spec.name:<9} chain {chain.spec.chain_id:<6} "
                    f"{chain.spec.url}  (pid {chain.pid}, log {chain.log_path})"
                )
            click.echo(f"state: {state_file.resolve()}")
            if deploy:
                _run_deploy(state_file, manifest)
            click.echo("devnet running; Ctrl-C stops every process it started")

            def chains_alive() -> None:
                for chain in net.running():
                    if not _alive_child(chain.pid):
                        raise click.ClickException(
                            f"anvil for {chain.spec.name} died; see {chain.log_path}"
                        )

            from sequencer.ops_cli import StackNotReady, run_stack

            stack_ran = False
            if deploy and run_services:
                try:
                    run_stack(
                        manifest,
                        state_file.parent / "logs",
                        rpc_port,
                        demo,
                        exit_after,
                        chains_alive,
                    )
                    stack_ran = True
                except StackNotReady as exc:
                    click.echo(f"warning: {exc.message}; the chains keep running", err=True)
            if not stack_ran:
                started = time.monotonic()
                while exit_after is None or time.monotonic() - started < exit_after:
                    chains_alive()
                    time.sleep(0.5)
        except KeyboardInterrupt:
            click.echo("\nstopping devnet")
        finally:
            net.stop()
    click.echo("devnet stopped")


def _alive_child(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == 0


def _run_deploy(state_file: Path, manifest: Path) -> None:
    ape = Path(sys.executable).parent / "ape"
    command = [str(ape), "run", "deploy", "--state", str(state_file), "--out", str(manifest)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
    if result.returncode != 0:
        raise click.ClickException(f"deployment failed ({' '.join(command)})")


@devnet.command("down")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
)
def devnet_down(state_file: Path) -> None:
    """Stop a devnet started by `sequencer devnet up` in another terminal."""
    stopped = devnet_mod.stop_from_state(state_file)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "no devnet running")


@devnet.command("status")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
)
def devnet_status(state_file: Path) -> None:
    """Show each chain of the running devnet: URL, chain id, head block."""
    state = devnet_mod.read_state(state_file)
    if state is None:
        click.echo("no devnet running")
        return
    for chain in state["chains"]:
        status = devnet_mod.chain_status(chain["url"])
        detail = status.get("error") or f"chain {status['chain_id']} block {status['block']}"
        click.echo(f"{chain['name']:<9} {chain['url']:<24} pid {chain['pid']:<7} {detail}")


@main.command("run")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Deployment manifest (deployments/<name>.json).",
)
@click.option("--host", default=None, help="Listen address [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Listen port [default: 8547].")
@click.option("--slot-ms", type=int, default=None, help="Slot length in ms [default: 250].")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite journal [default: .sequencer/journal.sqlite].",
)
@click.option("--ordering", type=click.Choice(["fcfs", "priority"]), default=None)
@click.option(
    "--devnet-key",
    is_flag=True,
    default=False,
    help="Sign with anvil's PUBLIC well-known key #1 (devnet only).",
)
@click.option(
    "--keystore",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encrypted eth-account keystore; password from SEQUENCER_KEYSTORE_PASSWORD(_FILE).",
)
@click.option(
    "--slasher-address",
    default=None,
    help="EIP-712 verifying contract, when the manifest has no Slasher.",
)
@click.option(
    "--handoff-l1-blocks",
    type=int,
    default=None,
    help="When another sequencer leads the next term, stop promising positions this many L1 "
    "blocks before the end of this one [default: 8].",
)
@click.option(
    "--batcher-interval-l1-blocks",
    type=int,
    default=None,
    help="L1 blocks between the batcher's rounds, for the earliest deadline signed [default: 2].",
)
@click.option(
    "--backpressure-margin-l1-blocks",
    type=int,
    default=None,
    help="Refuse new promises while a promised block not yet on L1 is due within this many L1 "
    "blocks [default: 16].",
)
@click.option(
    "--leader-url",
    "leader_urls",
    multiple=True,
    metavar="ADDRESS=URL",
    help="RPC of another sequencer, overriding the one it publishes in the registry (repeatable).",
)
def run(
    manifest: Path,
    host: str | None,
    port: int | None,
    slot_ms: int | None,
    journal: Path | None,
    ordering: str | None,
    devnet_key: bool,
    keystore: Path | None,
    slasher_address: str | None,
    handoff_l1_blocks: int | None,
    batcher_interval_l1_blocks: int | None,
    backpressure_margin_l1_blocks: int | None,
    leader_urls: tuple[str, ...],
) -> None:
    """Run the sequencer service for the rollups of a deployment manifest.

    With a SequencerRegistry and a SharedInbox in the manifest it builds only in the terms its
    key leads, and otherwise follows L1 and forwards writes to the leader. A rollup engine that
    lost blocks (restarted fresh) is rebuilt from the journal and L1 before anything is built
    (docs/operations.md); every other setting is a SEQUENCER_* variable (docs/options.md)."""
    from pydantic import ValidationError

    from sequencer.config import ConfigError, ServiceConfig
    from sequencer.rpc import run as run_service

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "slot_ms": slot_ms,
        "journal": journal,
        "ordering": ordering,
        "keystore": keystore,
        "slasher_address": slasher_address,
        "handoff_l1_blocks": handoff_l1_blocks,
        "batcher_interval_l1_blocks": batcher_interval_l1_blocks,
        "backpressure_margin_l1_blocks": backpressure_margin_l1_blocks,
    }
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    peers = {}
    for item in leader_urls:
        address, sep, url = item.partition("=")
        if not sep or not address.startswith("0x") or not url:
            raise click.BadParameter(f"{item!r}: want ADDRESS=URL", param_hint="--leader-url")
        peers[address] = url
    if peers:
        overrides["leader_urls"] = peers
    if devnet_key:
        overrides["key_source"] = "devnet"
    try:
        config = ServiceConfig(manifest=manifest, **overrides)
        run_service(config, on_ready=lambda url: click.echo(f"sequencer listening on {url}"))
    except (ValidationError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from exc


def _register_ops_commands() -> None:
    from sequencer.ops_cli import batch, derive, endpoint, status, watch

    for command in (batch, derive, endpoint, status, watch):
        main.add_command(command)


_register_ops_commands()


if __name__ == "__main__":
    main()
