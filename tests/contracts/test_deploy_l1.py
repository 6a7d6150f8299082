"""scripts/deploy.py `deploy_l1`: the three L1 contracts wired together, the sequencer staked."""

from __future__ import annotations

from deploy import L1Params, deploy_l1


def test_deploy_l1_wires_registry_inbox_slasher(
    project, chain, deployer, sequencer_account, treasury
):
    roles = {"deployer": deployer, "sequencer": sequencer_account, "treasury": treasury}
    params = L1Params()
    entries = deploy_l1(roles, params)
    assert set(entries) == {"ChainProbe", "SequencerRegistry", "SharedInbox", "Slasher"}
    registry = project.SequencerRegistry.at(entries["SequencerRegistry"].address)
    inbox = project.SharedInbox.at(entries["SharedInbox"].address)
    slasher = project.Slasher.at(entries["Slasher"].address)
    assert registry.slasher() == slasher.address
    assert inbox.REGISTRY() == registry.address
    assert (slasher.REGISTRY(), slasher.INBOX()) == (registry.address, inbox.address)
    assert registry.TREASURY() == treasury.address
    assert registry.stake_of(sequencer_account) == params.sequencer_stake
    assert registry.TERM_BLOCKS() == params.term_blocks == inbox.TERM_BLOCKS()
    assert slasher.SLASH_AMOUNT() == params.slash_amount
    assert inbox.owner() == deployer.address
    assert [inbox.is_rollup(c) for c in (*params.rollups, 999)] == [True, True, False]
    abi_names = {item["name"] for item in entries["Slasher"].abi if "name" in item}
    assert {"slash_equivocation", "slash_censorship", "ViolationProven"} <= abi_names
