"""The compiled promise signer (`seqcore.PreconfSigner`, native/src/sign.rs) against the Python
one: the same EIP-712 digest and the same 65 signature bytes (RFC 6979 nonce, low s, v 27/28)
as `Signer.sign_digest(digest(domain, PreconfMsg(..)))`, over random keys, domains and fields.
"""

from __future__ import annotations

import pytest
import seqcore
from eth_keys import keys
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.commitments import (
    PRECONF_TYPEHASH,
    SECP256K1_N,
    Domain,
    PreconfMsg,
    Signer,
    digest,
    recover,
)

U64 = st.integers(0, 2**64 - 1)
keys_ = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
domains = st.builds(
    Domain,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
)
msgs = st.builds(PreconfMsg, U64, U64, U64, st.binary(min_size=32, max_size=32), U64)


@settings(
    max_examples=600, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(keys_, domains, msgs)
def test_compiled_promise_signature_is_the_python_one(key: bytes, domain: Domain, msg: PreconfMsg):
    signer = Signer(key)
    compiled = signer.preconf_signer(domain.separator())
    fields = (msg.chain_id, msg.block_number, msg.index, msg.tx_hash, msg.deadline)
    want_digest = digest(domain, msg)
    assert compiled.digest(*fields) == want_digest
    signature = compiled.sign(*fields)
    assert signature == signer.sign_digest(want_digest)
    assert compiled.sign_digest(want_digest) == signature
    assert recover(want_digest, signature) == signer.address  # low s, v 27/28 (recover checks)


def test_compiled_signature_is_eth_keys_reference():
    """Independent of coincurve: eth-keys' pure-Python RFC 6979 signature, byte for byte."""
    key = bytes.fromhex("55" * 32)
    reference = keys.PrivateKey(key)
    compiled = Signer(key).preconf_signer(Domain(1, "0x" + "51a5".rjust(40, "0")).separator())
    for i in range(16):
        d = bytes([i]) * 32
        sig = reference.sign_msg_hash(d)
        want = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])
        assert compiled.sign_digest(d) == want


def test_bad_inputs_raise_and_sign_nothing():
    good = bytes.fromhex("66" * 32)
    for key in (b"\x00" * 32, SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32):
        with pytest.raises(ValueError, match="invalid secp256k1 private key"):
            seqcore.PreconfSigner(key, good, PRECONF_TYPEHASH)
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        seqcore.PreconfSigner(good[:31], good, PRECONF_TYPEHASH)
    signer = seqcore.PreconfSigner(good, good, PRECONF_TYPEHASH)
    with pytest.raises(ValueError, match="tx_hash must be 32 bytes"):
        signer.sign(1, 2, 3, b"\x01" * 33, 4)
    with pytest.raises(ValueError, match="digest must be 32 bytes"):
        signer.sign_digest(b"")
    with pytest.raises(OverflowError):  # beyond the 64-bit numbers the journal stores
        signer.sign(2**64, 2, 3, b"\x01" * 32, 4)
    with pytest.raises(OverflowError):
        signer.sign(1, 2, 3, b"\x01" * 32, -1)
    assert "66" * 8 not in repr(signer)
