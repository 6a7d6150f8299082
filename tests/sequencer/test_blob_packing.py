"""Blob packing of batch payloads: lossless, every field element canonical, bounded."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.typed_transactions.base import Blob, BlobPooledTransactionData
from eth_utils import keccak
from hexbytes import HexBytes
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import kzg
from sequencer.batch_codec import BLOB_BYTES, BLOB_CAPACITY, from_blob
from sequencer.batcher import BatcherError, blob_versioned_hash, to_blob
from sequencer.txmgr import blob_network_form, transaction_hash

# eth-account, the reference here, loads its trusted setup once per module (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("eth_account_kzg_setup_once")

BLS_MODULUS = 52435875175048450796998134138063108939200924007183093040244149066592125249537


@given(st.binary(max_size=4000))
@settings(max_examples=50, deadline=None)
def test_payloads_round_trip_through_a_blob(payload):
    blob = to_blob(payload)
    assert len(blob) == BLOB_BYTES
    assert from_blob(blob) == payload


def test_a_full_blob_round_trips_and_every_element_is_below_the_modulus():
    payload = os.urandom(BLOB_CAPACITY)
    blob = to_blob(payload)
    assert from_blob(blob) == payload
    assert all(
        int.from_bytes(blob[i : i + 32], "big") < BLS_MODULUS for i in range(0, BLOB_BYTES, 32)
    )
    with pytest.raises(BatcherError, match="exceeds one blob"):
        to_blob(payload + b"\x00")


def test_foreign_blobs_are_refused():
    with pytest.raises(ValueError, match="non-zero first byte"):
        from_blob(b"\x01" + b"\x00" * (BLOB_BYTES - 1))
    with pytest.raises(ValueError, match="131072"):
        from_blob(b"\x00" * 10)


def test_versioned_hash_is_kzg_versioned():
    digest = blob_versioned_hash(to_blob(b"batch"))
    assert len(digest) == 32 and digest[0] == 1
    assert digest != blob_versioned_hash(to_blob(b"other"))


# --- KZG: one trusted setup per process, each blob's sidecar computed once ---


def _random_blob(seed: int) -> bytes:
    return to_blob(random.Random(seed).randbytes(BLOB_CAPACITY))


@given(st.integers(min_value=0, max_value=2**32))
@settings(max_examples=3, deadline=None)
def test_sidecar_equals_eth_accounts_reference(seed):
    blob = _random_blob(seed)
    ours = kzg.sidecar(blob)
    reference = BlobPooledTransactionData(blobs=[Blob(data=HexBytes(blob))])
    assert ours.commitment == bytes(reference.commitments[0].data)
    assert ours.proof == bytes(reference.proofs[0].data)
    assert ours.versioned_hash == bytes(reference.versioned_hashes[0].data)
    assert blob_versioned_hash(blob) == ours.versioned_hash


def test_signed_blob_transaction_equals_eth_accounts_network_form():
    blob = _random_blob(7)
    tx = {
        "type": 3,
        "chainId": 31337,
        "nonce": 4,
        "to": "0x0000000000000000000000000000000000000B0b",
        "value": 0,
        "data": HexBytes(b"\x01\x02"),
        "gas": 90_000,
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 2 * 10**9,
    }
    key = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
    reference = bytes(Account.from_key(key).sign_transaction(tx, blobs=[blob]).raw_transaction)
    sidecar = kzg.sidecar(blob)
    body = Account.from_key(key).sign_transaction(
        {**tx, "blobVersionedHashes": [HexBytes(sidecar.versioned_hash)]}
    )
    ours = blob_network_form(bytes(body.raw_transaction), (sidecar,))
    assert ours == reference
    assert transaction_hash(ours) == keccak(body.raw_transaction)


COUNT_LOADS = """
import ckzg
import eth_account.typed_transactions.base as base
calls = []
real = ckzg.load_trusted_setup
def counting(*args):
    calls.append(args)
    return real(*args)
ckzg.load_trusted_setup = counting
base.load_trusted_setup = counting

import os
from eth_account import Account
from eth_utils import keccak
from sequencer import batch_codec as bc, batcher as b, commitments as cm
from sequencer.txmgr import SentTx, TxManager, TxRequest

mgr = TxManager.__new__(TxManager)
mgr._account = Account.from_key("0x" + "11" * 32)
mgr.chain_id = 31337
for i in range(3):  # three batches, each signed twice (a first attempt and a replacement)
    state = b.InboxState(i, cm.ZERO_HASH, 0, 0, {901: 0})
    raw = os.urandom(3000)
    block = bc.BlockData(1, 1000, (raw,), 0, ())
    record = cm.BlockRecord(901, 1, keccak(raw), (cm.TxRecord(0, keccak(raw), 1),))
    rng = b.SealedRange(901, cm.ZERO_HASH, (block,), (record,), cm.ZERO_HASH)
    batch = b.build_batch(state, [rng], "blob", 1, 1)
    request = TxRequest(to="0x" + "00" * 19 + "01", data=b"x", blobs=(batch.sidecar,))
    sent = SentTx(request, i, 10**5)
    for bump in range(2):
        mgr._sign(sent, 10**9 * (bump + 2), 10**9, 10**9 * (bump + 1))
    TxRequest(to="0x" + "00" * 19 + "01", blobs=(batch.blob,))  # a raw blob: converted once
print(len(calls))
"""


def test_the_trusted_setup_is_loaded_once_per_process():
    out = subprocess.run(
        [sys.executable, "-c", COUNT_LOADS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert out.stdout.strip() == "1", out.stderr
