"""Deadlines on a dedicated L1 with the registry, the inbox and 16-block terms. Backpressure
instead of broken promises: the leader stops promising while a promised block not yet on L1 has
its deadline closer than the margin (the batcher is behind), says so with a retry hint, and
promises again once the batcher has posted it; seq_status and the metrics show the slack. A
bundle deadline the term's end makes unmeetable is refused with the earliest one that is met."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import requests
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.engine import SyncEngineClient
from sequencer.txmgr import TxManager

_spec = importlib.util.spec_from_file_location(
    "e2e_service_bp", Path(__file__).with_name("conftest.py")
)
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
l1_stack = _e2e.l1_stack

TERM_BLOCKS = 16
DEADLINE = 12  # preconf_deadline_l1_blocks
MARGIN = 6  # backpressure_margin_l1_blocks
USER_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"  # account 8
TO = "0x000000000000000000000000000000000000dEaD"


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def leader(tmp_path):
    """The devnet sequencer leading every term of a dedicated L1 (it is the only one staked),
    with two fresh rollup engines; no batcher runs: the test posts when it wants."""
    with l1_stack(
        tmp_path,
        TERM_BLOCKS,
        slot_ms=250,
        l1_poll_s=0.1,
        follow_poll_s=0.2,
        handoff_l1_blocks=4,
        preconf_deadline_l1_blocks=DEADLINE,
        backpressure_margin_l1_blocks=MARGIN,
        batcher_margin_l1_blocks=0,  # the batcher below posts every round (no policy)
    ) as stack:
        service, w3, contracts = stack.service, stack.w3, stack.contracts
        inbox = InboxView(
            w3,
            (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
            (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
        )
        batcher = Batcher(
            inbox,
            TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1),
            {c: SyncEngineClient(url) for c, url in stack.rollup_urls.items()},
            mode="calldata",
            max_blocks=512,
            sequencer=SyncEngineClient(service.url + "/"),
        )
        _wait(
            lambda: service.result("/", "seq_status")["leader"]["accepting"],
            what="the sequencer to lead",
        )
        yield service, w3, batcher


def _metric(service, name: str) -> float | None:
    for line in requests.get(service.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_promises_stop_while_the_backlog_puts_a_deadline_at_risk_and_resume_once_posted(
    leader,
):
    service, w3, batcher = leader
    raw = signed_transfer(USER_KEY, 901, 0, TO)
    first = service.result("/901", "seq_sendRawTransaction", [raw])
    wait_sealed(service, 901, first["txHash"])
    promising = service.result("/", "seq_status")["promising"]
    assert promising["accepting"] and promising["nearestDeadline"] == first["deadline"]
    assert promising["slackBlocks"] <= DEADLINE and promising["marginBlocks"] == MARGIN
    # the batcher falls behind: L1 moves on, nothing is posted
    w3.provider.make_request("anvil_mine", [hex(DEADLINE - MARGIN + 1)])
    head = w3.eth.block_number
    _wait(lambda: service.result("/", "seq_status")["l1Head"] >= head, what="the L1 head")
    second = signed_transfer(USER_KEY, 901, 1, TO)
    refused = service.rpc("/901", "eth_sendRawTransaction", [second])["error"]
    assert refused["code"] == -32000 and "busy" in refused["message"]
    assert refused["data"]["reason"] == "backlog"
    assert refused["data"]["slackBlocks"] == first["deadline"] - head < MARGIN
    assert refused["data"]["retryAfterL1Blocks"] > 0
    bundle = {"txs": {"902": [signed_transfer(USER_KEY, 902, 0, TO)]}, "beneficiary": TO}
    bundle["deadline"] = head + 100
    assert service.rpc("/", "seq_sendBundle", [bundle])["error"]["data"]["reason"] == "backlog"
    status = service.result("/", "seq_status")["promising"]
    assert not status["accepting"] and status["reason"] == "backlog"
    assert _metric(service, "seq_deadline_slack_l1_blocks") == first["deadline"] - head
    # the batcher catches up: the block is on L1 by its deadline, and promises resume
    assert batcher.step() is not None
    again = _wait(
        lambda: service.rpc("/901", "seq_sendRawTransaction", [second]).get("result"),
        what="promises to resume",
    )
    assert again["deadline"] > first["deadline"]
    assert w3.eth.block_number <= first["deadline"]  # the first promise was kept in time


def test_a_bundle_deadline_the_term_end_makes_unmeetable_is_refused_and_the_earliest_is_met(
    leader,
):
    """Issue #16: at L1 block 59 a bundle with deadline 61 (term ending at 63) was receipted,
    the batcher could not post before the term's last blocks, and the honest sequencer was
    slashed `bundle_posted_late`. Four blocks before a term's end, a deadline two blocks out is
    refused with the earliest one the sequencer can honour; a bundle with that one lands and the
    batcher's next round puts it on L1 by then."""
    service, w3, batcher = leader
    head = w3.eth.block_number
    end = (head // TERM_BLOCKS + 1) * TERM_BLOCKS - 1
    if end - head < 4:
        end += TERM_BLOCKS
    w3.provider.make_request("anvil_mine", [hex(end - 4 - head)])
    head = end - 4
    _wait(lambda: service.result("/", "seq_status")["l1Head"] == head, what="the L1 head")
    leg = signed_transfer(USER_KEY, 901, 0, TO)
    bundle = {"txs": {"901": [leg]}, "beneficiary": TO, "deadline": head + 2}
    refused = service.rpc("/", "seq_sendBundle", [bundle])["error"]
    assert refused["code"] == -32000 and "too soon" in refused["message"]
    earliest = refused["data"]["earliestDeadline"]
    assert earliest > head + 2 and refused["data"]["l1Head"] == head
    bundle["deadline"] = earliest
    sent = service.result("/", "seq_sendBundle", [bundle])
    receipt = _wait(
        lambda: service.result("/", "seq_getBundleReceipt", [sent["bundleHash"]]),
        what="the bundle receipt",
    )
    assert receipt["deadline"] == earliest
    posted = batcher.step()
    assert posted is not None and posted.status == 1
    assert posted.block_number <= earliest  # on L1 by the deadline signed
    tips = batcher.inbox.tips()
    assert tips[901][0] >= receipt["legs"][0]["blockNumber"]


def test_a_bundle_with_a_short_deadline_does_not_stop_other_promises(leader):
    """A bundle's deadline is its sender's choice, down to the earliest one the batcher can
    meet: once receipted, that short deadline must not hold back everyone else's promises
    (backpressure counts the pre-confirmations' deadlines)."""
    service, w3, batcher = leader
    earliest = service.result("/", "seq_status")["promising"]["earliestDeadline"]
    bundle = {
        "txs": {"902": [signed_transfer(USER_KEY, 902, 0, TO)]},
        "beneficiary": TO,
        "deadline": earliest + 1,
    }
    sent = service.result("/", "seq_sendBundle", [bundle])
    _wait(lambda: service.result("/", "seq_getBundleReceipt", [sent["bundleHash"]]))
    w3.provider.make_request("anvil_mine", [hex(2)])  # its deadline is now close
    head = w3.eth.block_number
    _wait(lambda: service.result("/", "seq_status")["l1Head"] >= head, what="the L1 head")
    assert bundle["deadline"] - head < MARGIN
    promise = service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 0, TO)]
    )
    assert promise["deadline"] == head + DEADLINE
    assert batcher.step() is not None
    assert w3.eth.block_number <= bundle["deadline"]  # and the receipt is kept
