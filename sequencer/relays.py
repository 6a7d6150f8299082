"""Relays of cross-rollup messages: what the builder puts in a destination rollup's block.

Owns the relayer's side of `contracts/l2/CrossRollupMessenger.vy` inside the sequencer: the queue
of messages a sealed block sent (read from its receipts' `MessageSent` logs, with
`sequencer/messages.py`), the relayer account's nonce on each rollup, and the signed
`relay_message` transactions. The builder asks it for the relays of a block (`take`) right after
that block's promised transactions, and hands it every sealed block (`collect`). Rollup A's block
of a slot is sealed before rollup B's, so A->B messages are relayed in B's block of the same slot
and B->A messages at the start of A's next block (after its promised transactions).

Each relay is judged like any transaction (`sequencer/judge.py`, in `take`): one the judge
refuses (a relayer short of funds) is never sent, it waits. A relay that reverts is still mined
(its status 0 is journaled like any transaction's) and is not retried: the message stays
unrelayed in the messenger, and the relayer's nonce moved on.
`checkpoint`/`restore` undo a slot the builder rewinds (a dropped bundle).

The queue lives in memory; on start it is rebuilt from the chains and the journal (`resume`),
not stored: after a crash the journal cannot say which messages a mined-but-unsealed block sent
(it keeps transactions, not logs), while the chains can, once the restart has settled every
mined block (sealed, or rolled back with its bundle slot). Waiting = every `MessageSent` of the
sealed blocks of each rollup, minus the messages the destination messenger marks `relayed`
(successful relays, whoever sent them), minus the messages of the relayer's transactions in
sealed blocks of the journal (a relay that reverted is not retried, as without a restart).
It never decides the position of a promised transaction and never sends anything itself.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_utils import keccak

from sequencer.judge import Accept, ChainRules, Reject, judge_account, judge_static
from sequencer.manifest import Manifest
from sequencer.mempool import UINT64_MAX, UINT256_MAX, AccountState, decode_tx
from sequencer.messages import Message, MessageError, messages_from_receipt, relay_transaction

log = logging.getLogger("sequencer.relays")

RELAY_GAS = 500_000  # gas limit of one relay transaction (the message's call is bounded by it)


@dataclass(frozen=True)
class RelayTx:
    """A signed relay of `message`, for its destination rollup."""

    message: Message
    tx_hash: bytes
    raw: bytes
    sender: str
    nonce: int
    gas: int
    max_cost: int  # wei


def sign_relay(
    message: Message, messenger: str, key: str, nonce: int, gas: int, max_fee: int
) -> RelayTx:
    """The relayer's signed `relay_message` transaction (EIP-1559, no tip: the sequencer
    orders it, no fee auction is needed). Pure."""
    fields: dict[str, Any] = {
        **relay_transaction(message, messenger),
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": 0,
        "type": 2,
    }
    signed = Account.sign_transaction(fields, key)
    raw = bytes(signed.raw_transaction)
    return RelayTx(
        message=message,
        tx_hash=keccak(raw),
        raw=raw,
        sender=Account.from_key(key).address,
        nonce=nonce,
        gas=gas,
        max_cost=gas * max_fee,
    )


def messages_of_block(
    receipts: Sequence[Mapping[str, Any]], messenger: str, source_chain: int
) -> list[Message]:
    """Every message the messenger emitted in a block's receipts, in block order. A log that
    does not decode (it cannot, from the real messenger) is logged and skipped. Pure."""
    out: list[Message] = []
    for receipt in receipts:
        if int(str(receipt.get("status", "0x1")), 16) != 1:
            continue  # a reverted transaction emitted nothing
        try:
            out += messages_from_receipt(receipt, messenger, source_chain)
        except MessageError as exc:
            log.error("undecodable MessageSent log", extra={"error": str(exc)})
    return out


@dataclass
class RelayQueue:
    """Messages waiting for their destination's next block, and the relayer's nonces.

    `messengers` maps each rollup's chain id to its messenger address. The relayer's nonce on a
    rollup is read from its engine (`latest`) before each block that carries relays: only the
    builder sends the relayer's transactions, so the mined state is exact, and a rewound slot
    needs no bookkeeping.
    """

    key: str
    messengers: dict[int, str]
    gas: int = RELAY_GAS
    waiting: dict[int, list[Message]] = field(default_factory=dict)  # dest chain -> messages
    relayed: int = 0

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address

    def checkpoint(self) -> tuple[dict[int, list[Message]], int]:
        return copy.deepcopy(self.waiting), self.relayed

    def restore(self, state: tuple[dict[int, list[Message]], int]) -> None:
        waiting, relayed = state
        self.waiting, self.relayed = copy.deepcopy(waiting), relayed

    def waiting_for(self, chain_id: int) -> int:
        return len(self.waiting.get(chain_id, []))

    def take(
        self,
        chain_id: int,
        nonce: int,
        gas_room: int,
        max_fee: int,
        balance: int | None = None,
        block_gas_limit: int = UINT64_MAX,
    ) -> list[RelayTx]:
        """The signed relays for chain `chain_id`'s block being built, oldest message first,
        from the relayer's `nonce` on, as many as fit in `gas_room` and as the judge accepts
        (`sequencer/judge.py`: the static rules, then the relayer's `balance` (wei; None: not
        checked) against their costs, and `max_fee` against the block's base-fee bound); the
        rest wait for its next block. A relay the judge refuses is never sent (the engine would
        refuse it and halt the builder): it and the messages behind it wait, with an error
        logged (a relayer short of funds is topped up by its operator)."""
        queue = self.waiting.get(chain_id, [])
        count = min(len(queue), max(gas_room, 0) // self.gas)
        messenger = self.messengers[chain_id]
        rules = ChainRules(chain_id, block_gas_limit)
        account = AccountState(nonce, UINT256_MAX if balance is None else balance)
        out: list[RelayTx] = []
        for i, message in enumerate(queue[:count]):
            relay = sign_relay(message, messenger, self.key, nonce + i, self.gas, max_fee)
            tx = decode_tx(relay.raw)
            verdict = judge_static(tx, rules)
            if isinstance(verdict, Accept):
                cost = sum(r.max_cost for r in out)
                verdict = judge_account(tx, account, nonce + i, cost, max_fee)
            if isinstance(verdict, Reject):
                log.error(
                    "relay refused by the judge: it waits",
                    extra={
                        "chain": chain_id,
                        "message_hash": message.hash.hex(),
                        "error": verdict.message,
                    },
                )
                break
            out.append(relay)
        self.waiting[chain_id] = queue[len(out) :]
        self.relayed += len(out)
        return out

    def collect(self, chain_id: int, receipts: Sequence[Mapping[str, Any]]) -> list[Message]:
        """Queue the messages a sealed block of `chain_id` sent to the other rollups."""
        messenger = self.messengers.get(chain_id)
        if messenger is None:
            return []
        messages = [
            m
            for m in messages_of_block(receipts, messenger, chain_id)
            if m.dest_chain in self.messengers
        ]
        for message in messages:
            self.waiting.setdefault(message.dest_chain, []).append(message)
        return messages

    def resume(self, sent: Sequence[Message], done: set[bytes]) -> None:
        """Queue, in order, the messages of `sent` (sent by sealed blocks, oldest first) whose
        hash is not in `done` (relayed or tried already) and whose destination takes part."""
        self.waiting = {}
        for message in sent:
            if message.hash not in done and message.dest_chain in self.messengers:
                self.waiting.setdefault(message.dest_chain, []).append(message)

    def pending(self) -> int:
        return sum(len(q) for q in self.waiting.values())


def relay_queue_for(manifest: Manifest, key: str | None, gas: int = RELAY_GAS) -> RelayQueue | None:
    """The relay queue of a deployment: every rollup with a `CrossRollupMessenger` in the
    manifest takes part. None (nothing is relayed) without a key or with fewer than two."""
    messengers = {
        chain.chain_id: chain.contracts["CrossRollupMessenger"].address
        for chain in manifest.rollups
        if "CrossRollupMessenger" in chain.contracts
    }
    if key is None or len(messengers) < 2:
        return None
    return RelayQueue(key, messengers, gas)
