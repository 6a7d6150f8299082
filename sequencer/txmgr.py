"""The L1 transaction manager: the only code that sends L1 transactions for the sequencer.

Owns the sender's nonces, EIP-1559 (and EIP-4844 blob) fees, fee bumps and same-nonce
replacement of a stuck transaction, waiting for a confirmation depth, and re-broadcasting a
transaction that an L1 reorg removed. It never decides *what* to send (the batcher and the
fisherman do) and never logs the key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import RPCEndpoint, TxReceipt

from sequencer import kzg

log = logging.getLogger("sequencer.txmgr")

MIN_REPLACEMENT_BUMP = 1.125  # geth's txpool wants >= 10% more on both fee caps; keep a margin
BLOB_REPLACEMENT_BUMP = 2.0  # geth's blob pool wants 100% more on the blob fee cap


def transaction_hash(raw: bytes) -> bytes:
    """The hash a node gives a raw transaction.

    For a blob transaction in its network form (0x03 || rlp([tx, blobs, commitments, proofs])) the
    hash covers only 0x03 || rlp(tx); eth-account's `signed.hash` covers the whole wrapper.
    """
    if raw[:1] == b"\x03":
        items = rlp.decode(raw[1:])
        if len(items) == 4 and isinstance(items[0], list):
            return keccak(b"\x03" + rlp.encode(items[0]))
    return keccak(raw)


def blob_network_form(signed_body: bytes, sidecars: tuple[kzg.BlobSidecar, ...]) -> bytes:
    """EIP-4844's network form of a signed blob transaction, what eth_sendRawTransaction takes:
    0x03 || rlp([tx_payload_body, blobs, commitments, proofs]), from the signed
    0x03 || rlp(tx_payload_body) and the precomputed sidecars."""
    if signed_body[:1] != b"\x03":
        raise ValueError("not a signed type-3 transaction")
    body = rlp.decode(signed_body[1:])
    wrapper = [
        body,
        [s.blob for s in sidecars],
        [s.commitment for s in sidecars],
        [s.proof for s in sidecars],
    ]
    return b"\x03" + rlp.encode(wrapper)


class TxManagerError(RuntimeError):
    """A transaction could not be sent, was refused, or did not confirm in time."""


class NotSent(TxManagerError):
    """The caller's guard refused the transaction at the last moment: nothing was broadcast
    and the nonce is not used."""


@dataclass(frozen=True)
class TxRequest:
    """What a caller wants on L1; the manager chooses nonce, gas and fees."""

    to: str
    data: bytes = b""
    value: int = 0
    gas: int | None = None  # estimated (with a margin) when None
    # EIP-4844 blobs for a type-3 transaction: raw 131,072-byte blobs or precomputed sidecars; a
    # raw blob's commitment and proof are computed here, once per request (not per attempt).
    blobs: tuple[kzg.BlobSidecar | bytes, ...] = ()

    def __post_init__(self) -> None:
        sidecars = (b if isinstance(b, kzg.BlobSidecar) else kzg.sidecar(b) for b in self.blobs)
        object.__setattr__(self, "blobs", tuple(sidecars))

    @property
    def sidecars(self) -> tuple[kzg.BlobSidecar, ...]:
        sidecars = tuple(b for b in self.blobs if isinstance(b, kzg.BlobSidecar))
        assert len(sidecars) == len(self.blobs)  # __post_init__ made every blob a sidecar
        return sidecars


@dataclass
class Attempt:
    """One signed version of a transaction (a replacement is another attempt, same nonce)."""

    tx_hash: bytes
    raw: bytes
    max_fee: int
    tip: int
    blob_fee: int


@dataclass
class SentTx:
    request: TxRequest
    nonce: int
    gas: int
    attempts: list[Attempt] = field(default_factory=list)
    sent_at: float = field(default_factory=time.monotonic)
    head: int = 0  # the L1 head the guard saw right before the first broadcast

    @property
    def latest(self) -> Attempt:
        return self.attempts[-1]


@dataclass(frozen=True)
class FeeQuote:
    """L1's fees as one send reads them: the latest block's number and base fee, the node's
    suggested tip, and (for a blob transaction) the blob base fee; `at` is the manager's clock."""

    head: int
    base_fee: int
    tip: int
    blob_base_fee: int | None
    at: float


@dataclass(frozen=True)
class Confirmed:
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int
    gas_used: int
    effective_gas_price: int
    blob_gas_used: int
    blob_gas_price: int
    attempts: int

    @property
    def fee_paid(self) -> int:
        return self.gas_used * self.effective_gas_price + self.blob_gas_used * self.blob_gas_price


class TxManager:
    """Send, replace and confirm the transactions of one L1 account.

    `resubmit_after` seconds without inclusion: the fees are bumped and the transaction replaced
    under the same nonce. `confirmations`: blocks on top of the including block before `wait`
    returns; if the including block leaves the canonical chain meanwhile, the transaction is
    broadcast again (the same signed bytes, so the nonce and the promise are unchanged).
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount | bytes | str,
        *,
        confirmations: int = 1,
        resubmit_after: float = 6.0,
        poll_interval: float = 0.1,
        max_fee_cap: int = 500 * 10**9,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.w3 = w3
        self._account = account if isinstance(account, LocalAccount) else Account.from_key(account)
        self.address = self._account.address
        self.chain_id = w3.eth.chain_id
        self.confirmations = confirmations
        self.resubmit_after = resubmit_after
        self.poll_interval = poll_interval
        self.max_fee_cap = max_fee_cap
        self._clock = clock
        self._sleep = sleep
        self._next_nonce: int | None = None
        self.last_quote: FeeQuote | None = None

    def __repr__(self) -> str:
        return f"TxManager({self.address} on chain {self.chain_id})"

    # --- fees ---

    def quote(self, blobs: bool) -> FeeQuote:
        """Read L1's fees now (the latest block, the suggested tip, the blob base fee for a blob
        transaction): 2 or 3 calls. The last quote is kept (`last_quote`) for callers that
        only need an estimate (the batcher's calldata-or-blob choice)."""
        block = self.w3.eth.get_block("latest")
        blob_base = None
        tip = int(self.w3.eth.max_priority_fee)
        if blobs:
            answer = self.w3.provider.make_request(RPCEndpoint("eth_blobBaseFee"), [])
            blob_base = int(answer["result"], 16)
        quote = FeeQuote(
            head=int(block["number"]),
            base_fee=int(block.get("baseFeePerGas", 0)),
            tip=tip,
            blob_base_fee=blob_base,
            at=self._clock(),
        )
        self.last_quote = quote
        return quote

    def recent_quote(self, blobs: bool, max_age_s: float) -> FeeQuote:
        """The last quote if it is at most `max_age_s` old (and has the blob base fee when
        `blobs`), else a new one."""
        q = self.last_quote
        if q is None or (blobs and q.blob_base_fee is None) or self._clock() - q.at > max_age_s:
            q = self.quote(blobs)
        return q

    def _fees(self, blobs: bool, quote: FeeQuote | None = None) -> tuple[int, int, int]:
        """(max fee per gas, tip, max fee per blob gas) for a new transaction."""
        q = self.quote(blobs) if quote is None else quote
        tip = max(q.tip, 10**9)
        max_fee = min(2 * q.base_fee + tip, self.max_fee_cap)
        blob_fee = max(2 * (q.blob_base_fee or 0), 10**9) if blobs else 0
        return max_fee, tip, blob_fee

    # --- sending ---

    def nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        return self._next_nonce

    def resync_nonce(self) -> None:
        """Forget the local nonce (after a restart or an external send) and re-read it."""
        self._next_nonce = None

    def send(self, request: TxRequest, guard: Callable[[int], bool] | None = None) -> SentTx:
        """Sign and broadcast `request` with the next nonce.

        L1 calls: the nonce once per manager (then counted locally; re-read after a failed
        send or `resync_nonce`), one fee read (`quote`: its block number also serves the first
        guard), the gas estimate unless `request.gas` is set, the head right before the
        broadcast, the broadcast. `guard(l1_head)`, if given, is asked twice: with the fee
        read's head before the estimate (a transaction already too late costs nothing more),
        and with a head read after signing, immediately before the signed bytes go out; False
        raises `NotSent` and nothing is broadcast."""
        nonce = self.nonce()
        quote = self.quote(bool(request.blobs))
        if guard is not None and not guard(quote.head):
            raise NotSent(f"nonce {nonce}: refused by the caller before estimating")
        max_fee, tip, blob_fee = self._fees(bool(request.blobs), quote)
        gas = request.gas
        if gas is None:
            gas = self._estimate(request, blob_fee) * 6 // 5 + 10_000
        sent = SentTx(request=request, nonce=nonce, gas=gas)
        self._broadcast(sent, max_fee, tip, blob_fee, guard)
        self._next_nonce = nonce + 1
        return sent

    def _estimate(self, request: TxRequest, blob_fee: int = 0) -> int:
        """eth_estimateGas, with the blobs' versioned hashes for a blob transaction (a contract
        that reads `blobhash` reverts without them) and the blob fee cap the send will use."""
        call: dict[str, Any] = {
            "from": self.address,
            "to": Web3.to_checksum_address(request.to),
            "data": "0x" + bytes(request.data).hex(),
            "value": hex(request.value),
        }
        if request.blobs:
            call["blobVersionedHashes"] = ["0x" + s.versioned_hash.hex() for s in request.sidecars]
            call["maxFeePerBlobGas"] = hex(blob_fee or self._fees(True)[2])
        answer = self.w3.provider.make_request(RPCEndpoint("eth_estimateGas"), [call])
        if "error" in answer:
            raise TxManagerError(f"L1 refuses the transaction: {answer['error'].get('message')}")
        return int(answer["result"], 16)

    def _sign(self, sent: SentTx, max_fee: int, tip: int, blob_fee: int) -> Attempt:
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": sent.nonce,
            "to": Web3.to_checksum_address(sent.request.to),
            "value": sent.request.value,
            "data": HexBytes(sent.request.data),
            "gas": sent.gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
        }
        if sent.request.blobs:
            tx["type"] = 3
            tx["maxFeePerBlobGas"] = blob_fee
            sidecars = sent.request.sidecars
            tx["blobVersionedHashes"] = [HexBytes(s.versioned_hash) for s in sidecars]
            # Signed without blobs (eth-account would recompute each commitment and proof,
            # reloading the KZG setup every time), then wrapped in the network form.
            body = bytes(self._account.sign_transaction(tx).raw_transaction)
            raw = blob_network_form(body, sidecars)
        else:
            tx["type"] = 2
            raw = bytes(self._account.sign_transaction(tx).raw_transaction)
        return Attempt(transaction_hash(raw), raw, max_fee, tip, blob_fee)

    def _broadcast(
        self,
        sent: SentTx,
        max_fee: int,
        tip: int,
        blob_fee: int,
        guard: Callable[[int], bool] | None = None,
    ) -> None:
        attempt = self._sign(sent, max_fee, tip, blob_fee)
        if guard is not None:
            head = self.w3.eth.block_number
            if not guard(head):
                raise NotSent(f"nonce {sent.nonce}: refused by the caller right before sending")
            sent.head = head
        self._send_raw(attempt.raw)
        sent.attempts.append(attempt)
        sent.sent_at = self._clock()
        log.info(
            "sent tx %s nonce %d attempt %d max_fee %d tip %d blob_fee %d",
            attempt.tx_hash.hex(),
            sent.nonce,
            len(sent.attempts),
            max_fee,
            tip,
            blob_fee,
        )

    def _send_raw(self, raw: bytes) -> None:
        answer = self.w3.provider.make_request(
            RPCEndpoint("eth_sendRawTransaction"), ["0x" + raw.hex()]
        )
        error = answer.get("error")
        if error and "already known" not in str(error.get("message", "")).lower():
            self._next_nonce = None  # e.g. "nonce too low" after an outside send: read it again
            raise TxManagerError(f"L1 refused the transaction: {error.get('message', error)}")

    def bump(self, sent: SentTx) -> None:
        """Replace the transaction under the same nonce with higher fees."""
        last = sent.latest
        max_fee_now, tip_now, blob_now = self._fees(bool(sent.request.blobs))
        tip = max(int(last.tip * MIN_REPLACEMENT_BUMP) + 1, tip_now)
        max_fee = max(int(last.max_fee * MIN_REPLACEMENT_BUMP) + 1, max_fee_now, tip)
        if max_fee > self.max_fee_cap:
            raise TxManagerError(
                f"fee bump for nonce {sent.nonce} would exceed the cap of {self.max_fee_cap} wei"
            )
        blob_fee = 0
        if sent.request.blobs:
            blob_fee = max(int(last.blob_fee * BLOB_REPLACEMENT_BUMP) + 1, blob_now)
        self._broadcast(sent, max_fee, tip, blob_fee)

    # --- confirming ---

    def _receipt(self, sent: SentTx) -> tuple[Attempt, Any] | None:
        for attempt in reversed(sent.attempts):
            try:
                receipt = self.w3.eth.get_transaction_receipt(Hash32(attempt.tx_hash))
            except TransactionNotFound:
                continue
            if receipt is not None:
                return attempt, receipt
        return None

    def _canonical(self, receipt: TxReceipt) -> bool:
        block = self.w3.eth.get_block(receipt["blockNumber"])
        return block["hash"] == receipt["blockHash"]

    def wait(self, sent: SentTx, timeout: float = 120.0) -> Confirmed:
        """Block until `sent` has `confirmations` blocks on top of it on the canonical chain.

        Bumps fees after `resubmit_after` seconds without inclusion; re-broadcasts after a reorg
        drops it. Raises TxManagerError on timeout or when the fee cap is reached.
        """
        deadline = self._clock() + timeout
        while self._clock() < deadline:
            found = self._receipt(sent)
            if found is None:
                if self._clock() - sent.sent_at >= self.resubmit_after:
                    self._rebroadcast_or_bump(sent)
                self._sleep(self.poll_interval)
                continue
            attempt, receipt = found
            if self.confirmations <= 1:
                # A node answers a receipt only for a transaction in its canonical chain, and
                # one block (the including one) is all that is asked for: done.
                return _confirmed(attempt, receipt, len(sent.attempts))
            if not self._canonical(receipt):
                log.warning(
                    "tx %s reorged out of block %d; broadcasting again",
                    attempt.tx_hash.hex(),
                    receipt["blockNumber"],
                )
                self._send_raw(attempt.raw)
                sent.sent_at = self._clock()
                self._sleep(self.poll_interval)
                continue
            head = self.w3.eth.block_number
            if head - receipt["blockNumber"] + 1 >= self.confirmations:
                return _confirmed(attempt, receipt, len(sent.attempts))
            self._sleep(self.poll_interval)
        self._next_nonce = None  # the chain may have moved another way meanwhile
        raise TxManagerError(f"nonce {sent.nonce} not confirmed within {timeout} s")

    def _rebroadcast_or_bump(self, sent: SentTx) -> None:
        on_chain_nonce = self.w3.eth.get_transaction_count(self.address, "latest")
        if on_chain_nonce > sent.nonce:
            # Some attempt is mined (its receipt will show up) or was replaced externally.
            sent.sent_at = self._clock()
            return
        in_pool = self.w3.provider.make_request(
            RPCEndpoint("eth_getTransactionByHash"), ["0x" + sent.latest.tx_hash.hex()]
        ).get("result")
        if in_pool is None:
            # Dropped from the pool (e.g. by a reorg or an eviction): send the same bytes again.
            self._send_raw(sent.latest.raw)
            sent.sent_at = self._clock()
        else:
            self.bump(sent)

    def send_and_wait(self, request: TxRequest, timeout: float = 120.0) -> Confirmed:
        return self.wait(self.send(request), timeout)


def _confirmed(attempt: Attempt, receipt: Any, attempts: int) -> Confirmed:
    return Confirmed(
        tx_hash=attempt.tx_hash,
        block_number=receipt["blockNumber"],
        block_hash=bytes(receipt["blockHash"]),
        status=receipt["status"],
        gas_used=receipt["gasUsed"],
        effective_gas_price=receipt.get("effectiveGasPrice", 0),
        blob_gas_used=receipt.get("blobGasUsed", 0) or 0,
        blob_gas_price=receipt.get("blobGasPrice", 0) or 0,
        attempts=attempts,
    )
