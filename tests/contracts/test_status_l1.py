"""The status view's L1 reads (`sequencer/status.py` `Collector`) against the real registry."""

from __future__ import annotations

from l1_helpers import MIN_STAKE

from sequencer.manifest import ChainEntry, ContractEntry, Manifest
from sequencer.status import Collector


def test_the_registry_is_read_whatever_the_case_of_its_manifest_address(
    chain, l1, registry, staked
):
    # A hand-written manifest may give addresses in lower case; the other tools take them (they
    # checksum them first), and so does the status view.
    chain.mine(1)  # into the sequencer's first term
    abi = [item.model_dump(mode="json", by_alias=True) for item in registry.contract_type.abi]
    entry = ContractEntry("SequencerRegistry", str(registry.address).lower(), abi)
    chains = {"l1": ChainEntry("l1", "l1", l1.chain_id, l1.url, {entry.name: entry})}
    manifest = Manifest("t", chains, accounts={"sequencer": staked.address})
    snap = Collector(manifest, "http://127.0.0.1:1").snapshot()  # no sequencer: only L1 is read
    assert "L1" not in (snap.sequencer_error or "")
    assert snap.leader == staked.address
    assert snap.stakes == {staked.address: 2 * MIN_STAKE}


def test_a_snapshot_reads_l1_without_a_chain_id_read_per_call(chain, l1, registry, staked):
    # The live view takes a snapshot every second for as long as the devnet runs: web3 read the
    # chain id before every contract call (and the view rebuilt its contract objects each time),
    # which made `devnet up` idle at 6 % of a core (bench/idle.py). It reads it once now.
    chain.mine(1)
    abi = [item.model_dump(mode="json", by_alias=True) for item in registry.contract_type.abi]
    entry = ContractEntry("SequencerRegistry", str(registry.address), abi)
    chains = {"l1": ChainEntry("l1", "l1", l1.chain_id, l1.url, {entry.name: entry})}
    manifest = Manifest("t", chains, accounts={"sequencer": staked.address})
    collector = Collector(manifest, "http://127.0.0.1:1")
    collector.snapshot()
    provider = collector._l1().provider
    sent: list[str] = []
    real = provider._make_request

    def recording(method, params):
        sent.append(method)
        return real(method, params)

    provider._make_request = recording
    chain.mine(1)
    snap = collector.snapshot()
    assert snap.leader == staked.address
    assert snap.stakes == {staked.address: 2 * MIN_STAKE}
    assert "eth_chainId" not in sent
    assert sorted(sent) == ["eth_blockNumber", "eth_call", "eth_call", "eth_call"]
