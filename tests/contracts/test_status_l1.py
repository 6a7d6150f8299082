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
