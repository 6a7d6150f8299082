"""Fixtures for the cross-rollup contracts (messenger, SuperTokens, bundle settlement).

The contracts are deployed once per test module on both rollup engines by the real deployment
code (`scripts/deploy.py: deploy_xrollup`), from the same deployer nonce, so each has the same
address on both rollups (asserted). Each test still starts from that deployed state: the harness
snapshots both rollups before every test and reverts after it; the module's own snapshot, taken
before deploying, is reverted at the end of the module so later modules see fresh engines.
Because the addresses match, one ape contract instance serves both rollups: it talks to
whichever rollup is active (`with rollup_a.use(): ...`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from ape import project
from deploy import L1_CHAIN_ID, deploy_xrollup

from sequencer.bundles import Domain

# manifest name -> contract type
XROLLUP_TYPES = {
    "CrossRollupMessenger": "CrossRollupMessenger",
    "USDC": "SuperToken",
    "WETH": "SuperToken",
    "BundleAgent": "BundleAgent",
    "BundleSettlement": "BundleSettlement",
}


@dataclass
class XRollup:
    """The cross-rollup contracts (same address on both rollups) and their EIP-712 domain."""

    messenger: object
    usdc: object
    weth: object
    agent: object
    settlement: object
    domain: Domain


@pytest.fixture(scope="module")
def xr(chains, deployer, relayer, sequencer_account, treasury) -> XRollup:
    roles = {
        "deployer": deployer,
        "sequencer": sequencer_account,
        "relayer": relayer,
        "treasury": treasury,
    }
    rollups = [chains["rollup_a"], chains["rollup_b"]]
    snapshots = {}
    entries = {}
    for rollup in rollups:
        rollup.rpc("anvil_dropAllTransactions")
        rollup.set_automine(True)
        snapshots[rollup.name] = rollup.snapshot()
        with rollup.use():
            entries[rollup.name] = deploy_xrollup(roles, [r.chain_id for r in rollups])
    a, b = (entries[r.name] for r in rollups)
    for name in XROLLUP_TYPES:
        assert a[name].address == b[name].address, f"{name} differs between rollups"
    with rollups[0].use():
        contracts = {
            name: getattr(project, ctype).at(a[name].address)
            for name, ctype in XROLLUP_TYPES.items()
        }
    try:
        yield XRollup(
            messenger=contracts["CrossRollupMessenger"],
            usdc=contracts["USDC"],
            weth=contracts["WETH"],
            agent=contracts["BundleAgent"],
            settlement=contracts["BundleSettlement"],
            domain=Domain(L1_CHAIN_ID, a["BundleSettlement"].address),
        )
    finally:
        for rollup in rollups:
            rollup.set_automine(True)
            rollup.rpc("anvil_dropAllTransactions")
            rollup.revert(snapshots[rollup.name])
