"""sequencer/relays.py without a chain: the relay queue's order, gas room, rewind and signing.

On the rollup engines, tests/e2e/test_sequencer_relays.py runs the relays through the service.
"""

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

from sequencer.config import DEVNET_RELAYER_KEY
from sequencer.messages import (
    MESSAGE_SENT_TOPIC,
    Message,
    MessageError,
    message_of_relay,
    relay_calldata,
)
from sequencer.relays import RelayQueue, messages_of_block, sign_relay

MESSENGER = "0x" + "33" * 20
OTHER = "0x" + "44" * 20
SENDER = "0x" + "11" * 20
TARGET = "0x" + "22" * 20


def _message(nonce: int, dest: int = 902, source: int = 901) -> Message:
    return Message(source, dest, nonce, SENDER, TARGET, bytes([nonce]) * 3)


def _log(message: Message, address: str = MESSENGER) -> dict:
    return {
        "address": address,
        "topics": [
            MESSAGE_SENT_TOPIC,
            message.hash,
            message.dest_chain.to_bytes(32, "big"),
            message.nonce.to_bytes(32, "big"),
        ],
        "data": abi_encode(
            ["address", "address", "bytes"], [message.sender, message.target, message.data]
        ),
    }


def _queue(gas: int = 100_000) -> RelayQueue:
    return RelayQueue(DEVNET_RELAYER_KEY, {901: MESSENGER, 902: MESSENGER}, gas)


def test_a_relay_is_the_relayers_signed_relay_message_call_on_the_destination():
    message = _message(7)
    relay = sign_relay(message, MESSENGER, DEVNET_RELAYER_KEY, 5, 200_000, 3 * 10**9)
    tx = TypedTransaction.from_bytes(HexBytes(relay.raw)).as_dict()
    assert Account.recover_transaction(relay.raw) == relay.sender
    assert relay.sender == Account.from_key(DEVNET_RELAYER_KEY).address
    assert relay.tx_hash == keccak(relay.raw)
    assert (tx["chainId"], tx["nonce"], tx["gas"]) == (902, 5, 200_000)
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (3 * 10**9, 0)
    assert bytes(tx["data"]) == relay_calldata(message)
    assert relay.max_cost == 200_000 * 3 * 10**9


def test_messages_are_queued_for_their_destination_only_from_the_messenger_and_in_order():
    queue = _queue()
    logs = [_log(_message(1)), _log(_message(2), OTHER), _log(_message(3))]
    reverted = {"status": "0x0", "logs": [_log(_message(4))]}
    got = queue.collect(901, [{"status": "0x1", "logs": logs}, reverted])
    assert [m.nonce for m in got] == [1, 3]
    assert queue.waiting_for(902) == 2 and queue.waiting_for(901) == 0
    # a rollup without a messenger in the deployment sends nothing the queue would relay
    assert queue.collect(903, [{"status": "0x1", "logs": logs}]) == []
    assert messages_of_block([{"status": "0x1", "logs": logs}], MESSENGER, 901)[1].nonce == 3


def test_take_signs_consecutive_nonces_as_many_as_fit_and_the_rest_wait():
    queue = _queue(gas=100_000)
    queue.collect(901, [{"status": "0x1", "logs": [_log(_message(n)) for n in range(5)]}])
    first = queue.take(902, nonce=10, gas_room=250_000, max_fee=10**9)
    assert [r.message.nonce for r in first] == [0, 1]
    assert [r.nonce for r in first] == [10, 11]
    assert queue.waiting_for(902) == 3
    assert queue.take(902, nonce=12, gas_room=0, max_fee=10**9) == []
    rest = queue.take(902, nonce=12, gas_room=10**7, max_fee=10**9)
    assert [(r.message.nonce, r.nonce) for r in rest] == [(2, 12), (3, 13), (4, 14)]
    assert queue.pending() == 0


def test_the_judge_keeps_relays_the_engine_would_refuse_waiting():
    """A relayer short of funds used to get relays the engine refused, which halted the
    builder: now the judge stops at the first relay it cannot pay, and the rest wait."""
    queue = _queue(gas=100_000)
    queue.collect(901, [{"status": "0x1", "logs": [_log(_message(n)) for n in range(3)]}])
    one = 100_000 * 10**9
    paid = queue.take(902, nonce=4, gas_room=10**7, max_fee=10**9, balance=2 * one + 1)
    assert [(r.message.nonce, r.nonce) for r in paid] == [(0, 4), (1, 5)]
    assert queue.waiting_for(902) == 1 and queue.relayed == 2
    assert queue.take(902, nonce=6, gas_room=10**7, max_fee=10**9, balance=0) == []
    # a block gas limit below the relay's gas: refused for good, still never sent
    assert queue.take(902, nonce=6, gas_room=10**7, max_fee=1, block_gas_limit=99_999) == []
    assert queue.waiting_for(902) == 1
    assert len(queue.take(902, nonce=6, gas_room=10**7, max_fee=10**9, balance=one)) == 1


def test_restore_gives_back_what_a_rewound_slot_took_and_collected():
    queue = _queue()
    queue.collect(901, [{"status": "0x1", "logs": [_log(_message(1))]}])
    state = queue.checkpoint()
    queue.take(902, nonce=0, gas_room=10**7, max_fee=1)
    queue.collect(902, [{"status": "0x1", "logs": [_log(_message(9, dest=901, source=902))]}])
    assert (queue.waiting_for(902), queue.waiting_for(901)) == (0, 1)
    queue.restore(state)
    assert (queue.waiting_for(902), queue.waiting_for(901)) == (1, 0)
    assert queue.waiting[902][0].nonce == 1


def test_a_resumed_queue_holds_what_was_sent_and_neither_relayed_nor_tried_in_order():
    queue = RelayQueue(DEVNET_RELAYER_KEY, {901: MESSENGER, 902: OTHER})
    sent = [_message(0), _message(1, dest=901, source=902), _message(2), _message(3), _message(4)]
    sent.append(Message(901, 999, 5, SENDER, TARGET, b""))  # no messenger there: never queued
    queue.waiting = {902: [_message(9)]}  # whatever was in memory is replaced
    queue.resume(sent, done={_message(2).hash, _message(0).hash})
    assert queue.waiting == {902: [_message(3), _message(4)], 901: [sent[1]]}
    assert queue.pending() == 3


def test_the_message_of_a_relay_is_read_back_from_its_calldata():
    message = _message(7)
    assert message_of_relay(902, relay_calldata(message)) == message
    with pytest.raises(MessageError, match="not a relay_message call"):
        message_of_relay(902, b"\x00" * 4 + relay_calldata(message)[4:])
