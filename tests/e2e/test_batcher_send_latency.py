"""The term check allows for the time the send itself takes, on a real anvil behind a proxy
that lets L1 move while a raw transaction is being sent (as a slow node does with the first
blob it sees): a post that could land in the next term is rebuilt, not sent."""

from __future__ import annotations

import json

import pytest
from faultproxy import FaultProxy
from test_batcher_derive import _traffic, l1  # noqa: F401  (fixture)
from test_batcher_l1_calls import _batcher

from sequencer.batcher import Batcher, SendLatency
from sequencer.config import BATCHER_TERM_MARGIN
from sequencer.posting import SEND_MARGIN_WIDEN_MAX


class SlowSendProxy(FaultProxy):
    """Forwards everything; before forwarding an eth_sendRawTransaction it mines `blocks` L1
    blocks (the chain moves on while the send is in flight)."""

    def __init__(self, upstream: str, blocks: int) -> None:
        super().__init__(upstream)
        self.blocks = blocks

    async def _forward(self, request, raw: bytes) -> bytes:
        try:
            method = json.loads(raw).get("method")
        except (ValueError, AttributeError):
            method = None
        if method == "eth_sendRawTransaction" and self.blocks:
            mine = {"jsonrpc": "2.0", "id": 0, "method": "anvil_mine", "params": [hex(self.blocks)]}
            async with self._session.post(self.upstream, json=mine) as response:
                await response.read()
        return await super()._forward(request, raw)


@pytest.fixture
def slow(l1):  # noqa: F811
    w3, contracts = l1
    proxy = SlowSendProxy(w3.provider.endpoint_uri, blocks=3).start()
    try:
        yield w3, contracts, proxy
    finally:
        proxy.stop()


def _to_left(w3, batcher: Batcher, left: int) -> None:
    """Mine until `left` L1 blocks of the term remain after the head."""
    term_blocks = batcher.inbox.term_blocks()
    to_go = (term_blocks - 1 - w3.eth.block_number % term_blocks - left) % term_blocks
    if to_go:
        w3.provider.make_request("anvil_mine", [hex(to_go)])
    assert batcher.inbox.blocks_left_in_term() == left


def _nothing_sent(w3, batcher: Batcher, before: int) -> None:
    assert w3.eth.get_transaction_count(batcher.txmgr.address) == before
    assert batcher.stats.reverts == 0


def test_a_slow_send_measured_once_widens_the_term_check(slow, rollup_a, rollup_b):
    """The first post's send took 3 L1 blocks (it lands 4 after the check); with 3 blocks of
    the term left, the next one would land in the next term: it is not sent (the old check
    wanted 2 blocks and sent it: `inbox: wrong term`). In the next term it is posted."""
    w3, contracts, proxy = slow
    batcher = _batcher(proxy.url, contracts, [rollup_a, rollup_b], "calldata")
    nonce_a = _traffic(rollup_a, 1)
    _to_left(w3, batcher, 20)
    first = batcher.step()
    assert first is not None and first.status == 1
    assert batcher.latency.worst == 4 and batcher.send_margin() == 5
    _traffic(rollup_a, 1, nonce_a)
    _to_left(w3, batcher, 3)
    before = w3.eth.get_transaction_count(batcher.txmgr.address)
    assert batcher.step() is None
    _nothing_sent(w3, batcher, before)
    w3.provider.make_request("anvil_mine", [hex(4)])  # into the next term
    posted = batcher.step()
    assert posted is not None and posted.status == 1


def test_the_first_blob_is_not_sent_into_the_next_term(slow, rollup_a, rollup_b):
    """A fresh batcher's first blob (a fresh node takes several blocks to accept its first
    blob): sent 3 blocks before the term's end it would land in the next term; it waits for the
    next term instead."""
    w3, contracts, proxy = slow
    batcher = _batcher(proxy.url, contracts, [rollup_a, rollup_b], "blob")
    _traffic(rollup_a, 1)
    _to_left(w3, batcher, 3)
    before = w3.eth.get_transaction_count(batcher.txmgr.address)
    assert batcher.step() is None
    _nothing_sent(w3, batcher, before)
    assert batcher.stats.rebuilt == 1  # built for the term, refused at the check before sending
    w3.provider.make_request("anvil_mine", [hex(4)])  # into the next term
    posted = batcher.step()
    assert posted is not None and posted.status == 1 and posted.blob_gas_used > 0
    assert batcher.send_margin(blob=True) == 5  # measured: 3 blocks in the send, landing at +4


def test_send_latency_margin():
    latency = SendLatency(window=3, first_blob_extra=4)
    assert latency.needed(2) == 2 and latency.needed(2, blob=True) == 6
    latency.record(100, 101)
    assert latency.needed(2) == 2 and latency.needed(2, blob=True) == 6  # no blob measured yet
    latency.record(100, 105, blob=True)
    assert latency.needed(2) == latency.needed(2, blob=True) == 6
    for _ in range(3):  # the slow one leaves the window
        latency.record(200, 201)
    assert latency.worst == 1 and latency.needed(2, blob=True) == 2


def test_send_margin_never_exceeds_its_bound():
    """However slow a send was measured, the batcher skips at most the term's last
    `term_margin + SEND_MARGIN_WIDEN_MAX` blocks: one slow outlier must not hold posts back
    for a whole term end (the posting policy's deadline distance covers the bound)."""
    widest = BATCHER_TERM_MARGIN + SEND_MARGIN_WIDEN_MAX
    latency = SendLatency(window=4, first_blob_extra=9)
    latency.record(100, 120, blob=True)  # a send that took 20 L1 blocks
    assert latency.needed(BATCHER_TERM_MARGIN) == widest
    assert latency.needed(BATCHER_TERM_MARGIN, blob=True) == widest
    assert SendLatency(first_blob_extra=9).needed(BATCHER_TERM_MARGIN, blob=True) == widest
