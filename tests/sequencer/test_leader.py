"""The term schedule (pure): who leads, when this node promises, drains, follows, and where a
follower forwards writes."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sequencer.config import ServiceConfig
from sequencer.leader import (
    Role,
    TermView,
    _address_result,
    decide_role,
    forwards,
    term_end,
    term_of,
    write_target,
)

ME = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
TERM = 16
HANDOFF = 6
DEADLINE = 64


def view(head, leader, next_leader, jailed=False):
    return TermView(head, TERM, leader, next_leader, jailed)


def test_terms_cut_l1_blocks():
    assert [term_of(b, TERM) for b in (0, 15, 16, 31, 32)] == [0, 0, 1, 1, 2]
    assert term_end(0, TERM) == 15 and term_end(3, TERM) == 63
    v = view(40, ME, OTHER)
    assert (v.term, v.end, v.blocks_left) == (2, 47, 7)


def test_the_leader_leads_then_drains_before_handing_over():
    # term 2 = L1 blocks 32..47; the next term is another's
    roles = {h: decide_role(view(h, ME, OTHER), ME, HANDOFF, DEADLINE) for h in range(32, 48)}
    assert all(roles[h] is Role.LEAD for h in range(32, 42))  # 47 - h >= 6
    assert all(roles[h] is Role.DRAIN for h in range(42, 48))
    # addresses compare case-insensitively
    assert decide_role(view(33, ME.lower(), OTHER), ME, HANDOFF, DEADLINE) is Role.LEAD


def test_a_leader_of_two_terms_in_a_row_never_drains():
    for head in range(32, 48):
        assert decide_role(view(head, ME, ME), ME, HANDOFF, DEADLINE) is Role.LEAD


def test_the_next_term_unknown_near_the_end_drains():
    assert decide_role(view(46, ME, None), ME, HANDOFF, DEADLINE) is Role.DRAIN


def test_others_terms_and_jail_mean_following():
    assert decide_role(view(33, OTHER, ME), ME, HANDOFF, DEADLINE) is Role.FOLLOW
    assert decide_role(view(47, OTHER, ME), ME, HANDOFF, DEADLINE) is Role.FOLLOW
    assert decide_role(view(33, ME, ME, jailed=True), ME, HANDOFF, DEADLINE) is Role.FOLLOW
    assert decide_role(view(33, None, None), ME, HANDOFF, DEADLINE) is Role.FOLLOW


def test_in_a_leaderless_term_the_next_leader_builds_if_its_deadlines_reach():
    # head 33 of term 2 (ends 47): promises made now are posted from block 48 + handoff
    assert decide_role(view(33, None, ME), ME, HANDOFF, DEADLINE) is Role.LEAD
    # with a deadline of 10 L1 blocks, only from block 48 + 6 - 10 = 44 on
    assert decide_role(view(43, None, ME), ME, HANDOFF, 10) is Role.FOLLOW
    assert decide_role(view(44, None, ME), ME, HANDOFF, 10) is Role.LEAD
    assert decide_role(view(44, None, OTHER), ME, HANDOFF, 10) is Role.FOLLOW


def _postable_blocks(v: TermView, after: int, until: int) -> list[int]:
    """L1 blocks in (after, until] in which a batch of this node can land: in its own term up
    to the block after the batcher's last round (it posts nothing in a term's last 2 blocks),
    or in the next term if it leads that one (within one term of lookahead)."""
    out = []
    for block in range(after + 1, until + 1):
        term = term_of(block, TERM)
        if term == v.term and v.leader == ME and block <= v.end - 1:
            out.append(block)
        elif term == v.term + 1 and v.next_leader == ME:
            out.append(block)
    return out


@settings(max_examples=300, deadline=None)
@given(
    head=st.integers(0, 10_000),
    leader=st.sampled_from([ME, OTHER, None]),
    next_leader=st.sampled_from([ME, OTHER, None]),
    jailed=st.booleans(),
    handoff=st.integers(3, 15),
    deadline=st.integers(15, 80),
)
def test_a_promise_made_while_leading_can_be_posted_by_its_deadline(
    head, leader, next_leader, jailed, handoff, deadline
):
    """Whenever the node may promise, this node can still land a batch in at least
    `handoff - 2` L1 blocks before the promise's deadline (time for the last slot's seal and
    the batcher's rounds); a jailed node never promises."""
    v = view(head, leader, next_leader, jailed)
    role = decide_role(v, ME, handoff, deadline)
    if role is Role.LEAD:
        assert not jailed
        assert len(_postable_blocks(v, head, head + deadline)) >= handoff - 2
    if role is not Role.FOLLOW:
        assert write_target(v, ME) is None  # this node leads the term: nothing to forward to
    if role is Role.FOLLOW and leader not in (ME, None):
        assert write_target(v, ME) == leader


def test_writes_go_to_the_leader_or_in_a_leaderless_term_to_the_next():
    assert write_target(view(33, OTHER, ME), ME) == OTHER
    assert write_target(view(33, None, OTHER), ME) == OTHER
    assert write_target(view(33, None, None), ME) is None
    assert write_target(view(33, ME, OTHER), ME) is None


def test_which_calls_a_follower_forwards():
    assert forwards("eth_sendRawTransaction", ["0x01"])
    assert forwards("seq_sendRawTransaction", ["0x01"])
    assert forwards("seq_sendBundle", [{}])
    assert forwards("eth_getTransactionCount", [ME, "pending"])
    assert not forwards("eth_getTransactionCount", [ME, "latest"])
    assert not forwards("eth_getBalance", [ME, "latest"])
    assert not forwards("seq_status", [])


def test_leader_of_answers():
    word = "0x" + "00" * 12 + OTHER[2:].lower()
    assert _address_result({"result": word}) == OTHER
    assert _address_result({"result": "0x" + "00" * 32}) is None
    assert _address_result({"error": {"message": "registry: seed not yet known"}}) is None


def test_the_deadline_must_cover_the_handoff(tmp_path):
    base = {"manifest": tmp_path / "m.json", "key_source": "devnet"}
    with pytest.raises(ValidationError, match="at least handoff_l1_blocks"):
        ServiceConfig(**base, preconf_deadline_l1_blocks=5, handoff_l1_blocks=6)
    with pytest.raises(ValidationError):
        ServiceConfig(**base, handoff_l1_blocks=2)  # the batcher alone needs 2 + 1
    config = ServiceConfig(**base, leader_urls={OTHER: "http://peer:8547"})
    assert config.handoff_l1_blocks == 8 and config.leader_urls[OTHER] == "http://peer:8547"


def test_run_refuses_a_malformed_leader_url(tmp_path):
    from click.testing import CliRunner

    from sequencer.cli import main

    manifest = tmp_path / "m.json"
    manifest.write_text("{}")
    result = CliRunner().invoke(
        main, ["run", "--manifest", str(manifest), "--devnet-key", "--leader-url", "peer:8547"]
    )
    assert result.exit_code == 2
    assert "want ADDRESS=URL" in result.output
