"""Deploy the project's contracts to the L1 and every rollup, and write the deployment manifest.

    ape run deploy --state .devnet/state.json --out deployments/devnet.json

The chains come from the state file that `sequencer devnet up` writes (name, role, chain id, URL of
each running anvil). The manifest (`deployments/<name>.json`, format in the README) is the only
thing the sequencer service reads. DEVNET: the deployer is anvil's well-known account 0.

Rollups run with `--no-mining`; deployment switches automine on for its own transactions and
restores the engine's mode afterwards. Every rollup gets the same contracts in the same order from
the same deployer nonce, so each contract has the same address on every rollup (checked).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from ape import accounts, project

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _chains import ApeChain, chains_from_state  # noqa: E402
from _l1_params import L1Params  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sequencer.manifest import ChainEntry, ContractEntry, Manifest  # noqa: E402

# Devnet roles -> index of anvil's well-known accounts. DEVNET ONLY: these keys are public.
DEVNET_ROLES = {"deployer": 0, "sequencer": 1, "relayer": 2, "treasury": 3}


def devnet_accounts() -> dict[str, object]:
    return {role: accounts.test_accounts[index] for role, index in DEVNET_ROLES.items()}


def _entry(name: str, contract) -> ContractEntry:
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract.contract_type.abi]
    return ContractEntry(name=name, address=str(contract.address), abi=abi)


def deploy_l1(roles: dict, params: L1Params | None = None) -> dict[str, ContractEntry]:
    """The L1 contracts: registry, inbox and slasher wired together, and the devnet `sequencer`
    role registered with `params.sequencer_stake` (eligible to lead from the next term).

    Order: ChainProbe, SequencerRegistry, SharedInbox(registry), Slasher(registry, inbox), then
    registry.set_slasher(slasher) by the deployer (the registry's owner; the only power it has).
    """
    params = params or L1Params()
    deployer = roles["deployer"]
    probe = project.ChainProbe.deploy(sender=deployer)
    registry = project.SequencerRegistry.deploy(
        params.min_stake,
        params.term_blocks,
        params.unbonding_blocks,
        params.evidence_window_blocks,
        params.reporter_bps,
        params.victim_bps,
        roles["treasury"],
        sender=deployer,
    )
    inbox = project.SharedInbox.deploy(
        registry, params.escape_blocks, params.force_delay_blocks, params.force_fee, sender=deployer
    )
    slasher = project.Slasher.deploy(registry, inbox, params.slash_amount, sender=deployer)
    registry.set_slasher(slasher, sender=deployer)
    registry.register(value=params.sequencer_stake, sender=roles["sequencer"])
    return {
        "ChainProbe": _entry("ChainProbe", probe),
        "SequencerRegistry": _entry("SequencerRegistry", registry),
        "SharedInbox": _entry("SharedInbox", inbox),
        "Slasher": _entry("Slasher", slasher),
    }


def deploy_rollup(roles: dict) -> dict[str, ContractEntry]:
    """The contracts of one rollup; called once per rollup with the same deployer nonce."""
    probe = project.ChainProbe.deploy(sender=roles["deployer"])
    return {"ChainProbe": _entry("ChainProbe", probe)}


def deploy(chains: list[ApeChain], name: str) -> Manifest:
    """Deploy to every chain and return the manifest (not yet written)."""
    roles = devnet_accounts()
    entries: dict[str, ChainEntry] = {}
    for chain in chains:
        with chain.use(), chain.automining():
            contracts = deploy_l1(roles) if chain.role == "l1" else deploy_rollup(roles)
        entries[chain.name] = ChainEntry(
            chain.name, chain.role, chain.chain_id, chain.url, contracts
        )
    _check_same_addresses([e for e in entries.values() if e.role == "rollup"])
    return Manifest(
        name=name,
        chains=entries,
        accounts={role: str(account.address) for role, account in roles.items()},
    )


def _check_same_addresses(rollups: list[ChainEntry]) -> None:
    if not rollups:
        return
    first = rollups[0]
    for other in rollups[1:]:
        for cname, entry in first.contracts.items():
            there = other.contracts.get(cname)
            if there is None or there.address != entry.address:
                raise click.ClickException(
                    f"{cname} is at {entry.address} on {first.name} but at "
                    f"{there.address if there else 'nowhere'} on {other.name}: the rollups' "
                    "deployer nonces differ (deploy only to fresh rollup engines)"
                )


@click.command(name="deploy")
@click.option(
    "--state",
    "state_path",
    type=click.Path(exists=True, dir_okay=False),
    default=".devnet/state.json",
    show_default=True,
    help="State file written by `sequencer devnet up`.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default="deployments/devnet.json",
    show_default=True,
    help="Where to write the manifest.",
)
@click.option("--name", default="devnet", show_default=True, help="Deployment name.")
def cli(state_path: str, out_path: str, name: str) -> None:
    """Deploy to the running devnet chains and write the deployment manifest."""
    state = json.loads(Path(state_path).read_text())
    manifest = deploy(chains_from_state(state), name)
    manifest.save(Path(out_path))
    click.echo(f"manifest: {Path(out_path).resolve()}")
    for chain in manifest.chains.values():
        click.echo(
            f"  {chain.name:<9} chain {chain.chain_id:<6} {chain.rpc_url}  "
            f"{', '.join(f'{c.name}@{c.address}' for c in chain.contracts.values())}"
        )
