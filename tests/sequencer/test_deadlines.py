"""The deadline rules (sequencer/deadlines.py, pure): the earliest deadline the sequencer can
honour against a simulated batcher, the bounds on a user's bundle deadline, and backpressure."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequencer.deadlines import (
    PostingModel,
    Pressure,
    PressureLimits,
    Refusal,
    backpressure,
    check_bundle_deadline,
    earliest_deadline,
)
from sequencer.rpc_errors import ERR_SERVER, as_rpc_error

DEVNET = PostingModel(cadence=2, confirmations=1, spare=1, term_blocks=32, term_margin=2)


def test_the_bundle_that_got_the_honest_sequencer_slashed_is_refused():
    """Issue #16: sent at L1 block 59 with deadline 61, the term ending at 63: the batcher
    cannot post in time, so the deadline is refused with the earliest one it can honour."""
    with pytest.raises(Refusal) as refused:
        check_bundle_deadline(61, 59, DEVNET, evidence_window=600)
    assert as_rpc_error(refused.value).code == ERR_SERVER  # answered -32000
    earliest = refused.value.data["earliestDeadline"]
    assert earliest == earliest_deadline(59, DEVNET) > 61
    assert str(earliest) in refused.value.message
    check_bundle_deadline(earliest, 59, DEVNET, evidence_window=600)  # that one is signed


@pytest.mark.parametrize("deadline", [2**63, 2**256, 59 + 10**6, 59 + 601])
def test_a_deadline_beyond_the_evidence_window_is_refused(deadline):
    with pytest.raises(Refusal, match="beyond the evidence window") as refused:
        check_bundle_deadline(deadline, 59, DEVNET, evidence_window=600)
    assert refused.value.data["latestDeadline"] == 659
    check_bundle_deadline(659, 59, DEVNET, evidence_window=600)


def test_no_deadline_when_the_block_would_be_posted_in_another_leaders_term():
    # head 60: the next round (62) is in the term's last 2 blocks; the next term is another's
    assert earliest_deadline(60, DEVNET, leads_next=False) is None
    with pytest.raises(Refusal, match="next term") as refused:
        check_bundle_deadline(200, 60, DEVNET, evidence_window=600, leads_next=False)
    assert refused.value.data["retryAtL1Block"] == 64
    # leading the next term too: posted in its first round
    assert earliest_deadline(60, DEVNET, leads_next=True) == 64 + 1 + 1 + 1


def test_the_backlog_pushes_the_earliest_deadline_out():
    near = earliest_deadline(10, DEVNET, unposted_blocks=0)
    far = earliest_deadline(10, DEVNET, unposted_blocks=3 * 64)
    assert far == near + 3 * DEVNET.cadence


@given(
    head=st.integers(0, 10_000),
    cadence=st.integers(1, 4),
    confirmations=st.integers(0, 3),
    term_blocks=st.sampled_from([0, 16, 32, 64]),
    phase=st.integers(1, 4),
    backlog=st.integers(0, 300),
    leads_next=st.booleans(),
)
def test_a_batcher_at_the_modelled_pace_always_meets_the_earliest_deadline(
    head, cadence, confirmations, term_blocks, phase, backlog, leads_next
):
    """A batcher whose rounds come every `cadence` L1 blocks (at any phase), taking 64 blocks a
    round and never sending in a term's last 2 blocks, lands the block by the earliest deadline,
    and inside a term this sequencer leads."""
    model = PostingModel(cadence, confirmations, 1, term_blocks, 2, 64)
    earliest = earliest_deadline(head, model, backlog, leads_next)
    if earliest is None:
        return
    send = head + min(phase, cadence)  # the first round after the block is sealed
    rounds = backlog // 64  # full batches ahead of it
    while True:
        in_margin = term_blocks and (send // term_blocks + 1) * term_blocks - 1 - send < 2
        if not in_margin:
            if rounds == 0:
                break
            rounds -= 1
        send += cadence
    landed = send + 1
    assert landed + confirmations + 1 <= earliest
    if term_blocks:
        term = send // term_blocks
        assert term == head // term_blocks or (leads_next and term == head // term_blocks + 1)


LIMITS = PressureLimits(margin_blocks=16, max_l1_age_s=10.0)


def test_backpressure_refuses_on_a_stale_l1_view_and_a_late_backlog():
    assert backpressure(Pressure(100, 0.5, None), LIMITS) is None
    assert backpressure(Pressure(100, 0.5, 116), LIMITS) is None
    stale = backpressure(Pressure(100, 11.0, None), LIMITS)
    assert stale is not None and stale.data["reason"] == "l1_stale"
    assert "retryAfterSeconds" in stale.data and as_rpc_error(stale).code == ERR_SERVER
    late = backpressure(Pressure(100, 0.5, 115), LIMITS)
    assert late is not None and late.data["reason"] == "backlog"
    assert late.data["slackBlocks"] == 15 and late.data["retryAfterL1Blocks"] == 1
    assert "busy" in late.message


def test_the_configuration_keeps_promises_keepable(tmp_path):
    from pydantic import ValidationError

    from sequencer.config import ServiceConfig

    base = {"manifest": tmp_path / "m.json", "key_source": "devnet"}
    with pytest.raises(ValidationError, match="exceed backpressure_margin_l1_blocks"):
        ServiceConfig(**base, preconf_deadline_l1_blocks=16, backpressure_margin_l1_blocks=16)
    with pytest.raises(ValidationError, match="within evidence_window_l1_blocks"):
        ServiceConfig(**base, preconf_deadline_l1_blocks=700)
    config = ServiceConfig(**base)
    assert config.preconf_deadline_l1_blocks > config.backpressure_margin_l1_blocks


@given(head=st.integers(0, 10_000), margin=st.integers(1, 16), unposted=st.integers(0, 300))
def test_a_batcher_with_a_posting_policy_is_given_only_deadlines_its_policy_always_meets(
    head, margin, unposted
):
    """The batcher waits until a deadline is `margin` blocks away (sequencer/posting.py), so a
    deadline the cadence model alone allows (a few blocks out) could be missed by a slow build:
    the service signs none closer than the policy's `min_deadline_distance`."""
    from sequencer.posting import PostingPolicy, min_deadline_distance

    model = PostingModel(cadence=2, confirmations=1, term_blocks=0, policy_margin=margin)
    earliest = earliest_deadline(head, model, unposted)
    distance = min_deadline_distance(PostingPolicy(margin_blocks=margin), model.term_margin)
    assert earliest is not None and earliest >= head + distance
    # and a batcher posting every round (no policy) keeps the shorter cadence bound
    bare = earliest_deadline(head, PostingModel(cadence=2, confirmations=1), 0)
    assert bare is not None and bare < head + min_deadline_distance(PostingPolicy(8), 2)
