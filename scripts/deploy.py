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
L1_CHAIN_ID = 31337  # the EIP-712 domain chain id of BundleSettlement on every rollup
# The devnet collateral SuperTokens: manifest name -> (token name, symbol, decimals).
COLLATERAL_TOKENS = {
    "USDC": ("Devnet USD Coin", "USDC", 6),
    "WETH": ("Devnet Wrapped Ether", "WETH", 18),
}


def devnet_accounts() -> dict[str, object]:
    return {role: accounts.test_accounts[index] for role, index in DEVNET_ROLES.items()}


def _entry(name: str, contract) -> ContractEntry:
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract.contract_type.abi]
    return ContractEntry(name=name, address=str(contract.address), abi=abi)


def deploy_l1(roles: dict, params: L1Params | None = None) -> dict[str, ContractEntry]:
    """The L1 contracts: registry, inbox and slasher wired together, and the devnet `sequencer`
    role registered with `params.sequencer_stake` (eligible to lead from the next term).

    Order: ChainProbe, SequencerRegistry, SharedInbox(registry, rollups), Slasher(registry,
    inbox), then registry.set_slasher(slasher) by the deployer (the registry's owner; the only
    power it has). The inbox's owner (the deployer) may open or close forced inclusion for a
    rollup (`set_rollup`); `params.rollups` are open from the start.
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
        registry,
        params.escape_blocks,
        params.force_delay_blocks,
        params.force_fee,
        list(params.rollups),
        sender=deployer,
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


def deploy_rollup(roles: dict, rollup_chain_ids: list[int]) -> dict[str, ContractEntry]:
    """The contracts of one rollup; called once per rollup with the same deployer nonce and the
    same arguments (`rollup_chain_ids`: every rollup of the devnet)."""
    probe = project.ChainProbe.deploy(sender=roles["deployer"])
    entries = {"ChainProbe": _entry("ChainProbe", probe)}
    entries.update(deploy_xrollup(roles, rollup_chain_ids))
    # The option vaults' collateral is the devnet SuperTokens: WETH (calls), USDC (puts).
    weth = project.SuperToken.at(entries["WETH"].address)
    usdc = project.SuperToken.at(entries["USDC"].address)
    entries.update(deploy_options(roles, weth, usdc))
    return entries


def deploy_xrollup(roles: dict, rollup_chain_ids: list[int]) -> dict[str, ContractEntry]:
    """The cross-rollup contracts (DESIGN 4.3), in a fixed order so addresses match on rollups:
    CrossRollupMessenger (relayer = the `relayer` role), the collateral SuperTokens USDC (6
    decimals) and WETH (18 decimals) with every rollup as a bridge peer, the BundleAgent
    implementation, BundleSettlement (EIP-712 domain: the L1 chain id)."""
    deployer = roles["deployer"]
    messenger = project.CrossRollupMessenger.deploy(roles["relayer"], sender=deployer)
    entries = {"CrossRollupMessenger": _entry("CrossRollupMessenger", messenger)}
    for key, (token_name, symbol, decimals) in COLLATERAL_TOKENS.items():
        token = project.SuperToken.deploy(
            token_name, symbol, decimals, messenger, rollup_chain_ids, sender=deployer
        )
        entries[key] = _entry(key, token)
    agent = project.BundleAgent.deploy(sender=deployer)
    settlement = project.BundleSettlement.deploy(L1_CHAIN_ID, agent, sender=deployer)
    entries["BundleAgent"] = _entry("BundleAgent", agent)
    entries["BundleSettlement"] = _entry("BundleSettlement", settlement)
    return entries


# Option market parameters (DESIGN §4.3). Seconds, wad.
ORACLE_MAX_AGE = 3_600
ORACLE_DISPUTE_WINDOW = 600
ORACLE_MAX_DEVIATION = 2 * 10**17  # 20 % per update
VAULT_RATE = 5 * 10**16  # 5 % a year
VAULT_SPREAD = 2 * 10**15  # 0.2 % of spot per option
VAULT_MAX_UTILISATION = 8 * 10**17  # 80 %
OPTION_TOKEN_URI = "https://options.devnet/{id}"


def deploy_options(roles: dict, underlying, stable) -> dict[str, ContractEntry]:
    """PriceOracle, then a call vault on `underlying` and a put vault in `stable`, each with its
    ERC-1155 OptionToken, in a fixed order. DEVNET: the deployer is owner, oracle reporter and
    signer, and keeper; the vaults start in epoch 0 (LPs queue deposits, the keeper rolls)."""
    deployer = roles["deployer"]
    oracle = project.PriceOracle.deploy(ORACLE_MAX_AGE, ORACLE_DISPUTE_WINDOW, sender=deployer)
    oracle.configure_asset(underlying.address, ORACLE_MAX_DEVIATION, sender=deployer)
    oracle.set_reporter(deployer.address, True, sender=deployer)
    oracle.set_signer(deployer.address, True, sender=deployer)
    entries = {"PriceOracle": _entry("PriceOracle", oracle)}
    for kind, is_call, collateral in (("Call", True, underlying), ("Put", False, stable)):
        longs = project.OptionToken.deploy(OPTION_TOKEN_URI, sender=deployer)
        vault = project.OptionVault.deploy(
            collateral.address,
            underlying.address,
            oracle.address,
            is_call,
            VAULT_RATE,
            VAULT_SPREAD,
            VAULT_MAX_UTILISATION,
            deployer.address,
            longs.address,
            sender=deployer,
        )
        longs.set_vault(vault.address, sender=deployer)
        entries[f"OptionToken{kind}"] = _entry(f"OptionToken{kind}", longs)
        entries[f"OptionVault{kind}"] = _entry(f"OptionVault{kind}", vault)
    return entries


def deploy(chains: list[ApeChain], name: str) -> Manifest:
    """Deploy to every chain and return the manifest (not yet written)."""
    roles = devnet_accounts()
    rollup_chain_ids = [chain.chain_id for chain in chains if chain.role == "rollup"]
    entries: dict[str, ChainEntry] = {}
    for chain in chains:
        with chain.use(), chain.automining():
            if chain.role == "l1":
                contracts = deploy_l1(roles, L1Params(rollups=tuple(rollup_chain_ids)))
            else:
                contracts = deploy_rollup(roles, rollup_chain_ids)
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
