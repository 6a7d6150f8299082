"""The batch payload format: every batch decodes back to the same raw transactions, byte for byte,
and malformed payloads are refused with a CodecError (never another exception)."""

import zlib

import brotli
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import batch_codec as bc

KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(4)]
RECIPIENTS = [KEYS[0].address, KEYS[1].address, "0x" + "ab" * 20]


@st.composite
def signed_tx(draw, chain_id):
    key = draw(st.sampled_from(KEYS))
    tx_type = draw(st.sampled_from([0, 1, 2]))
    tx = {
        "chainId": chain_id,
        "nonce": draw(st.integers(0, 2**20)),
        "gas": draw(st.integers(21000, 3_000_000)),
        "value": draw(st.integers(0, 10**24)),
        "data": draw(st.binary(max_size=80)),
    }
    if draw(st.booleans()):
        from eth_utils import to_checksum_address

        tx["to"] = to_checksum_address(draw(st.sampled_from(RECIPIENTS)))
    if tx_type == 2:
        tx.update(
            type=2,
            maxPriorityFeePerGas=draw(st.integers(0, 10**10)),
            maxFeePerGas=draw(st.integers(10**10, 10**12)),
        )
        if draw(st.booleans()):
            tx["accessList"] = [
                {"address": KEYS[2].address, "storageKeys": ["0x" + "00" * 31 + "01"]}
            ]
    elif tx_type == 1:
        tx.update(type=1, gasPrice=draw(st.integers(0, 10**12)), accessList=[])
    else:
        tx["gasPrice"] = draw(st.integers(0, 10**12))
    return bytes(key.sign_transaction(tx).raw_transaction)


@st.composite
def batches(draw):
    ranges = []
    for chain_id in draw(
        st.lists(st.sampled_from([901, 902]), min_size=1, max_size=2, unique=True)
    ):
        first = draw(st.integers(1, 10**6))
        ts = draw(st.integers(1, 2**40))
        blocks = []
        for i in range(draw(st.integers(1, 3))):
            txs = tuple(draw(st.lists(signed_tx(chain_id), max_size=4)))
            ts += draw(st.integers(0, 5))
            included = draw(st.integers(0, len(txs)))
            n_skipped = draw(st.integers(0, 2))
            n_forced = included + n_skipped
            offsets = draw(st.permutations(range(n_forced)))
            skipped = tuple(sorted(offsets[:n_skipped]))
            blocks.append(bc.BlockData(first + i, ts, txs, n_forced, skipped))
        ranges.append(bc.RangeData(chain_id, tuple(blocks)))
    return bc.BatchData(tuple(ranges))


@given(batches())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_encoding_and_codec_round_trips(batch):
    for encoding in (bc.ENCODING_CONCAT, bc.ENCODING_COLUMNS):
        for codec in (bc.CODEC_RAW, bc.CODEC_ZLIB, bc.CODEC_BROTLI):
            assert bc.decode(bc.encode(batch, [encoding], [codec])) == batch
    best = bc.encode(batch, exhaustive=True)
    assert bc.decode(best) == batch
    assert bc.decode(bc.encode(batch)) == batch
    assert len(best) == min(len(bc.encode(batch, [e], [c])) for e in (0, 1) for c in (0, 1, 2))


def _one_block_batch(txs):
    return bc.BatchData((bc.RangeData(901, (bc.BlockData(5, 100, tuple(txs)),)),))


def test_a_transaction_of_another_chain_falls_back_to_concat():
    foreign = bytes(
        KEYS[0]
        .sign_transaction(
            {
                "chainId": 5,
                "nonce": 0,
                "gas": 21000,
                "gasPrice": 1,
                "to": KEYS[1].address,
                "value": 1,
            }
        )
        .raw_transaction
    )
    batch = _one_block_batch([foreign])
    with pytest.raises(bc.CodecError):
        bc.encode(batch, [bc.ENCODING_COLUMNS])
    payload = bc.encode(batch)
    assert bc.describe(payload).startswith("concat")
    assert bc.decode(payload) == batch


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "too short"),
        (b"\x09\x00\x00\x00", "version"),
        (b"\x01\x07\x00\x00", "codec"),
        (b"\x01\x02" + b"not brotli at all", "corrupt brotli"),
        (b"\x01\x01" + b"not zlib", "corrupt zlib"),
        (b"\x01\x00\x05\x00", "encoding"),
        (b"\x01\x00\x00\x01\x85", "truncated"),
    ],
)
def test_malformed_payloads_are_refused(payload, message):
    with pytest.raises(bc.CodecError, match=message):
        bc.decode(payload)


def test_truncated_and_padded_payloads_are_refused():
    tx = bytes(
        KEYS[0]
        .sign_transaction(
            {
                "chainId": 901,
                "nonce": 0,
                "gas": 21000,
                "gasPrice": 1,
                "to": KEYS[1].address,
                "value": 1,
            }
        )
        .raw_transaction
    )
    batch = _one_block_batch([tx, tx])
    for encoding in (bc.ENCODING_CONCAT, bc.ENCODING_COLUMNS):
        payload = bc.encode(batch, [encoding], [bc.CODEC_RAW])
        with pytest.raises(bc.CodecError):
            bc.decode(payload[:-1])
        with pytest.raises(bc.CodecError, match="trailing"):
            bc.decode(payload + b"\x00")


def test_decompression_bombs_are_refused():
    bomb = zlib.compress(b"\x00" * (bc.MAX_PAYLOAD_BODY + 1), 9)
    with pytest.raises(bc.CodecError, match="too large"):
        bc.decode(b"\x01\x01" + bomb)
    bomb = brotli.compress(b"\x00" * (bc.MAX_PAYLOAD_BODY + 1))
    with pytest.raises(bc.CodecError, match="too large"):
        bc.decode(b"\x01\x02" + bomb)


def test_block_invariants_are_enforced():
    with pytest.raises(ValueError, match="consecutive"):
        bc.RangeData(901, (bc.BlockData(1, 10, ()), bc.BlockData(3, 11, ())))
    with pytest.raises(ValueError, match="forced_count"):
        bc.BlockData(1, 10, (), forced_count=1)
    assert bc.BlockData(1, 10, (), forced_count=1, forced_skipped=(0,)).forced_included == 0
    with pytest.raises(ValueError, match="forced_skipped"):
        bc.BlockData(1, 10, (), forced_count=1, forced_skipped=(1,))


# --- the hand-rolled RLP of the columns encoding, against pyrlp ---


def _reference_split(raw: bytes, chain_id: int):
    """The columns encoding's field split as it was written on pyrlp (decode, then refuse what
    does not re-encode identically): the reference the fast RLP must agree with."""
    import rlp

    try:
        if raw[:1] in (b"\x01", b"\x02"):
            items = rlp.decode(raw[1:])
            if raw[0] == 1:
                cid, nonce, fee1, gas, to, value, data, access, y, r, s = items
                fees = [fee1]
            else:
                cid, nonce, fee1, fee2, gas, to, value, data, access, y, r, s = items
                fees = [fee1, fee2]
            ints = [cid, nonce, *fees, gas, value, y, r, s]
            strings = [to, data]
        elif raw[:1] and raw[0] >= 0xC0:
            nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw)
            ints, strings, access = [nonce, gas_price, gas, value, v, r, s], [to, data], []
        else:
            return None
        if not all(isinstance(x, bytes) for x in ints + strings) or not isinstance(access, list):
            return None
        if any(x[:1] == b"\x00" for x in ints) or len(to) not in (0, 20):
            return None
        if raw[:1] in (b"\x01", b"\x02"):
            if int.from_bytes(cid, "big") != chain_id or int.from_bytes(y, "big") > 255:
                return None
            canonical = raw[:1] + rlp.encode(items)
        else:
            v_int = int.from_bytes(v, "big")
            if v_int not in (27, 28, chain_id * 2 + 35, chain_id * 2 + 36):
                return None
            canonical = rlp.encode([nonce, gas_price, gas, to, value, data, v, r, s])
        return (int.from_bytes(nonce, "big"), to, data) if canonical == raw else None
    except (rlp.DecodingError, ValueError, TypeError):
        return None


@st.composite
def mutated_tx(draw):
    raw = bytearray(draw(signed_tx(901)))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            raw.insert(at, draw(st.integers(0, 255)))
        elif raw:
            del raw[at]
    return bytes(raw)


@given(mutated_tx())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_columns_split_accepts_exactly_the_canonical_transactions(raw):
    """The fast RLP split (a batch splits every transaction) accepts a transaction exactly when
    pyrlp decodes it to the right shape and re-encodes it byte for byte, and then rebuilds it
    identically; anything else is a CodecError (and the batch falls back to concat)."""
    expected = _reference_split(raw, 901)
    try:
        fields = bc._split_tx(raw, 901)
    except bc.CodecError:
        assert expected is None
        return
    assert expected == (fields.nonce, fields.to, fields.data)
    assert bc._join_tx(fields, 901) == raw
