"""scripts/deploy.py on the harness rollups: the cross-rollup contracts land at the same address
on both rollups and in the manifest, and a rollup whose deployer nonce differs is refused."""

import click
import pytest
from deploy import deploy


def test_deploy_puts_xrollup_contracts_at_the_same_address_on_both_rollups(
    rollup_a, rollup_b, relayer
):
    manifest = deploy([rollup_a, rollup_b], "xrollup-test")
    a, b = manifest.chains["rollup_a"], manifest.chains["rollup_b"]
    for name in ("CrossRollupMessenger", "USDC", "WETH", "BundleAgent", "BundleSettlement"):
        assert a.contract(name).address == b.contract(name).address, name
    assert manifest.accounts["relayer"] == relayer.address
    from ape import project

    with rollup_b.use():
        messenger = project.CrossRollupMessenger.at(b.contract("CrossRollupMessenger").address)
        assert messenger.relayer() == relayer.address
        usdc = project.SuperToken.at(b.contract("USDC").address)
        assert (usdc.symbol(), usdc.decimals(), usdc.MESSENGER()) == ("USDC", 6, messenger)
        assert usdc.peers(901) and not usdc.peers(902)
        settlement = project.BundleSettlement.at(b.contract("BundleSettlement").address)
        assert settlement.L1_CHAIN_ID() == 31337
        assert settlement.AGENT_IMPLEMENTATION() == b.contract("BundleAgent").address


def test_deploy_refuses_rollups_whose_addresses_would_differ(rollup_a, rollup_b, deployer):
    # One extra transaction from the deployer on rollup B shifts every address there.
    with rollup_b.use():
        deployer.transfer(deployer, 0)
    with pytest.raises(click.ClickException, match="deployer nonces differ"):
        deploy([rollup_a, rollup_b], "xrollup-test")
