"""The compiled decoder (`seqcore`, native/) against the Python one: the judge stays one.

`mempool.decode_tx` takes the compiled result when there is one and asks `decode_tx_py`
otherwise. These tests prove, over thousands of random, mangled and hostile transactions, that
the compiled decoder accepts only what the Python decoder accepts, with the same fields, and
leaves nothing the Python decoder accepts but a rare shape (a field of 2^64 or more); so
`decode_tx` gives byte-identical verdicts and error words to `decode_tx_py`, and so does the
judge on top of it.
"""

from __future__ import annotations

import pytest
import rlp
import seqcore
from coincurve import PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.judge import ChainRules, judge_static
from sequencer.mempool import (
    SECP256K1_N,
    DecodedTx,
    TxRejected,
    checksum_address,
    decode_tx,
    decode_tx_py,
    keccak,
    rlp_encode,
)

U64 = 2**64
RULES = ChainRules(chain_id=901, block_gas_limit=30_000_000)


def _uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def outcome(fn, raw: bytes):
    """What a decoder gives: the transaction, or the refusal's reason and words."""
    try:
        return fn(raw)
    except TxRejected as exc:
        return ("rejected", exc.reason, exc.message)


def fast(raw: bytes) -> DecodedTx | None:
    fields = seqcore.decode_tx(raw)
    return None if fields is None else DecodedTx(raw, *fields)


def rare(tx: DecodedTx) -> bool:
    """A valid shape the compiled path leaves to Python (a 64-bit field that overflows)."""
    if tx.chain_id >= U64 or tx.nonce >= U64 or tx.gas >= U64:
        return True
    return tx.tx_type == 0 and tx.chain_id * 2 + 36 >= U64  # v itself over 64 bits


def check(raw: bytes) -> None:
    """The parity property for one input."""
    slow = outcome(decode_tx_py, raw)
    compiled = fast(raw)
    if isinstance(slow, tuple):
        assert compiled is None, f"compiled path accepted what Python refuses: {slow}"
    elif compiled is None:
        assert rare(slow), f"compiled path refused a common valid transaction: {slow}"
    else:
        assert compiled == slow
        assert [type(getattr(compiled, f)) for f in DecodedTx.__dataclass_fields__] == [
            type(getattr(slow, f)) for f in DecodedTx.__dataclass_fields__
        ]
    # what the service calls: the same transaction, or the same refusal in the same words
    assert outcome(decode_tx, raw) == slow
    if not isinstance(slow, tuple):
        assert judge_static(decode_tx(raw), RULES) == judge_static(slow, RULES)


def build(
    key: bytes,
    tx_type: int,
    chain_id: int,
    nonce: int,
    tip: int,
    fee: int,
    gas: int,
    to: bytes,
    value: int,
    data: bytes,
    access: list,
    high_s: bool = False,
    parity_delta: int = 0,
) -> bytes:
    """A signed transaction of any field values (eth-account refuses the odd ones)."""
    secret = PrivateKey(key)
    if tx_type == 0:
        body = [_uint(nonce), _uint(fee), _uint(gas), to, _uint(value), data]
        digest = keccak(rlp_encode([*body, _uint(chain_id), b"", b""]))
    else:
        fees = [_uint(tip), _uint(fee)] if tx_type == 2 else [_uint(fee)]
        body = [_uint(chain_id), _uint(nonce), *fees, _uint(gas), to, _uint(value), data, access]
        digest = keccak(bytes([tx_type]) + rlp_encode(body))
    sig = secret.sign_recoverable(digest, hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    if high_s:
        s, y = SECP256K1_N - s, y ^ 1
    y += parity_delta
    if tx_type == 0:
        return rlp_encode([*body, _uint(chain_id * 2 + 35 + y), _uint(r), _uint(s)])
    return bytes([tx_type]) + rlp_encode([*body, _uint(y), _uint(r), _uint(s)])


big = st.one_of(
    st.integers(0, 2**16),
    st.integers(0, 2**64 + 5),
    st.integers(2**64 - 3, 2**64 + 3),
    st.integers(0, 2**256 - 1),
)
access_entry = st.tuples(
    st.binary(min_size=20, max_size=20), st.lists(st.binary(min_size=32, max_size=32), max_size=3)
).map(list)
txs = st.builds(
    build,
    key=st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big")),
    tx_type=st.sampled_from([0, 1, 2]),
    chain_id=st.one_of(st.sampled_from([901, 902, 1]), big),
    nonce=big,
    tip=big,
    fee=big,
    gas=st.one_of(st.integers(21_000, 30_000_000), big),
    to=st.one_of(st.just(b""), st.binary(min_size=20, max_size=20)),
    value=big,
    data=st.one_of(st.binary(max_size=200), st.binary(max_size=4000)),
    access=st.lists(access_entry, max_size=3),
    high_s=st.booleans(),
    parity_delta=st.sampled_from([0, 0, 0, 1, 2]),
)

FAST = settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@FAST
@given(txs)
def test_random_transactions_decode_alike(raw: bytes) -> None:
    check(raw)


def _mangle(raw: bytes, how: int, at: int, value: int) -> bytes:
    at %= len(raw)
    if how == 0:  # flip one byte
        return raw[:at] + bytes([raw[at] ^ (value or 1)]) + raw[at + 1 :]
    if how == 1:  # cut
        return raw[:at]
    if how == 2:  # insert a byte
        return raw[:at] + bytes([value]) + raw[at:]
    if how == 3:  # drop a byte
        return raw[:at] + raw[at + 1 :]
    if how == 4:  # another type byte (3: blob, 4: set-code) or a legacy body made typed
        return bytes([value % 6]) + (raw[1:] if raw[0] < 0x80 else raw)
    return raw + bytes([value])  # trailing byte


@FAST
@given(txs, st.lists(st.tuples(st.integers(0, 5), st.integers(0), st.integers(0, 255)), max_size=3))
def test_mangled_transactions_decode_alike(raw: bytes, edits: list) -> None:
    for how, at, value in edits:
        if raw:
            raw = _mangle(raw, how, at, value)
    check(raw)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_decode_alike(raw: bytes) -> None:
    check(raw)


rlp_item = st.recursive(
    st.binary(max_size=40),
    lambda children: st.lists(children, max_size=12),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None, database=None)  # (nested strategies generate slowly)
@given(st.sampled_from([b"", b"\x01", b"\x02", b"\x03", b"\x04"]), st.lists(rlp_item, max_size=13))
def test_wellformed_rlp_of_any_shape_decodes_alike(prefix: bytes, fields: list) -> None:
    """Canonical RLP with wrong field counts, lists for integers, bad access lists, etc."""
    check(prefix + rlp_encode(fields))


def _loose(item: bytes | list, form: int) -> bytes:
    """RLP of `item` in a non-canonical `form` where one exists (else canonical): 1 a one-byte
    string for a byte below 0x80, 2 a long form for a short length, 3 a length with a leading
    zero byte, 4 an integer's leading zero byte (canonical RLP of a non-canonical integer)."""
    if isinstance(item, list):
        payload = b"".join(rlp_encode(x) for x in item)
        if form == 2 and len(payload) < 56:
            return bytes([0xF8, len(payload)]) + payload
        if form == 3:
            length = _uint(len(payload)) if payload else b""
            return bytes([0xF8 + len(length)]) + b"\x00" + length + payload
        return rlp_encode(item)
    if form == 1 and len(item) == 1 and item[0] < 0x80:
        return b"\x81" + item
    if form == 2 and len(item) < 56:
        return bytes([0xB8, len(item)]) + item
    if form == 3:
        length = _uint(len(item)) if item else b""
        return bytes([0xB8 + len(length)]) + b"\x00" + length + item
    if form == 4 and len(item) < 32:
        return rlp_encode(b"\x00" + item)
    return rlp_encode(item)


@FAST
@given(txs, st.data())
def test_non_canonical_encodings_decode_alike(raw: bytes, data: st.DataObject) -> None:
    """A transaction with one field, or its whole list, re-encoded in a non-canonical form."""
    typed = raw[0] < 0x80
    fields = rlp.decode(raw[1:] if typed else raw)
    form = data.draw(st.integers(1, 4))
    at = data.draw(st.integers(-1, len(fields) - 1))
    if at == -1:
        body = _loose(fields, form)
    else:
        inner = b"".join(
            _loose(f, form) if i == at else rlp_encode(f) for i, f in enumerate(fields)
        )
        body = rlp_encode([]) if not inner else _list_header(len(inner)) + inner
    check((raw[:1] if typed else b"") + body)


def _list_header(length: int) -> bytes:
    if length < 56:
        return bytes([0xC0 + length])
    encoded = _uint(length)
    return bytes([0xF7 + len(encoded)]) + encoded


def test_every_single_bit_flip_decodes_alike() -> None:
    """Thousands of deterministic mangled inputs: each bit of one transaction of each type."""
    key = (7).to_bytes(32, "big")
    access = [[b"\x11" * 20, [b"\x22" * 32]]]
    for tx_type in (0, 1, 2):
        raw = build(
            key, tx_type, 901, 3, 10**9, 2 * 10**9, 60_000, b"\x33" * 20, 5, b"\x00\x01", access
        )
        assert fast(raw) is not None
        check(raw)
        for i in range(len(raw)):
            for bit in range(8):
                check(raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1 :])


def test_rare_shapes_fall_back_to_python() -> None:
    """A chain id or nonce of 2^64 decodes in Python (the judge then refuses it in its words)."""
    key = (9).to_bytes(32, "big")
    for tx_type in (0, 2):
        raw = build(key, tx_type, 901, 2**64, 1, 1, 21_000, b"\x01" * 20, 0, b"", [])
        assert seqcore.decode_tx(raw) is None
        tx = decode_tx(raw)
        assert tx.nonce == 2**64
        assert judge_static(tx, RULES).message == "nonce has max value"


@pytest.mark.parametrize("n", [0, 1, 19, 21])
def test_checksum_address_refuses_other_lengths(n: int) -> None:
    with pytest.raises(ValueError):
        seqcore.checksum_address(bytes(n))


def test_checksum_address_alike() -> None:
    for seed in range(500):
        address = keccak(seed.to_bytes(4, "big"))[:20]
        assert seqcore.checksum_address(address) == checksum_address(address)
