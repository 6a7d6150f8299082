"""Fixtures for the cross-rollup contracts (messenger, SuperTokens, bundle settlement).

The contracts are deployed once per test module on both rollup engines by the real deployment
code (`scripts/deploy.py: deploy_xrollup`), from the same deployer nonce, so each has the same
address on both rollups (asserted). Each test still starts from that deployed state: the harness
snapshots both rollups before every test and reverts after it; the module's own snapshot, taken
before deploying, is reverted at the end of the module so later modules see fresh engines.
Because the addresses match, one ape contract instance serves both rollups: it talks to
whichever rollup is active (`with rollup_a.use(): ...`).

Fixtures: `xr` (the cross-rollup contracts only, `deploy_xrollup`) and `deployment` (the whole
rollup deployment of the devnet, `deploy_rollup`: the same plus the options market), each once
per module. The deploying and wrapping live in `tests/contracts/rollup_setup.py`, so that tests in
other folders can set up the rollups the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from deploy import deploy_rollup, deploy_xrollup
from rollup_setup import (
    OptionMarket,
    XRollup,
    deployed_on_rollups,
    option_market_from,
    xrollup_from,
)


@pytest.fixture(scope="module")
def xr(chains, deployer, relayer, sequencer_account, treasury) -> XRollup:
    roles = {
        "deployer": deployer,
        "sequencer": sequencer_account,
        "relayer": relayer,
        "treasury": treasury,
    }
    rollups = [chains["rollup_a"], chains["rollup_b"]]
    chain_ids = [r.chain_id for r in rollups]
    with deployed_on_rollups(rollups, lambda: deploy_xrollup(roles, chain_ids)) as entries:
        yield xrollup_from(rollups[0], entries)


@dataclass
class RollupDeployment:
    """Everything `deploy_rollup` puts on each rollup that the cross-rollup tests trade with."""

    xr: XRollup
    market: OptionMarket


@pytest.fixture(scope="module")
def deployment(chains, deployer, relayer, sequencer_account, treasury) -> RollupDeployment:
    """The whole rollup deployment of the devnet (`scripts/deploy.py: deploy_rollup`: the
    cross-rollup contracts and the options market) on both rollups, at the same addresses,
    once per module; reverted at the end of the module."""
    roles = {
        "deployer": deployer,
        "sequencer": sequencer_account,
        "relayer": relayer,
        "treasury": treasury,
    }
    rollups = [chains["rollup_a"], chains["rollup_b"]]
    chain_ids = [r.chain_id for r in rollups]
    with deployed_on_rollups(rollups, lambda: deploy_rollup(roles, chain_ids)) as entries:
        yield RollupDeployment(
            xrollup_from(rollups[0], entries), option_market_from(rollups[0], entries)
        )
