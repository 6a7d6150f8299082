"""The L1 calls of one batcher round that posts, counted on a real anvil through a counting
JSON-RPC proxy (`faultproxy.FaultProxy` with no fault set, counting every method): each fact
is read once per round (the chain id once per process, the nonce once per batcher unless L1
moved another way), so the count cannot silently regrow; and a nonce moved by an outside send
costs one refused round."""

from __future__ import annotations

from collections import Counter

import pytest
from faultproxy import FaultProxy
from test_batcher_derive import _traffic, l1  # noqa: F401  (fixture)
from web3 import Web3

from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.engine import SyncEngineClient
from sequencer.txmgr import TxManager, TxManagerError

# Every L1 call of a round that posts (the receipt polls aside: they depend on timing).
ROUND = {
    "eth_blockNumber": 2,  # the round's head (term, policy, event scan), the last term check
    "eth_call": 8,  # can_post, next_sequence, batch_hash, current_term, forced_through,
    # forced_count, rollup_tip_matches for each of the two rollups L1 holds blocks of
    "eth_getLogs": 1,  # BatchPosted events since the last round
    "eth_getBlockByNumber": 1,  # the fee read (base fee; its number: the first term check)
    "eth_maxPriorityFeePerGas": 1,
    "eth_estimateGas": 1,
    "eth_sendRawTransaction": 1,
}
BLOB_ROUND = {**ROUND, "eth_blobBaseFee": 1}
# The same round before: chain id asked twice per eth_call and per estimate, the fees read for
# the build and twice for the send, the head read four times, the nonce read every round, and
# the including block and head read again after the receipt.


class CountingProxy(FaultProxy):
    """The fault proxy, forwarding everything and counting each JSON-RPC method it sees."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.methods: Counter = Counter()

    def _fault_for(self, body):
        for call in body if isinstance(body, list) else [body]:
            self.methods[call.get("method", "") if isinstance(call, dict) else ""] += 1
        return super()._fault_for(body)


def _counted(proxy: CountingProxy) -> Counter:
    return Counter({m: n for m, n in proxy.methods.items() if m != "eth_getTransactionReceipt"})


@pytest.fixture
def counted(l1):  # noqa: F811
    w3, contracts = l1
    proxy = CountingProxy(w3.provider.endpoint_uri).start()
    try:
        yield w3, contracts, proxy
    finally:
        proxy.stop()


def _batcher(url, contracts, rollups, mode) -> Batcher:
    w3 = Web3(Web3.HTTPProvider(url))
    inbox = InboxView(
        w3,
        (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
        (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
    )
    txmgr = TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1)
    engines = {r.chain_id: SyncEngineClient(r.url) for r in rollups}
    return Batcher(inbox, txmgr, engines, mode=mode)


@pytest.mark.parametrize(("mode", "expected"), [("calldata", ROUND), ("blob", BLOB_ROUND)])
def test_a_posting_round_reads_each_fact_from_l1_once(counted, rollup_a, rollup_b, mode, expected):
    w3, contracts, proxy = counted
    batcher = _batcher(proxy.url, contracts, [rollup_a, rollup_b], mode)
    nonce_a = _traffic(rollup_a, 1)
    _traffic(rollup_b, 1)
    assert batcher.step().status == 1  # the first round also reads chain id, nonce, term length
    _traffic(rollup_a, 1, nonce_a)
    proxy.methods.clear()
    posted = batcher.step()
    assert posted is not None and posted.status == 1
    assert batcher.stats.last["mode"] == mode
    assert _counted(proxy) == Counter(expected)
    assert proxy.methods["eth_getTransactionReceipt"] >= 1


def test_a_nonce_moved_by_an_outside_send_is_read_again(counted, rollup_a, rollup_b):
    """The nonce is counted locally between posts; an outside transaction from the same key
    makes the next send refused ("nonce too low"), nothing is lost, and the round after reads
    the nonce again and posts."""
    w3, contracts, proxy = counted
    batcher = _batcher(proxy.url, contracts, [rollup_a, rollup_b], "calldata")
    nonce_a = _traffic(rollup_a, 1)
    assert batcher.step().status == 1
    account = Signer(DEVNET_SEQUENCER_KEY).local_account()
    outside = {
        "type": 2,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address),
        "to": account.address,
        "value": 0,
        "gas": 21000,
        "maxFeePerGas": 10**11,
        "maxPriorityFeePerGas": 10**9,
    }
    w3.eth.send_raw_transaction(account.sign_transaction(outside).raw_transaction)
    _traffic(rollup_a, 1, nonce_a)
    inbox = batcher.inbox.inbox.functions
    with pytest.raises(TxManagerError, match="nonce"):
        batcher.step()
    assert inbox.next_sequence().call() == 1 and batcher.stats.reverts == 0
    posted = batcher.step()
    assert posted is not None and posted.status == 1
    assert inbox.next_sequence().call() == 2


def test_tips_scanned_to_a_head_read_before_a_batch_landed(counted, rollup_a, rollup_b):
    """The round's head bounds the event scan; a batch that lands after that head was read
    (another poster, or a sampler reading the inbox while the batcher posts) makes the tips
    disagree with the inbox: they are scanned again up to L1's head now (this used to recurse
    on the stale head without end)."""
    w3, contracts, proxy = counted
    batcher = _batcher(proxy.url, contracts, [rollup_a, rollup_b], "calldata")
    view = InboxView(
        Web3(Web3.HTTPProvider(proxy.url)),
        (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
        (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
    )
    nonce_a = _traffic(rollup_a, 1)
    assert batcher.step().status == 1
    assert set(view.tips()) == {901}
    stale_head = w3.eth.block_number
    _traffic(rollup_a, 1, nonce_a)
    _traffic(rollup_b, 1)
    posted = batcher.step()
    assert posted is not None and posted.block_number > stale_head
    tips = view.tips(stale_head)
    assert tips == batcher.inbox.tips()
    assert {c: n for c, (n, _) in tips.items()} == {
        901: rollup_a.w3.eth.block_number,
        902: rollup_b.w3.eth.block_number,
    }
