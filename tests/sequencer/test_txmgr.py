"""The L1 transaction manager on real anvil chains: nonces, fee bumps, reorgs, blobs."""

import time

import pytest
from web3 import Web3

from sequencer import kzg
from sequencer.devnet import DEVNET_MNEMONIC, ChainSpec, Devnet, free_port  # noqa: F401
from sequencer.txmgr import TxManager, TxManagerError, TxRequest

# anvil's well-known account 3 (DEVNET ONLY)
KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
OTHER = Web3.to_checksum_address("0x0000000000000000000000000000000000000b0b")


@pytest.fixture
def l1_engine(tmp_path, request):
    flags = ("--hardfork", "prague") + tuple(getattr(request, "param", ()))
    spec = ChainSpec("l1", "l1", 31337, free_port(), flags)
    with Devnet([spec], log_dir=tmp_path):
        yield Web3(Web3.HTTPProvider(spec.url))


def _rpc(w3, method, params):
    answer = w3.provider.make_request(method, params)
    assert "error" not in answer, answer
    return answer["result"]


def test_sends_in_nonce_order_and_confirms(l1_engine):
    mgr = TxManager(l1_engine, KEY, confirmations=1)
    first = mgr.send(TxRequest(to=OTHER, value=1))
    second = mgr.send(TxRequest(to=OTHER, value=2))
    assert (first.nonce, second.nonce) == (0, 1)
    a, b = mgr.wait(first, 10), mgr.wait(second, 10)
    assert a.status == b.status == 1
    assert l1_engine.eth.get_balance(OTHER) == 3
    assert a.fee_paid == a.gas_used * a.effective_gas_price > 0
    assert KEY.removeprefix("0x") not in repr(mgr)


@pytest.mark.parametrize("l1_engine", [("--no-mining",)], indirect=True)
def test_a_stuck_transaction_is_replaced_with_higher_fees(l1_engine):
    def sleep(_seconds):
        time.sleep(0.02)
        if len(sent.attempts) >= 2:  # the replacement is out: let the chain move
            _rpc(l1_engine, "evm_mine", [])

    mgr = TxManager(l1_engine, KEY, confirmations=1, resubmit_after=0.2, sleep=sleep)
    sent = mgr.send(TxRequest(to=OTHER, value=5, gas=21000))
    done = mgr.wait(sent, 20)
    assert done.attempts == 2 and done.tx_hash == sent.attempts[1].tx_hash
    assert sent.attempts[1].max_fee > sent.attempts[0].max_fee
    assert sent.attempts[1].tip > sent.attempts[0].tip
    # only the replacement landed, once
    assert l1_engine.eth.get_balance(OTHER) == 5
    assert l1_engine.eth.get_transaction_count(mgr.address) == 1


def test_a_transaction_reorged_out_is_broadcast_again(l1_engine):
    state = {"reorged": False}

    def sleep(_seconds):
        time.sleep(0.02)
        if not state["reorged"]:
            state["reorged"] = True
            # replace the block holding our transaction by an empty one
            _rpc(l1_engine, "anvil_reorg", [1, []])
        else:
            _rpc(l1_engine, "evm_mine", [])

    mgr = TxManager(l1_engine, KEY, confirmations=3, resubmit_after=0.1, sleep=sleep)
    sent = mgr.send(TxRequest(to=OTHER, value=7, gas=21000))
    original = l1_engine.eth.wait_for_transaction_receipt(sent.latest.tx_hash, timeout=10)
    done = mgr.wait(sent, 20)
    assert state["reorged"]
    assert done.tx_hash == sent.latest.tx_hash and done.status == 1
    assert done.block_hash != bytes(original["blockHash"])
    assert l1_engine.eth.get_block(done.block_number)["hash"] == done.block_hash
    assert l1_engine.eth.get_balance(OTHER) == 7


def test_blob_transaction_carries_its_blob(l1_engine):
    blob = b"\x00" * 131072
    mgr = TxManager(l1_engine, KEY, confirmations=1)
    done = mgr.send_and_wait(TxRequest(to=OTHER, gas=21000, blobs=(blob,)), 10)
    assert done.status == 1 and done.blob_gas_used == 131072
    tx = l1_engine.eth.get_transaction(done.tx_hash)
    assert tx["type"] == 3 and len(tx["blobVersionedHashes"]) == 1
    assert bytes(tx["blobVersionedHashes"][0]) == kzg.sidecar(blob).versioned_hash


def test_a_precomputed_sidecar_is_signed_and_replaced_without_recomputing(l1_engine, monkeypatch):
    """The batcher's sidecar goes to L1 as it is (anvil checks the KZG proof), and a fee bump
    re-signs the same sidecar: no commitment or proof is computed again."""
    blob = bytes(range(256)) * 512
    blob = bytes(b if i % 32 else 0 for i, b in enumerate(blob))  # canonical field elements
    sidecar = kzg.sidecar(blob)

    def refuse(_blob):
        raise AssertionError("a sidecar was computed again")

    monkeypatch.setattr(kzg, "sidecar", refuse)
    mgr = TxManager(l1_engine, KEY, confirmations=1)
    _rpc(l1_engine, "evm_setAutomine", [False])
    sent = mgr.send(TxRequest(to=OTHER, gas=21000, blobs=(sidecar,)))
    mgr.bump(sent)
    _rpc(l1_engine, "evm_mine", [])
    done = mgr.wait(sent, 10)
    assert done.status == 1 and done.tx_hash == sent.latest.tx_hash and done.attempts == 2
    tx = l1_engine.eth.get_transaction(done.tx_hash)
    assert [bytes(h) for h in tx["blobVersionedHashes"]] == [sidecar.versioned_hash]


def test_a_refused_transaction_raises_with_the_node_reason(l1_engine):
    poor = "0x" + "11" * 32  # unfunded key
    mgr = TxManager(l1_engine, poor, confirmations=1)
    with pytest.raises(TxManagerError, match="(?i)insufficient funds"):
        mgr.send(TxRequest(to=OTHER, value=1, gas=21000))
