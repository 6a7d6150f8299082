"""scripts/deploy.py deploys the options market to both rollups at the same addresses, wired."""

from __future__ import annotations

from ape import project
from deploy import _check_same_addresses, deploy_rollup, devnet_accounts

from sequencer.manifest import ChainEntry


def test_deploy_rollup_same_addresses_and_wiring(rollup_a, rollup_b):
    roles = devnet_accounts()
    entries = []
    for handle in (rollup_a, rollup_b):
        with handle.use():
            contracts = deploy_rollup(roles, [rollup_a.chain_id, rollup_b.chain_id])
            vault = project.OptionVault.at(contracts["OptionVaultCall"].address)
            put = project.OptionVault.at(contracts["OptionVaultPut"].address)
            assert vault.ORACLE() == contracts["PriceOracle"].address
            assert vault.IS_CALL() and not put.IS_CALL()
            assert vault.asset() == contracts["WETH"].address
            assert put.asset() == contracts["USDC"].address
            assert put.decimals() == 12 and vault.decimals() == 24
            longs = project.OptionToken.at(contracts["OptionTokenPut"].address)
            assert longs.vault() == put.address
        entries.append(ChainEntry(handle.name, "rollup", handle.chain_id, handle.url, contracts))
    _check_same_addresses(entries)  # raises if any contract's address differs
    assert entries[0].contracts.keys() == entries[1].contracts.keys()
