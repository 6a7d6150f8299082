"""Transaction admission helpers: decoding, per-sender pending accounting, and ordering policy.

Owns decoding a raw signed transaction (size, type 0, 1 or 2 only, canonical RLP, a low-s
signature, the recovered sender; the common case runs compiled, in `seqcore` from native/, and
every refusal is worded here), the gas arithmetic the rules use (intrinsic and EIP-7623 floor
gas, the EIP-1559 base fee), each sender's pending transactions on a rollup (`SenderLedger`), and
the order in which a batch of arrivals is offered positions. The rules themselves (which
transaction may take a position) are `sequencer/judge.py`'s. Errors carry geth's words, so
wallets and libraries understand them. Pure: it never talks to a chain, never stores or signs
anything; the service passes in the account states it read from the engine.
"""

from __future__ import annotations

import functools
import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import rlp
import seqcore  # the compiled decoder (native/, built by `make setup`)
from coincurve import PublicKey

try:  # the C keccak of safe-pysha3 (pinned) is ~10x faster than eth-hash's default backend
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover - fall back to eth-utils
    from eth_utils import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        return _eth_keccak(data)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_TX_SIZE = 128 * 1024  # geth's txMaxSize (4 slots of 32 KiB)
MAX_INITCODE_SIZE = 49_152  # EIP-3860
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1

TX_GAS = 21_000
TX_GAS_CREATE = 53_000
ZERO_BYTE_GAS = 4
NONZERO_BYTE_GAS = 16
ACCESS_LIST_ADDRESS_GAS = 2_400
ACCESS_LIST_KEY_GAS = 1_900
INITCODE_WORD_GAS = 2
FLOOR_TOKEN_GAS = 10  # EIP-7623 (Prague)
BASE_FEE_CHANGE_DENOMINATOR = 8
ELASTICITY_MULTIPLIER = 2

LEGACY, ACCESS_LIST, DYNAMIC_FEE = 0, 1, 2
SUPPORTED_TYPES = (LEGACY, ACCESS_LIST, DYNAMIC_FEE)

OrderingPolicy = Literal["fcfs", "priority"]


class TxRejected(Exception):
    """A transaction the sequencer will not promise. `reason` is a short label (for metrics);
    `message` is what the JSON-RPC error says, in geth's words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@functools.lru_cache(maxsize=1 << 16)  # senders come back: each is checksummed once
def checksum_address(address: bytes) -> str:
    """EIP-55 checksummed hex of a 20-byte address (what eth_utils.to_checksum_address gives)."""
    lower = address.hex()
    digest = keccak(lower.encode()).hex()
    # A letter is upper-cased where its digest nibble is 8..f ("8" > "7", "a" > "7"); digits stay.
    return "0x" + "".join(
        c.upper() if d > "7" else c for c, d in zip(lower, digest[:40], strict=True)
    )


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def rlp_encode(item: bytes | list) -> bytes:
    """RLP of nested byte strings and lists (what rlp.encode gives, without sedes inference)."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    payload = b"".join(rlp_encode(x) for x in item)
    return _rlp_length(len(payload), 0xC0) + payload


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


# --- decoding ---


@dataclass(frozen=True)
class DecodedTx:
    """A signed transaction of type 0, 1 or 2, with its sender recovered."""

    raw: bytes
    tx_hash: bytes
    tx_type: int
    chain_id: int
    nonce: int
    gas: int
    fee_cap: int  # gasPrice for types 0/1, maxFeePerGas for type 2 (wei per gas)
    tip_cap: int  # gasPrice for types 0/1, maxPriorityFeePerGas for type 2
    to: bytes | None  # None for contract creation
    value: int  # wei
    data: bytes
    access_addresses: int
    access_keys: int
    sender: str  # checksummed

    @property
    def max_cost(self) -> int:
        """gas * fee cap + value: what the sender's balance must cover (wei)."""
        return self.gas * self.fee_cap + self.value

    def effective_tip(self, base_fee: int) -> int:
        return min(self.tip_cap, self.fee_cap - base_fee)


def _int(field_bytes: object, name: str) -> int:
    if not isinstance(field_bytes, bytes):
        raise TxRejected("invalid_rlp", f"rlp: expected input string or byte for {name}")
    if field_bytes[:1] == b"\x00":
        raise TxRejected("invalid_rlp", "rlp: non-canonical integer (leading zero bytes)")
    if len(field_bytes) > 32:
        raise TxRejected("invalid_rlp", f"rlp: input string too long for uint256 ({name})")
    return int.from_bytes(field_bytes, "big")


def _bytes(field_bytes: object, name: str) -> bytes:
    if not isinstance(field_bytes, bytes):
        raise TxRejected("invalid_rlp", f"rlp: expected input string or byte for {name}")
    return field_bytes


def _to(field_bytes: object) -> bytes | None:
    value = _bytes(field_bytes, "to")
    if value == b"":
        return None
    if len(value) != 20:
        raise TxRejected("invalid_rlp", "rlp: input string too long for common.Address")
    return value


def _access_list(raw: object) -> tuple[int, int]:
    if not isinstance(raw, list):
        raise TxRejected("invalid_rlp", "rlp: expected input list for types.AccessList")
    addresses = keys = 0
    for entry in raw:
        if not isinstance(entry, list) or len(entry) != 2:
            raise TxRejected("invalid_rlp", "rlp: expected input list for types.AccessTuple")
        address, slots = entry
        if not isinstance(address, bytes) or len(address) != 20 or not isinstance(slots, list):
            raise TxRejected("invalid_rlp", "rlp: bad access list entry")
        if any(not isinstance(s, bytes) or len(s) != 32 for s in slots):
            raise TxRejected("invalid_rlp", "rlp: bad access list storage key")
        addresses += 1
        keys += len(slots)
    return addresses, keys


def _recover(msg_hash: bytes, y_parity: int, r: int, s: int) -> str:
    if y_parity not in (0, 1) or not (0 < r < SECP256K1_N) or not (0 < s <= SECP256K1_N // 2):
        raise TxRejected("invalid_sender", "invalid sender: invalid transaction v, r, s values")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public = PublicKey.from_signature_and_message(signature, msg_hash, hasher=None)
    except Exception:  # noqa: BLE001 - coincurve raises plain Exception on a bad point
        raise TxRejected("invalid_sender", "invalid sender: invalid signature") from None
    return checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


_FIELDS = tuple(DecodedTx.__dataclass_fields__)


def decode_tx(raw: bytes) -> DecodedTx:
    """Decode a raw signed transaction and recover its sender. Raises TxRejected.

    The compiled decoder (`seqcore.decode_tx`, native/src/tx.rs) takes the common case: it
    accepts exactly what `decode_tx_py` accepts, with the same fields (tests/sequencer/
    test_native_parity.py). Whatever it does not take, `decode_tx_py` judges and words, so every
    refusal and its message come from one place, and a rare valid shape the compiled path leaves
    (a chain id, nonce or gas of 2^64 or more) still decodes.
    """
    fields = seqcore.decode_tx(raw) if type(raw) is bytes else None
    if fields is None:
        return decode_tx_py(raw)
    # The frozen dataclass's __init__ sets 14 fields one object.__setattr__ at a time: a third of
    # the compiled path's cost. Filling __dict__ makes the same object (eq, hash, repr).
    tx = object.__new__(DecodedTx)
    tx.__dict__.update(zip(_FIELDS, (raw, *fields), strict=True))
    return tx


def decode_tx_py(raw: bytes) -> DecodedTx:
    """The Python decoder: every refusal's reason and geth's words (see `decode_tx`)."""
    if len(raw) > MAX_TX_SIZE:
        raise TxRejected(
            "oversized", f"oversized data: transaction size {len(raw)}, limit {MAX_TX_SIZE}"
        )
    if not raw:
        raise TxRejected("invalid_rlp", "typed transaction too short")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw)
    if first > 0x7F:
        raise TxRejected("invalid_rlp", "rlp: expected input list for types.LegacyTx")
    if first not in SUPPORTED_TYPES:
        raise TxRejected("unsupported_type", "transaction type not supported")
    if len(raw) <= 1:
        raise TxRejected("invalid_rlp", "typed transaction too short")
    fields = _rlp_list(raw[1:], "types.DynamicFeeTx" if first == 2 else "types.AccessListTx")
    expected = 12 if first == DYNAMIC_FEE else 11
    if len(fields) != expected:
        raise TxRejected("invalid_rlp", f"rlp: expected {expected} fields, got {len(fields)}")
    chain_id = _int(fields[0], "chainId")
    nonce = _int(fields[1], "nonce")
    if first == DYNAMIC_FEE:
        tip_cap = _int(fields[2], "maxPriorityFeePerGas")
        fee_cap = _int(fields[3], "maxFeePerGas")
        rest = fields[4:]
    else:
        tip_cap = fee_cap = _int(fields[2], "gasPrice")
        rest = fields[3:]
    gas = _int(rest[0], "gas")
    to = _to(rest[1])
    value = _int(rest[2], "value")
    data = _bytes(rest[3], "data")
    addresses, keys = _access_list(rest[4])
    y_parity, r, s = _int(rest[5], "yParity"), _int(rest[6], "r"), _int(rest[7], "s")
    msg_hash = keccak(bytes([first]) + rlp_encode(fields[:-3]))
    sender = _recover(msg_hash, y_parity, r, s)
    return DecodedTx(
        raw=raw,
        tx_hash=keccak(raw),
        tx_type=first,
        chain_id=chain_id,
        nonce=nonce,
        gas=gas,
        fee_cap=fee_cap,
        tip_cap=tip_cap,
        to=to,
        value=value,
        data=data,
        access_addresses=addresses,
        access_keys=keys,
        sender=sender,
    )


def _rlp_list(payload: bytes, what: str) -> list:
    """The top-level RLP list of a transaction. pyrlp decodes nested lists recursively: lists
    nested deeper than the interpreter's recursion allows (a 128 KiB body can nest ~40 000 deep;
    a transaction needs 4 levels) are refused as invalid RLP, like any other malformed body."""
    try:
        decoded = rlp.decode(payload, strict=True)
    except rlp.exceptions.DecodingError as exc:
        raise TxRejected("invalid_rlp", f"rlp: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise TxRejected("invalid_rlp", "rlp: lists nested too deep") from None
    if not isinstance(decoded, list):
        raise TxRejected("invalid_rlp", f"rlp: expected input list for {what}")
    return decoded


def _decode_legacy(raw: bytes) -> DecodedTx:
    fields = _rlp_list(raw, "types.LegacyTx")
    if len(fields) != 9:
        raise TxRejected("invalid_rlp", f"rlp: expected 9 fields, got {len(fields)}")
    nonce = _int(fields[0], "nonce")
    gas_price = _int(fields[1], "gasPrice")
    gas = _int(fields[2], "gas")
    to = _to(fields[3])
    value = _int(fields[4], "value")
    data = _bytes(fields[5], "data")
    v, r, s = _int(fields[6], "v"), _int(fields[7], "r"), _int(fields[8], "s")
    if v in (27, 28):
        raise TxRejected(
            "unprotected", "only replay-protected (EIP-155) transactions allowed over RPC"
        )
    if v < 35:
        raise TxRejected("invalid_sender", "invalid sender: invalid transaction v, r, s values")
    chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
    msg_hash = keccak(rlp_encode(fields[:6] + [_uint(chain_id), b"", b""]))
    sender = _recover(msg_hash, y_parity, r, s)
    return DecodedTx(
        raw=raw,
        tx_hash=keccak(raw),
        tx_type=LEGACY,
        chain_id=chain_id,
        nonce=nonce,
        gas=gas,
        fee_cap=gas_price,
        tip_cap=gas_price,
        to=to,
        value=value,
        data=data,
        access_addresses=0,
        access_keys=0,
        sender=sender,
    )


# --- gas ---


def intrinsic_gas(tx: DecodedTx) -> int:
    """The gas a transaction costs before it runs (Prague rules, without the EIP-7623 floor)."""
    zeros = tx.data.count(0)
    nonzeros = len(tx.data) - zeros
    gas = TX_GAS_CREATE if tx.to is None else TX_GAS
    gas += zeros * ZERO_BYTE_GAS + nonzeros * NONZERO_BYTE_GAS
    if tx.to is None:
        gas += INITCODE_WORD_GAS * ((len(tx.data) + 31) // 32)
    gas += tx.access_addresses * ACCESS_LIST_ADDRESS_GAS + tx.access_keys * ACCESS_LIST_KEY_GAS
    return gas


def floor_data_gas(tx: DecodedTx) -> int:
    """EIP-7623: the least gas a transaction with this calldata may have (Prague)."""
    zeros = tx.data.count(0)
    tokens = zeros + 4 * (len(tx.data) - zeros)
    return TX_GAS + FLOOR_TOKEN_GAS * tokens


def next_base_fee(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int) -> int:
    """EIP-1559: the base fee of the child of a block (wei per gas)."""
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if target == 0 or parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target
        return parent_base_fee + max(1, delta // BASE_FEE_CHANGE_DENOMINATOR)
    delta = parent_base_fee * (target - parent_gas_used) // target
    return max(0, parent_base_fee - delta // BASE_FEE_CHANGE_DENOMINATOR)


# --- pending accounting (the rules are `sequencer/judge.py`'s) ---


@dataclass
class AccountState:
    """A sender as the engine had it at the last sealed block, adjusted for what was sealed since.

    `balance` is a lower bound once `exact` is False (sealed transactions are charged their
    maximum cost); only the sender's own transactions can lower an EOA's balance.
    """

    nonce: int
    balance: int  # wei
    is_contract: bool = False
    exact: bool = True


@dataclass(frozen=True)
class PendingTx:
    tx_hash: bytes
    nonce: int
    max_cost: int


@dataclass
class SenderLedger:
    """Per-sender pending accounting on one rollup: promised but not yet sealed transactions."""

    accounts: dict[str, AccountState] = field(default_factory=dict)
    pending: dict[str, deque[PendingTx]] = field(default_factory=dict)

    def known(self, sender: str) -> bool:
        return sender in self.accounts

    def set_account(self, sender: str, state: AccountState) -> None:
        self.accounts[sender] = state

    def pending_nonce(self, sender: str) -> int | None:
        """The next nonce the sender may use, counting its pending transactions."""
        state = self.accounts.get(sender)
        if state is None:
            return None
        return state.nonce + len(self.pending.get(sender, ()))

    def pending_count(self) -> int:
        return sum(len(q) for q in self.pending.values())

    def add(self, tx: DecodedTx) -> None:
        """Count a placed transaction as pending (after the judge accepted it)."""
        self.pending.setdefault(tx.sender, deque()).append(
            PendingTx(tx.tx_hash, tx.nonce, tx.max_cost)
        )

    def sealed(self, senders_and_hashes: Iterable[tuple[str, bytes]]) -> None:
        """Transactions mined in a sealed block leave pending and are charged to the account."""
        for sender, tx_hash in senders_and_hashes:
            queue = self.pending.get(sender)
            if not queue or queue[0].tx_hash != tx_hash:
                raise AssertionError(f"sealed tx {tx_hash.hex()} is not {sender}'s first pending")
            done = queue.popleft()
            if not queue:
                del self.pending[sender]
            state = self.accounts[sender]
            state.nonce += 1
            state.balance = max(0, state.balance - done.max_cost)
            state.exact = False

    def forget_idle(self, keep: int) -> None:
        """Drop cached accounts with nothing pending once more than `keep` are cached."""
        if len(self.accounts) <= keep:
            return
        for sender in [s for s in self.accounts if s not in self.pending]:
            del self.accounts[sender]


# --- ordering ---


@dataclass(frozen=True)
class Candidate:
    """A decoded transaction waiting for a position, with its arrival sequence number."""

    arrival: int
    tx: DecodedTx


def order_batch(
    batch: Sequence[Candidate], policy: OrderingPolicy, base_fee: int = 0
) -> list[Candidate]:
    """The order in which a batch of arrivals is offered positions.

    Each sender's transactions are taken in nonce order (so a burst sent out of order is not
    refused). `fcfs`: senders keep their arrival slots. `priority`: the head transaction of each
    sender competes on effective tip (then arrival), as geth's price-and-nonce ordering does.
    """
    by_sender: dict[str, list[Candidate]] = {}
    for cand in batch:
        by_sender.setdefault(cand.tx.sender, []).append(cand)
    for queue in by_sender.values():
        queue.sort(key=lambda c: (c.tx.nonce, c.arrival))
    if policy == "fcfs":
        cursors = {sender: iter(queue) for sender, queue in by_sender.items()}
        return [next(cursors[c.tx.sender]) for c in sorted(batch, key=lambda c: c.arrival)]
    heap: list[tuple[int, int, str]] = []
    heads = {sender: 0 for sender in by_sender}
    for sender, queue in by_sender.items():
        head = queue[0]
        heapq.heappush(heap, (-head.tx.effective_tip(base_fee), head.arrival, sender))
    out: list[Candidate] = []
    while heap:
        _, _, sender = heapq.heappop(heap)
        queue = by_sender[sender]
        out.append(queue[heads[sender]])
        heads[sender] += 1
        if heads[sender] < len(queue):
            nxt = queue[heads[sender]]
            heapq.heappush(heap, (-nxt.tx.effective_tip(base_fee), nxt.arrival, sender))
    return out
