"""Blob packing of batch payloads: lossless, every field element canonical, bounded."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.batcher import (
    BLOB_BYTES,
    BLOB_CAPACITY,
    BatcherError,
    blob_versioned_hash,
    from_blob,
    to_blob,
)

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
