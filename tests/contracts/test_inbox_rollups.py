"""SharedInbox's rollup set: forced inclusion is open only for registered rollups, and only the
owner changes the set (with an event), so nobody can queue an item that no sequencer could ever
consume and then have the honest leader slashed for it."""

from __future__ import annotations

import ape
from l1_helpers import CHAIN_A, CHAIN_B, ESCAPE_BLOCKS, FORCE_DELAY_BLOCKS, FORCE_FEE

UNKNOWN = 999


def test_the_constructor_registers_the_initial_rollups_and_the_deployer_owns_the_set(
    project, chain, registry, deployer
):
    inbox = project.SharedInbox.deploy(
        registry, ESCAPE_BLOCKS, FORCE_DELAY_BLOCKS, FORCE_FEE, [CHAIN_A, CHAIN_B], sender=deployer
    )
    assert inbox.owner() == deployer.address
    registered = [inbox.is_rollup(c) for c in (CHAIN_A, CHAIN_B, UNKNOWN, 0)]
    assert registered == [True, True, False, False]
    receipt = chain.get_receipt(inbox.txn_hash)
    events = [(e.chain_id, e.enabled) for e in receipt.decode_logs(inbox.RollupSet)]
    assert events == [(CHAIN_A, True), (CHAIN_B, True)]
    with ape.reverts("inbox: zero chain id"):
        project.SharedInbox.deploy(
            registry, ESCAPE_BLOCKS, FORCE_DELAY_BLOCKS, FORCE_FEE, [CHAIN_A, 0], sender=deployer
        )


def test_force_include_refuses_a_chain_id_that_is_not_a_registered_rollup(inbox, trader):
    count = inbox.forced_count()
    with ape.reverts("inbox: unknown rollup"):
        inbox.force_include(UNKNOWN, b"\x02\x01", value=FORCE_FEE, sender=trader)
    with ape.reverts("inbox: zero chain id"):
        inbox.force_include(0, b"\x02\x01", value=FORCE_FEE, sender=trader)
    assert inbox.forced_count() == count  # nothing queued, no fee kept
    assert inbox.fees_accrued() == 0
    inbox.force_include(CHAIN_B, b"\x02\x01", value=FORCE_FEE, sender=trader)
    assert inbox.forced_count() == count + 1


def test_only_the_owner_opens_and_closes_a_rollup_with_an_event(inbox, deployer, trader):
    with ape.reverts("ownable: caller is not the owner"):
        inbox.set_rollup(UNKNOWN, True, sender=trader)
    tx = inbox.set_rollup(UNKNOWN, True, sender=deployer)
    assert [(e.chain_id, e.enabled) for e in tx.events] == [(UNKNOWN, True)]
    assert inbox.is_rollup(UNKNOWN)
    index = inbox.forced_count()
    inbox.force_include(UNKNOWN, b"\x02\x01", value=FORCE_FEE, sender=trader)
    # closing a rollup stops new items; the queued one stays in the queue
    tx = inbox.set_rollup(UNKNOWN, False, sender=deployer)
    assert [(e.chain_id, e.enabled) for e in tx.events] == [(UNKNOWN, False)]
    assert not inbox.is_rollup(UNKNOWN)
    with ape.reverts("inbox: unknown rollup"):
        inbox.force_include(UNKNOWN, b"\x02\x01", value=FORCE_FEE, sender=trader)
    assert inbox.forced_item(index)[0] == UNKNOWN
    with ape.reverts("inbox: zero chain id"):
        inbox.set_rollup(0, True, sender=deployer)
    # ownership moves with snekmate's ownable; the old owner loses the power
    inbox.transfer_ownership(trader, sender=deployer)
    with ape.reverts("ownable: caller is not the owner"):
        inbox.set_rollup(CHAIN_A, False, sender=deployer)
    inbox.set_rollup(CHAIN_A, False, sender=trader)
    assert not inbox.is_rollup(CHAIN_A)
