"""The batch payload format: what the batcher posts to L1 and what derivation reads back.

Owns: the encoding of a batch's rollup blocks (number, timestamp, forced-transaction count and the
raw signed transactions, in order) to bytes and back, and the choice of compression. Pure: no
chain, no clock, no I/O. Decoding gives back every raw transaction byte for byte, so the derived
blocks have the same transaction hashes as the sequenced ones.

Wire format (version 1), all integers unsigned LEB128 varints unless said otherwise:

    payload   = VERSION (1 byte) | CODEC (1 byte) | compress(CODEC, body)
    CODEC     = 0 raw | 1 zlib | 2 brotli           (the batcher keeps the smallest)
    body      = ENCODING (1 byte) | content
    ENCODING  = 0 concat: the blocks with each raw transaction length-prefixed, as sent
              | 1 columns: "span-style", the fields of every transaction of the batch stored
                  column by column (all types, then all nonces, ...), which puts alike bytes
                  together for the compressor and drops what is implied (chain id, RLP framing)

Both encodings start with the block table:

    n_ranges, then per range: chain_id, first_block, n_blocks, base_timestamp,
                              per block: timestamp - previous timestamp, forced_count, tx_count

`concat` then has, per transaction in block order: length, raw bytes.
`columns` then has, over all transactions in block order, these columns:

    types        1 byte each: 0 legacy, 1 EIP-2930, 2 EIP-1559
    v            1 byte each: y-parity (0/1) for typed txs; for legacy 0/1 = EIP-155 parity,
                 2/3 = pre-EIP-155 v 27/28
    nonces       varints
    gas limits   varints
    fee 1        decimals: gasPrice (types 0, 1) or maxPriorityFeePerGas (type 2)
    fee 2        decimals: maxFeePerGas (type 2 only)
    to           varint per tx: 0 = contract creation, k = k-th entry of the address table
    address table: n, then n x 20 bytes (first-use order)
    values       decimals
    data         varint length + bytes per tx
    access lists varint length + RLP bytes per typed tx (0 = empty list)
    r, s         32 bytes each, big-endian, per tx (r column, then s column)

A "decimals" column is n exponent bytes then n mantissa varints, value = mantissa * 10^exponent
(the exponent the largest that divides the value): round amounts such as 0.25 ETH or 2 gwei take
two or three bytes instead of eight.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import brotli
import rlp

VERSION = 1
CODEC_RAW, CODEC_ZLIB, CODEC_BROTLI = 0, 1, 2
ENCODING_CONCAT, ENCODING_COLUMNS = 0, 1
CODEC_NAMES = {CODEC_RAW: "raw", CODEC_ZLIB: "zlib", CODEC_BROTLI: "brotli"}
ENCODING_NAMES = {ENCODING_CONCAT: "concat", ENCODING_COLUMNS: "columns"}
# Quality 10 is within 0.2% of 11 on batches of transfers and trades, at a third of the time.
BROTLI_QUALITY = 10
MAX_PAYLOAD_BODY = 32 * 1024 * 1024  # refuse to inflate anything larger (decompression bombs)


class CodecError(ValueError):
    """A payload that is not a well-formed batch of this format."""


@dataclass(frozen=True)
class BlockData:
    """One rollup block as the sequencer sealed it.

    Forced transactions: at the start of the block the sequencer processed `forced_count` items of
    the L1 forced-inclusion queue, in queue order. Those the engine refused (bad nonce, no funds)
    are listed in `forced_skipped` by their offset among the `forced_count` items; the others are
    the block's first transactions, in order. So the block starts with
    `forced_count - len(forced_skipped)` forced transactions.
    """

    number: int
    timestamp: int
    txs: tuple[bytes, ...]
    forced_count: int = 0
    forced_skipped: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.forced_count < 0 or self.forced_included > len(self.txs):
            raise ValueError("forced_count out of range")
        if list(self.forced_skipped) != sorted(set(self.forced_skipped)) or any(
            not 0 <= i < self.forced_count for i in self.forced_skipped
        ):
            raise ValueError("forced_skipped must be increasing offsets below forced_count")

    @property
    def forced_included(self) -> int:
        return self.forced_count - len(self.forced_skipped)


@dataclass(frozen=True)
class RangeData:
    """A contiguous run of one rollup's blocks."""

    chain_id: int
    blocks: tuple[BlockData, ...]

    def __post_init__(self) -> None:
        if not self.blocks:
            raise ValueError("a range holds at least one block")
        for prev, nxt in zip(self.blocks, self.blocks[1:], strict=False):
            if nxt.number != prev.number + 1:
                raise ValueError("blocks of a range must be consecutive")
            if nxt.timestamp < prev.timestamp:
                raise ValueError("block timestamps must not decrease")


@dataclass(frozen=True)
class BatchData:
    ranges: tuple[RangeData, ...]

    def raw_txs(self) -> list[bytes]:
        return [tx for r in self.ranges for b in r.blocks for tx in b.txs]


# --- varints ---


def _put_varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise CodecError("truncated varint")
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 7 * 40:
                raise CodecError("varint too long")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise CodecError("truncated field")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def done(self) -> None:
        if self.pos != len(self.data):
            raise CodecError(f"{len(self.data) - self.pos} trailing bytes")


# --- block table ---


def _encode_table(batch: BatchData, out: bytearray) -> None:
    _put_varint(out, len(batch.ranges))
    for rng in batch.ranges:
        _put_varint(out, rng.chain_id)
        _put_varint(out, rng.blocks[0].number)
        _put_varint(out, len(rng.blocks))
        previous = rng.blocks[0].timestamp
        _put_varint(out, previous)
        for block in rng.blocks:
            _put_varint(out, block.timestamp - previous)
            previous = block.timestamp
            _put_varint(out, block.forced_count)
            _put_varint(out, len(block.forced_skipped))
            for offset in block.forced_skipped:
                _put_varint(out, offset)
            _put_varint(out, len(block.txs))


# [(chain_id, [(number, timestamp, forced_count, forced_skipped, tx_count), ...]), ...]
_Table = list[tuple[int, list[tuple[int, int, int, tuple[int, ...], int]]]]


def _decode_table(reader: _Reader) -> _Table:
    """[(chain_id, [(number, timestamp, forced_count, forced_skipped, tx_count), ...]), ...]"""
    ranges = []
    for _ in range(reader.varint()):
        chain_id = reader.varint()
        number = reader.varint()
        n_blocks = reader.varint()
        if n_blocks == 0:
            raise CodecError("empty range")
        timestamp = reader.varint()
        blocks = []
        for i in range(n_blocks):
            timestamp += reader.varint()
            forced = reader.varint()
            n_skipped = reader.varint()
            if n_skipped > forced:
                raise CodecError("more skipped forced items than forced items")
            skipped = tuple(reader.varint() for _ in range(n_skipped))
            count = reader.varint()
            if forced - n_skipped > count:
                raise CodecError("forced_count exceeds tx_count")
            blocks.append((number + i, timestamp, forced, skipped, count))
        ranges.append((chain_id, blocks))
    return ranges


def _assemble(table: _Table, txs: Sequence[bytes]) -> BatchData:
    it = iter(txs)
    ranges = []
    for chain_id, blocks in table:
        built = []
        for number, timestamp, forced, skipped, count in blocks:
            txs = tuple(next(it) for _ in range(count))
            try:
                built.append(BlockData(number, timestamp, txs, forced, skipped))
            except ValueError as exc:
                raise CodecError(str(exc)) from exc
        try:
            ranges.append(RangeData(chain_id, tuple(built)))
        except ValueError as exc:
            raise CodecError(str(exc)) from exc
    return BatchData(tuple(ranges))


# --- concat encoding ---


def _encode_concat(batch: BatchData) -> bytes:
    out = bytearray([ENCODING_CONCAT])
    _encode_table(batch, out)
    for tx in batch.raw_txs():
        _put_varint(out, len(tx))
        out += tx
    return bytes(out)


def _decode_concat(reader: _Reader) -> BatchData:
    table = _decode_table(reader)
    total = sum(count for _, blocks in table for *_, count in blocks)
    txs = [reader.take(reader.varint()) for _ in range(total)]
    reader.done()
    return _assemble(table, txs)


# --- columns encoding ---


@dataclass
class _TxFields:
    type: int
    v: int
    nonce: int
    gas: int
    fee1: int
    fee2: int
    to: bytes
    value: int
    data: bytes
    access_list: bytes  # RLP of the access list (typed txs)
    r: int
    s: int


def _int(raw: bytes) -> int:
    if raw[:1] == b"\x00":
        raise CodecError("non-canonical integer in transaction")
    return int.from_bytes(raw, "big")


# A minimal RLP for the flat field lists of a signed transaction (pyrlp's sedes inference cost
# most of a batch's encode time). Decoding is lenient; `_split_tx` refuses whatever its fields do
# not re-encode to byte for byte, so only canonical encodings pass.


def _rlp_head(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def _rlp_bytes(item: bytes) -> bytes:
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _rlp_head(len(item), 0x80) + item


def _rlp_uint(value: int) -> bytes:
    return _rlp_bytes(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _rlp_list(encoded_items: Sequence[bytes]) -> bytes:
    payload = b"".join(encoded_items)
    return _rlp_head(len(payload), 0xC0) + payload


class _RlpList(bytes):
    """A nested list among a list's items: its whole encoding, as it stood."""


def _rlp_items(data: bytes) -> list[bytes]:
    """The items of the RLP list that spans all of `data`: byte strings as their content, nested
    lists as `_RlpList` (their whole encoding)."""

    def item_at(pos: int) -> tuple[bool, int, int]:  # (is a list, content start, end)
        if pos >= len(data):
            raise CodecError("truncated RLP")
        first = data[pos]
        if first < 0x80:
            return False, pos, pos + 1
        if first < 0xB8:
            start, length, is_list = pos + 1, first - 0x80, False
        elif first < 0xC0:
            size = first - 0xB7
            start, length, is_list = (
                pos + 1 + size,
                int.from_bytes(data[pos + 1 : pos + 1 + size], "big"),
                False,
            )
        elif first < 0xF8:
            start, length, is_list = pos + 1, first - 0xC0, True
        else:
            size = first - 0xF7
            start, length, is_list = (
                pos + 1 + size,
                int.from_bytes(data[pos + 1 : pos + 1 + size], "big"),
                True,
            )
        if start + length > len(data):
            raise CodecError("truncated RLP")
        return is_list, start, start + length

    is_list, pos, end = item_at(0)
    if not is_list or end != len(data):
        raise CodecError("a transaction is one RLP list")
    items: list[bytes] = []
    while pos < end:
        nested, start, stop = item_at(pos)
        items.append(_RlpList(data[pos:stop]) if nested else data[start:stop])
        pos = stop
    if pos != end:
        raise CodecError("truncated RLP")
    return items


def _string(item: bytes) -> bytes:
    if isinstance(item, _RlpList):
        raise CodecError("a list where a transaction field is a string")
    return item


def _access_list(item: bytes) -> bytes:
    """A typed transaction's access list, as its RLP (checked canonical: `_join_tx` re-encodes
    it from its decoded form)."""
    if not isinstance(item, _RlpList):
        raise CodecError("an access list must be a list")
    if item != b"\xc0" and rlp.encode(rlp.decode(bytes(item))) != item:
        raise CodecError("transaction is not in canonical encoding")
    return bytes(item)


def _split_tx(raw: bytes, chain_id: int) -> _TxFields:
    """Decompose a raw signed transaction; refuse anything that would not re-encode identically."""
    try:
        if raw[:1] in (b"\x01", b"\x02"):
            tx_type = raw[0]
            items = _rlp_items(raw[1:])
            at = 7 if tx_type == 1 else 8  # the access list's position
            access = _access_list(items[at]) if len(items) > at else b""
            cid, nonce, *rest = (_string(x) for i, x in enumerate(items) if i != at)
            if tx_type == 1:
                gas_price, gas, to, value, data, y, r, s = rest
                fee1, fee2 = _int(gas_price), 0
            else:
                tip, max_fee, gas, to, value, data, y, r, s = rest
                fee1, fee2 = _int(tip), _int(max_fee)
            if _int(cid) != chain_id:
                raise CodecError("transaction for another chain")
            fields = _TxFields(
                tx_type,
                _int(y),
                _int(nonce),
                _int(gas),
                fee1,
                fee2,
                to,
                _int(value),
                data,
                access,
                _int(r),
                _int(s),
            )
        elif raw[:1] and raw[0] >= 0xC0:
            nonce, gas_price, gas, to, value, data, v, r, s = map(_string, _rlp_items(raw))
            v_int = _int(v)
            if v_int in (27, 28):
                v_code = v_int - 27 + 2
            elif v_int == chain_id * 2 + 35 or v_int == chain_id * 2 + 36:
                v_code = v_int - chain_id * 2 - 35
            else:
                raise CodecError("legacy transaction v does not match the chain")
            fields = _TxFields(
                0,
                v_code,
                _int(nonce),
                _int(gas),
                _int(gas_price),
                0,
                to,
                _int(value),
                data,
                b"",
                _int(r),
                _int(s),
            )
        else:
            raise CodecError("unsupported transaction type")
    except (rlp.DecodingError, ValueError, TypeError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(f"undecodable transaction: {exc}") from exc
    if len(fields.to) not in (0, 20):
        raise CodecError("bad recipient length")
    if fields.type and fields.v > 255:
        raise CodecError("y-parity does not fit its column")
    if _join_tx(fields, chain_id) != raw:
        raise CodecError("transaction is not in canonical encoding")
    return fields


def _join_tx(f: _TxFields, chain_id: int) -> bytes:
    u, b = _rlp_uint, _rlp_bytes
    if f.type == 0:
        v = f.v + 27 - 2 if f.v >= 2 else chain_id * 2 + 35 + f.v
        return _rlp_list(
            [u(f.nonce), u(f.fee1), u(f.gas), b(f.to), u(f.value), b(f.data), u(v), u(f.r), u(f.s)]
        )
    # the access list as its decoded form encodes (b"\xc0", the empty list, as itself)
    access = f.access_list if f.access_list == b"\xc0" else rlp.encode(rlp.decode(f.access_list))
    fees = [u(f.fee1)] if f.type == 1 else [u(f.fee1), u(f.fee2)]
    body = [u(chain_id), u(f.nonce), *fees, u(f.gas), b(f.to), u(f.value), b(f.data), access]
    return bytes([f.type]) + _rlp_list([*body, u(f.v), u(f.r), u(f.s)])


def _put_decimals(out: bytearray, values: Sequence[int]) -> None:
    """Amounts as decimal mantissa x 10^exponent: a column of exponents (1 byte each), then a
    column of mantissa varints. Wei amounts and fees are usually round in decimal (0.25 ETH,
    1.5 gwei), which this makes small; an amount that is not costs one exponent byte of 0."""
    mantissas = []
    for value in values:
        exponent = 0
        while value and value % 10 == 0 and exponent < 255:
            value //= 10
            exponent += 1
        out.append(exponent)
        mantissas.append(value)
    for mantissa in mantissas:
        _put_varint(out, mantissa)


def _read_decimals(reader: _Reader, n: int) -> list[int]:
    exponents = reader.take(n)
    values = [reader.varint() * 10**e for e in exponents]
    if any(v >= 2**256 for v in values):
        raise CodecError("amount does not fit in 256 bits")
    return values


def _encode_columns(batch: BatchData) -> bytes:
    out = bytearray([ENCODING_COLUMNS])
    _encode_table(batch, out)
    fields = [
        _split_tx(tx, rng.chain_id) for rng in batch.ranges for b in rng.blocks for tx in b.txs
    ]
    out += bytes(f.type for f in fields)
    out += bytes(f.v for f in fields)
    for name in ("nonce", "gas"):
        for f in fields:
            _put_varint(out, getattr(f, name))
    _put_decimals(out, [f.fee1 for f in fields])
    _put_decimals(out, [f.fee2 for f in fields if f.type == 2])
    table: dict[bytes, int] = {}
    for f in fields:
        if f.to:
            index = table.setdefault(f.to, len(table) + 1)
            _put_varint(out, index)
        else:
            _put_varint(out, 0)
    _put_varint(out, len(table))
    for address in table:
        out += address
    _put_decimals(out, [f.value for f in fields])
    for f in fields:
        _put_varint(out, len(f.data))
        out += f.data
    for f in fields:
        if f.type:
            access = b"" if f.access_list == b"\xc0" else f.access_list
            _put_varint(out, len(access))
            out += access
    for f in fields:
        out += f.r.to_bytes(32, "big")
    for f in fields:
        out += f.s.to_bytes(32, "big")
    return bytes(out)


def _decode_columns(reader: _Reader) -> BatchData:
    table = _decode_table(reader)
    chain_ids = [cid for cid, blocks in table for *_, count in blocks for _ in range(count)]
    n = len(chain_ids)
    types = list(reader.take(n))
    if any(t not in (0, 1, 2) for t in types):
        raise CodecError("unknown transaction type in column")
    vs = list(reader.take(n))
    nonces = [reader.varint() for _ in range(n)]
    gases = [reader.varint() for _ in range(n)]
    fee1 = _read_decimals(reader, n)
    fee2_iter = iter(_read_decimals(reader, sum(1 for t in types if t == 2)))
    fee2 = [next(fee2_iter) if t == 2 else 0 for t in types]
    to_index = [reader.varint() for _ in range(n)]
    addresses = [reader.take(20) for _ in range(reader.varint())]
    if any(i > len(addresses) for i in to_index):
        raise CodecError("recipient index out of the address table")
    values = _read_decimals(reader, n)
    datas = [reader.take(reader.varint()) for _ in range(n)]
    access = [(reader.take(reader.varint()) or b"\xc0") if t else b"" for t in types]
    rs = [int.from_bytes(reader.take(32), "big") for _ in range(n)]
    ss = [int.from_bytes(reader.take(32), "big") for _ in range(n)]
    reader.done()
    txs = []
    for i in range(n):
        to = addresses[to_index[i] - 1] if to_index[i] else b""
        f = _TxFields(
            types[i],
            vs[i],
            nonces[i],
            gases[i],
            fee1[i],
            fee2[i],
            to,
            values[i],
            datas[i],
            access[i],
            rs[i],
            ss[i],
        )
        try:
            txs.append(_join_tx(f, chain_ids[i]))
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise CodecError(f"transaction {i} does not re-encode: {exc}") from exc
    return _assemble(table, txs)


# --- compression and the public interface ---


def _compress(codec: int, body: bytes) -> bytes:
    if codec == CODEC_RAW:
        return body
    if codec == CODEC_ZLIB:
        return zlib.compress(body, 9)
    if codec == CODEC_BROTLI:
        return brotli.compress(body, quality=BROTLI_QUALITY, lgwin=22)
    raise ValueError(f"unknown codec {codec}")


def _decompress(codec: int, data: bytes) -> bytes:
    try:
        if codec == CODEC_RAW:
            return data
        if codec == CODEC_ZLIB:
            inflater = zlib.decompressobj()
            body = inflater.decompress(data, MAX_PAYLOAD_BODY)
            if inflater.unconsumed_tail:
                raise CodecError("payload body too large")
            return body
        if codec == CODEC_BROTLI:
            decompressor = brotli.Decompressor()
            body = decompressor.process(data, output_buffer_limit=MAX_PAYLOAD_BODY + 1)
            if len(body) > MAX_PAYLOAD_BODY or not decompressor.is_finished():
                raise CodecError("payload body too large or truncated")
            return body
    except (zlib.error, brotli.error) as exc:
        raise CodecError(f"corrupt {CODEC_NAMES[codec]} payload: {exc}") from exc
    raise CodecError(f"unknown codec {codec}")


def encode_body(batch: BatchData, encoding: int = ENCODING_COLUMNS) -> bytes:
    if encoding == ENCODING_CONCAT:
        return _encode_concat(batch)
    if encoding == ENCODING_COLUMNS:
        return _encode_columns(batch)
    raise ValueError(f"unknown encoding {encoding}")


def encode(
    batch: BatchData,
    encodings: Iterable[int] = (ENCODING_COLUMNS, ENCODING_CONCAT),
    codecs: Iterable[int] = (CODEC_BROTLI, CODEC_ZLIB, CODEC_RAW),
    *,
    exhaustive: bool = False,
) -> bytes:
    """The smallest payload over the given codecs, for the first encoding that can represent
    the batch (or over every encoding when `exhaustive`).

    The columns encoding is tried first; a batch with a transaction it cannot represent
    canonically falls back to concat (which carries any bytes), so encoding never fails on a
    sealed block.
    """
    best: bytes | None = None
    for encoding in encodings:
        try:
            body = encode_body(batch, encoding)
        except CodecError:
            continue
        for codec in codecs:
            payload = bytes([VERSION, codec]) + _compress(codec, body)
            if best is None or len(payload) < len(best):
                best = payload
        if not exhaustive:
            break
    if best is None:
        raise CodecError("no encoding could represent this batch")
    return best


def decode(payload: bytes) -> BatchData:
    """The batch a payload carries; raises CodecError on anything malformed."""
    if len(payload) < 3:
        raise CodecError("payload too short")
    if payload[0] != VERSION:
        raise CodecError(f"unknown payload version {payload[0]}")
    if payload[1] not in CODEC_NAMES:
        raise CodecError(f"unknown codec {payload[1]}")
    body = _decompress(payload[1], payload[2:])
    reader = _Reader(body)
    encoding = reader.byte()
    if encoding == ENCODING_CONCAT:
        return _decode_concat(reader)
    if encoding == ENCODING_COLUMNS:
        return _decode_columns(reader)
    raise CodecError(f"unknown encoding {encoding}")


def describe(payload: bytes) -> str:
    """e.g. "columns+brotli" for a payload (for logs and the status view)."""
    if len(payload) < 3:
        return "invalid"
    body = _decompress(payload[1], payload[2:])
    return f"{ENCODING_NAMES.get(body[0], '?')}+{CODEC_NAMES.get(payload[1], '?')}"


# --- blobs (EIP-4844): how a payload sits in the one blob of a blob-carrying batch ---

BLOB_BYTES = 131_072
FIELD_ELEMENTS = 4096
BLOB_CAPACITY = FIELD_ELEMENTS * 31 - 4  # 31 payload bytes per field element, 4-byte length


def from_blob(blob: bytes) -> bytes:
    """The payload packed by `to_blob`; raises ValueError on a blob not in this layout."""
    if len(blob) != BLOB_BYTES:
        raise ValueError("a blob is 131072 bytes")
    if any(blob[i] for i in range(0, BLOB_BYTES, 32)):
        raise ValueError("blob field element with a non-zero first byte")
    data = b"".join(blob[i + 1 : i + 32] for i in range(0, BLOB_BYTES, 32))
    length = int.from_bytes(data[:4], "big")
    if length > BLOB_CAPACITY:
        raise ValueError("blob payload length out of range")
    return data[4 : 4 + length]
