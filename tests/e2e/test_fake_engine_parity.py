"""The in-memory engine of the unit tests (tests/sequencer/fakes.py) against a real anvil: the
same requests get the same kind of answer (taken or refused, pool counts, block contents,
statuses, nonces, base fees, rollback), so a unit test that passes on the fake would pass on the
engine the service really drives."""

import sys
from pathlib import Path

from eth_account import Account
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sequencer"))
from fakes import FakeEngine, transfer  # noqa: E402

from sequencer.mempool import next_base_fee  # noqa: E402

# anvil's well-known account 9 (mnemonic "test test ... junk"): public, devnet only
KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
SENDER = Account.from_key(KEY).address


def _kind(answer: dict) -> str:
    """What a client can rely on: taken, or refused for which reason."""
    if "error" not in answer:
        return "ok"
    message = answer["error"]["message"].lower()
    for reason in ("nonce too low", "insufficient funds", "already", "chain"):
        if reason in message:
            return reason
    return "error: " + message


def test_the_fake_engine_answers_like_anvil(rollup_a):
    rollup_a.set_automine(False)
    anvil = rollup_a.w3.provider.make_request
    head = rollup_a.rpc("eth_getBlockByNumber", ["latest", False])
    balance = int(rollup_a.rpc("eth_getBalance", [SENDER, "latest"]), 16)
    nonce = int(rollup_a.rpc("eth_getTransactionCount", [SENDER, "latest"]), 16)
    fake = FakeEngine(901, {SENDER: balance}, gas_limit=int(head["gasLimit"], 16))
    fake.blocks[0].state[SENDER].nonce = nonce
    fake.blocks[0].timestamp = int(head["timestamp"], 16)
    parent_fee = int(head["baseFeePerGas"], 16)
    fake.blocks[0].base_fee = parent_fee
    if int(head["number"], 16) > 0:  # the fake's genesis stands for anvil's head
        fake.next_base_fee = next_base_fee(
            parent_fee, int(head["gasUsed"], 16), int(head["gasLimit"], 16)
        )

    def both(method, params):
        a, f = anvil(method, params), fake.answer(method, params)
        return a, f

    first, second = transfer(KEY, 901, nonce), transfer(KEY, 901, nonce + 1)
    steps = [
        ("a nonce gap is queued", second),
        ("the missing nonce is taken", first),
        ("a duplicate is refused", first),
        ("funds short", transfer(KEY, 901, nonce + 2, value=balance)),
        ("another chain", transfer(KEY, 902, nonce + 2)),
    ]
    for what, raw in steps:
        a, f = both("eth_sendRawTransaction", ["0x" + raw.hex()])
        assert _kind(a) == _kind(f), (what, a, f)
        if what == "a nonce gap is queued":
            a, f = both("txpool_status", [])
            assert (a["result"]["pending"], a["result"]["queued"]) == ("0x0", "0x1")
            assert (f["result"]["pending"], f["result"]["queued"]) == ("0x0", "0x1")
    a, f = both("txpool_status", [])
    assert {k: int(v, 16) for k, v in a["result"].items()} == {
        k: int(v, 16) for k, v in f["result"].items()
    }
    timestamp = int(head["timestamp"], 16) + 12
    both("evm_mine", [{"timestamp": timestamp}])
    number = hex(int(head["number"], 16) + 1)
    a, f = both("eth_getBlockByNumber", [number, False])
    for key in ("transactions", "gasUsed", "baseFeePerGas", "timestamp", "number"):
        assert a["result"][key] == f["result"][key], key
    assert a["result"]["transactions"] == ["0x" + keccak(r).hex() for r in (first, second)]
    for raw in (first, second):
        tx_hash = "0x" + keccak(raw).hex()
        ra, rf = both("eth_getTransactionReceipt", [tx_hash])
        assert (ra["result"]["status"], ra["result"]["transactionIndex"]) == (
            rf["result"]["status"],
            rf["result"]["transactionIndex"],
        )
    a, f = both("eth_sendRawTransaction", ["0x" + transfer(KEY, 901, nonce, value=9).hex()])
    assert _kind(a) == _kind(f) == "nonce too low", (a, f)
    both("anvil_dropAllTransactions", [])
    both("evm_mine", [{"timestamp": timestamp + 1}])  # an empty block: the base fee falls
    a, f = both("eth_getBlockByNumber", ["latest", False])
    assert a["result"]["baseFeePerGas"] == f["result"]["baseFeePerGas"]
    both("anvil_rollback", [2])
    a, f = both("eth_getTransactionCount", [SENDER, "latest"])
    assert int(a["result"], 16) == int(f["result"], 16) == nonce
    a, f = both("eth_getBlockByNumber", ["latest", False])
    assert a["result"]["number"] == f["result"]["number"] == head["number"]
