"""Bad input gets the right JSON-RPC error (standard codes, geth's words) and the service keeps
serving."""

import pytest
import requests
from eth_account import Account
from test_sequencer_preconfs import signed_transfer, wait_sealed


def _error(answer: dict) -> tuple[int, str]:
    assert "error" in answer, answer
    return answer["error"]["code"], answer["error"]["message"]


def test_bad_transactions_get_geth_errors_and_the_service_keeps_serving(
    sequencer_service, trader, lp
):
    service = sequencer_service
    key = trader.private_key

    def send(raw):
        return _error(service.rpc("/901", "eth_sendRawTransaction", [raw]))

    # invalid RLP, and a blob transaction (type 3)
    code, message = send("0xf8ff00")
    assert code == -32000 and message.startswith("rlp:")
    assert send("0x03" + "c0") == (-32000, "transaction type not supported")
    # wrong chain id for this endpoint
    code, message = send(signed_transfer(key, 902, 0, lp.address))
    assert (code, message) == (-32000, "invalid chain id for signer: have 902 want 901")
    # a nonce already used
    first = signed_transfer(key, 901, 0, lp.address)
    tx_hash = service.result("/901", "eth_sendRawTransaction", [first])
    wait_sealed(service, 901, tx_hash)
    code, message = send(signed_transfer(key, 901, 0, lp.address, value=2))
    assert code == -32000 and message == f"nonce too low: address {trader.address}, tx: 0 state: 1"
    code, message = send(signed_transfer(key, 901, 5, lp.address))
    assert message.startswith("nonce too high")
    # an account with no funds
    pauper = Account.create()
    code, message = send(signed_transfer(pauper.key, 901, 0, lp.address))
    assert code == -32000
    assert message.startswith("insufficient funds for gas * price + value: balance 0, tx cost ")
    # gas
    assert send(signed_transfer(key, 901, 1, lp.address, gas=20_000))[1].startswith(
        "intrinsic gas too low"
    )
    assert send(signed_transfer(key, 901, 1, lp.address, gas=40_000_000)) == (
        -32000,
        "exceeds block gas limit",
    )
    # oversized
    big = signed_transfer(key, 901, 1, lp.address, data=b"\x01" * 131_100, gas=29_000_000)
    assert send(big)[1].startswith("oversized data: transaction size ")
    # wrong parameter types
    assert _error(service.rpc("/901", "eth_sendRawTransaction", [123]))[0] == -32602
    assert _error(service.rpc("/901", "eth_sendRawTransaction", ["abcd"])) == (
        -32602,
        "invalid argument 0: hex string without 0x prefix",
    )
    assert _error(service.rpc("/901", "eth_sendRawTransaction", ["0xzz"]))[0] == -32602
    assert _error(service.rpc("/901", "eth_sendRawTransaction", []))[1] == (
        "missing value for required argument 0"
    )
    assert _error(service.rpc("/901", "seq_getPreconfirmation", ["0x1234"]))[0] == -32602
    assert _error(service.rpc("/901", "eth_getTransactionCount", [7, "pending"]))[0] == -32602
    # unknown methods, and engine-only methods that users must not reach
    for method in ("eth_foo", "anvil_setBalance", "evm_mine", "eth_sendTransaction"):
        code, message = _error(service.rpc("/901", method, []))
        assert (code, message) == (-32601, f"the method {method} does not exist/is not available")
    # the service still serves reads and writes
    assert service.result("/901", "eth_chainId") == hex(901)
    good = service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(key, 901, 1, lp.address)]
    )
    assert good["index"] >= 0 and good["chainId"] == 901
    assert service.result("/901", "eth_getTransactionCount", [trader.address, "pending"]) == "0x2"


def test_malformed_requests_get_standard_codes(sequencer_service):
    service = sequencer_service
    url = service.url + "/901"
    answer = requests.post(url, data=b"{not json", timeout=10).json()
    assert answer["error"]["code"] == -32700 and answer["id"] is None
    assert requests.post(url, json=[], timeout=10).json()["error"]["code"] == -32600
    assert requests.post(url, json={"id": 1}, timeout=10).json()["error"]["code"] == -32600
    answer = requests.post(
        url,
        json={"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": {"a": 1}},
        timeout=10,
    ).json()
    assert answer["error"]["code"] == -32602
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        7,
        {"jsonrpc": "2.0", "id": 3, "method": "nope", "params": []},
    ]
    answers = requests.post(url, json=batch, timeout=10).json()
    assert answers[0]["result"] == hex(901)
    assert answers[1]["error"]["code"] == -32600
    assert answers[2]["error"]["code"] == -32601 and answers[2]["id"] == 3
    assert requests.post(service.url + "/999", json=batch[0], timeout=10).status_code == 404
    assert requests.post(url, json=batch[0], timeout=10).json()["result"] == hex(901)


@pytest.mark.parametrize("limit", ["body", "batch", "rate"])
def test_limits(start_service, limit):
    service = start_service(
        max_body_bytes=2_000, max_batch_len=3, rate_per_client_per_s=1.0, rate_burst=8
    )
    url = service.url + "/901"
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    if limit == "body":
        response = requests.post(url, json={**call, "pad": "x" * 3_000}, timeout=10)
        assert response.status_code == 413
        assert response.json()["error"]["message"] == "content length too large"
    elif limit == "batch":
        answer = requests.post(url, json=[call] * 4, timeout=10).json()
        assert answer["error"]["code"] == -32600
        assert answer["error"]["message"].startswith("batch too large")
    else:
        codes = [requests.post(url, json=call, timeout=10).status_code for _ in range(10)]
        assert codes[:8] == [200] * 8 and 429 in codes[8:]
        answer = requests.post(url, json=call, timeout=10).json()
        assert answer["error"] == {"code": -32005, "message": "limit exceeded"}
    assert service.seq.halted is None


def test_fee_cap_below_the_next_base_fee_is_refused(sequencer_service, trader, lp):
    raw = signed_transfer(
        trader.private_key, 901, 0, lp.address, maxFeePerGas=1, maxPriorityFeePerGas=1
    )
    code, message = _error(sequencer_service.rpc("/901", "eth_sendRawTransaction", [raw]))
    assert code == -32000 and message.startswith("max fee per gas less than block base fee")
