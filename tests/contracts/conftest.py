"""Fixtures for the L1 contracts: the registry, inbox and slasher deployed and wired on the L1
(ape's session provider), with the small parameters of `l1_helpers`, and a staked sequencer that
leads every term (it is the only one staked)."""

from __future__ import annotations

import pytest
from l1_helpers import (
    ESCAPE_BLOCKS,
    EVIDENCE_WINDOW_BLOCKS,
    FORCE_DELAY_BLOCKS,
    FORCE_FEE,
    MIN_STAKE,
    REPORTER_BPS,
    ROLLUPS,
    SLASH_AMOUNT,
    TERM_BLOCKS,
    UNBONDING_BLOCKS,
    VICTIM_BPS,
    InboxModel,
    current_term,
    mine_to_term_start,
)

from sequencer import commitments as c


@pytest.fixture
def registry(project, deployer, treasury):
    return project.SequencerRegistry.deploy(
        MIN_STAKE,
        TERM_BLOCKS,
        UNBONDING_BLOCKS,
        EVIDENCE_WINDOW_BLOCKS,
        REPORTER_BPS,
        VICTIM_BPS,
        treasury,
        sender=deployer,
    )


@pytest.fixture
def inbox(project, deployer, registry):
    return project.SharedInbox.deploy(
        registry, ESCAPE_BLOCKS, FORCE_DELAY_BLOCKS, FORCE_FEE, ROLLUPS, sender=deployer
    )


@pytest.fixture
def slasher(project, deployer, registry, inbox):
    slasher = project.Slasher.deploy(registry, inbox, SLASH_AMOUNT, sender=deployer)
    registry.set_slasher(slasher, sender=deployer)
    return slasher


@pytest.fixture
def domain(slasher, chain) -> c.Domain:
    return c.Domain(chain_id=chain.chain_id, verifying_contract=str(slasher.address))


@pytest.fixture
def seq_signer(sequencer_account) -> c.Signer:
    return c.Signer(sequencer_account.private_key)


@pytest.fixture
def staked(chain, registry, sequencer_account):
    """The sequencer registers 2 * MIN_STAKE; the next term is its (it is the only one)."""
    registry.register(value=2 * MIN_STAKE, sender=sequencer_account)
    mine_to_term_start(chain, current_term(chain) + 1)
    return sequencer_account


@pytest.fixture
def model() -> InboxModel:
    return InboxModel()
