"""The harness itself: one build deploys to all three chains, and tests are isolated on each."""

import pytest
from ape import project

CHAIN_NAMES = ("l1", "rollup_a", "rollup_b")
EXPECTED_IDS = {"l1": 31337, "rollup_a": 901, "rollup_b": 902}


def _deploy_probe(chain, deployer):
    with chain.use():
        probe = project.ChainProbe.deploy(sender=deployer)
        return probe, probe.creation_metadata.receipt


def test_probe_deploys_on_every_chain_with_its_chain_id(chains, deployer):
    for name in CHAIN_NAMES:
        chain = chains[name]
        probe, receipt = _deploy_probe(chain, deployer)
        tx = chain.w3.eth.get_transaction(receipt.txn_hash)
        assert tx["chainId"] == EXPECTED_IDS[name]
        assert chain.w3.eth.get_transaction_receipt(receipt.txn_hash)["status"] == 1
        with chain.use():
            assert probe.DEPLOYED_CHAIN_ID() == EXPECTED_IDS[name]
            assert probe.current_chain_id() == EXPECTED_IDS[name]
            from ape import chain as ape_chain

            assert ape_chain.chain_id == EXPECTED_IDS[name]


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_starts_from_a_clean_state_on_every_chain(chains, deployer, attempt):
    # If isolation leaked, the deployments of the previous test would have bumped the nonces.
    for name in CHAIN_NAMES:
        assert chains[name].w3.eth.get_transaction_count(deployer.address) == 0, name
    for name in CHAIN_NAMES:
        probe, _ = _deploy_probe(chains[name], deployer)
        with chains[name].use():
            probe.ping(sender=deployer)
            assert probe.pings() == 1


def test_rollups_do_not_mine_without_the_harness_switch(rollup_a, deployer):
    rollup_a.set_automine(False)
    head = rollup_a.w3.eth.block_number
    tx = {
        "to": deployer.address,
        "value": 1,
        "gas": 21000,
        "gasPrice": 10**10,
        "nonce": 0,
        "chainId": 901,
    }
    signed = rollup_a.w3.eth.account.sign_transaction(tx, deployer.private_key)
    rollup_a.w3.eth.send_raw_transaction(signed.raw_transaction)
    assert rollup_a.w3.eth.block_number == head
    rollup_a.rpc("evm_mine")
    assert rollup_a.w3.eth.block_number == head + 1
    receipt = rollup_a.w3.eth.get_transaction_receipt(signed.hash)
    assert receipt["blockNumber"] == head + 1
