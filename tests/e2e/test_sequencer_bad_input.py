"""Bad input gets the right JSON-RPC error (standard codes, geth's words) and the service keeps
serving."""

import json
import socket
import sys

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


# --- JSON-RPC 2.0 to the letter (issue #12) ---


def _strict(response: requests.Response):
    """The body as strict JSON: NaN, Infinity and -Infinity are not JSON."""
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]

    def refuse(name):
        raise AssertionError(f"{name} in an answer: {response.text[:200]}")

    return json.loads(response.text, parse_constant=refuse)


def _nested(depth: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":'
        + (b"[" * depth + b"]" * depth)
        + b"}"
    )


@pytest.fixture
def production_recursion_limit():
    """The interpreter's default recursion limit (1000), which `sequencer run` has: under ape,
    py_ecc raises it to 100 000, and the service thread shares the interpreter."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_over_deep_json_is_a_parse_error(sequencer_service, production_recursion_limit):
    service = sequencer_service
    for path in ("/", "/901"):
        for depth in (2_000, 989, 200_000, 64):  # the call object adds one level: 65 and up
            response = requests.post(service.url + path, data=_nested(depth), timeout=10)
            assert response.status_code == 200, (depth, response.status_code, response.text[:80])
            answer = _strict(response)
            assert answer["error"]["code"] == -32700 and answer["id"] is None, answer
        # a call nested just within the limit (64 levels) is read and answered
        answer = _strict(requests.post(service.url + path, data=_nested(63), timeout=10))
        assert answer["id"] == 1 and answer["error"]["code"] != -32700
        # brackets inside strings do not count
        body = {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": ["[" * 5_000]}
        answer = _strict(service.post(path, body))
        assert answer["id"] == 2 and answer["error"]["code"] in (-32601, -32602), answer
    assert service.seq.halted is None
    assert service.result("/901", "eth_chainId") == hex(901)


@pytest.mark.parametrize("rid", [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_ids_are_parse_errors_and_never_echoed(sequencer_service, rid):
    body = b'{"jsonrpc":"2.0","id":' + rid + b',"method":"eth_chainId","params":[]}'
    for path in ("/", "/901"):
        response = requests.post(sequencer_service.url + path, data=body, timeout=10)
        answer = _strict(response)
        assert answer == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "parse error", "data": answer["error"]["data"]},
        }
    # a non-finite number anywhere in the body, not only in the id
    params = b'{"jsonrpc":"2.0","id":3,"method":"eth_getBalance","params":[' + rid + b"]}"
    answer = _strict(requests.post(sequencer_service.url + "/901", data=params, timeout=10))
    assert answer["error"]["code"] == -32700


def test_ids_must_be_string_number_or_null(sequencer_service):
    service = sequencer_service
    for rid in ([1], {"a": 1}, True):
        answer = service.post("/901", {"jsonrpc": "2.0", "id": rid, "method": "eth_chainId"})
        assert _strict(answer) == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32600,
                "message": "invalid request: id must be a string, number or null",
            },
        }
    for rid in ("abc", 7, 2.5, None, 10**30):
        answer = _strict(
            service.post("/901", {"jsonrpc": "2.0", "id": rid, "method": "eth_chainId"})
        )
        assert answer == {"jsonrpc": "2.0", "id": rid, "result": hex(901)}


def test_numbers_beyond_the_journal_are_invalid_params(sequencer_service, lp):
    service = sequencer_service
    too_big = [2**63, 2**64, 10**30, "0x8000000000000000", "0x" + "f" * 100, "0x1" + "0" * 4_000]
    for number in too_big:
        for path, method, params in (
            ("/", "seq_getBlockHeader", [901, number]),
            ("/", "seq_getBlockHeader", [number, 1]),
            ("/901", "seq_getBlockHeader", [number]),
            ("/", "seq_getForcedPlacements", [number]),
            ("/901", "seq_getForcedPlacements", [number]),
        ):
            code, message = _error(service.rpc(path, method, params))
            assert code == -32602, (method, params, message)
            assert message.endswith(f"quantity above {2**63 - 1}"), message
    # the largest quantity is read (there is no such block) and leading zeros are fine
    assert service.result("/901", "seq_getBlockHeader", [2**63 - 1]) is None
    assert (
        service.result("/901", "seq_getBlockHeader", ["0x" + "0" * 50 + "7fffffffffffffff"]) is None
    )
    assert service.result("/", "seq_getForcedPlacements", ["0x7fffffffffffffff"]) == []
    # a bundle's deadline and chain ids are bounded the same way, before the bundle book
    raw = signed_transfer(Account.create().key, 901, 0, lp.address)
    for bundle, field in (
        ({"txs": {"901": [raw]}, "beneficiary": lp.address, "deadline": 2**63}, "deadline"),
        ({"txs": {"901": [raw]}, "beneficiary": lp.address, "deadline": 10**80}, "deadline"),
        ({"txs": {"9" * 30: [raw]}, "beneficiary": lp.address, "deadline": 10}, "txs"),
        ({"txs": {"²": [raw]}, "beneficiary": lp.address, "deadline": 10}, "txs"),  # isdigit
        ({"txs": {"901": [7]}, "beneficiary": lp.address, "deadline": 10}, "txs"),
        ({"txs": {"901": [raw]}, "beneficiary": "0x12", "deadline": 10}, "beneficiary"),
    ):
        code, message = _error(service.rpc("/", "seq_sendBundle", [bundle]))
        assert code == -32602 and message.startswith("invalid argument 0: "), message
        assert field in message, message
    assert service.seq.halted is None
    assert service.result("/", "seq_status")["halted"] is None


def _deep_rlp(depth: int) -> bytes:
    payload = b"\xc0"
    for _ in range(depth):
        n = len(payload)
        if n < 56:
            payload = bytes([0xC0 + n]) + payload
        else:
            size = n.to_bytes((n.bit_length() + 7) // 8, "big")
            payload = bytes([0xF7 + len(size)]) + size + payload
    return payload


def test_deeply_nested_rlp_is_refused_as_invalid_rlp(
    sequencer_service, lp, production_recursion_limit
):
    service = sequencer_service
    deep = _deep_rlp(20_000)  # ~80 KB, under the 128 KiB transaction limit
    for raw in (deep, b"\x02" + deep, b"\x01" + deep):
        for path, method in (
            ("/901", "eth_sendRawTransaction"),
            ("/901", "seq_sendRawTransaction"),
            ("/", "seq_sendRawTransaction"),
        ):
            answer = service.rpc(path, method, ["0x" + raw.hex()])
            assert _error(answer) == (-32000, "rlp: lists nested too deep"), (method, answer)
        deadline = service.seq.l1_head + 300  # inside the evidence window, not too soon
        txs = {"901": ["0x" + raw.hex()]}
        bundle = {"txs": txs, "beneficiary": lp.address, "deadline": deadline}
        answer = service.rpc("/", "seq_sendBundle", [bundle])
        assert _error(answer) == (-32000, "rlp: lists nested too deep"), answer
    assert service.seq.halted is None
    assert service.result("/", "seq_status")["halted"] is None


def test_notifications_get_no_answer_and_are_carried_out(sequencer_service, trader, lp):
    service = sequencer_service
    url = service.url + "/901"
    note = {"jsonrpc": "2.0", "method": "eth_chainId", "params": []}
    for body in (note, [note, note], [{"jsonrpc": "2.0", "method": "nope"}]):
        response = requests.post(url, json=body, timeout=10)
        assert response.status_code == 204 and response.content == b"", response.text
    # a mixed batch: an answer for each call with an id, in any order, none for the others
    batch = [note, {**note, "id": 5}, {**note, "method": "nope"}, {**note, "id": None}]
    answers = _strict(requests.post(url, json=batch, timeout=10))
    assert sorted(answers, key=lambda a: str(a["id"])) == [
        {"jsonrpc": "2.0", "id": 5, "result": hex(901)},
        {"jsonrpc": "2.0", "id": None, "result": hex(901)},
    ]
    # an invalid request is not a notification: it is answered, with id null
    answer = _strict(requests.post(url, json={"jsonrpc": "2.0", "method": 7}, timeout=10))
    assert answer["error"]["code"] == -32600 and answer["id"] is None
    # a transaction sent as a notification is still promised
    raw = signed_transfer(trader.private_key, 901, 0, lp.address)
    notify = {"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": [raw]}
    assert requests.post(url, json=notify, timeout=10).status_code == 204
    assert service.result("/901", "eth_getTransactionCount", [trader.address, "pending"]) == "0x1"


def test_the_id_is_echoed_on_every_path(start_service):
    service = start_service(rate_per_client_per_s=1.0, rate_burst=4)
    call = {"jsonrpc": "2.0", "id": "abc", "method": "eth_chainId", "params": []}
    for path in ("/999", "/99999999999999999999999999", "/metrics", "/nope/901"):
        response = requests.post(service.url + path, json=call, timeout=10)
        assert response.status_code == 404
        answer = _strict(response)
        assert answer["id"] == "abc" and answer["error"]["code"] == -32600, answer
        answers = _strict(
            requests.post(service.url + path, json=[call, {**call, "id": 2}], timeout=10)
        )
        assert [a["id"] for a in answers] == ["abc", 2]
    # over the rate: every call of the batch gets the limit error with its own id
    batch = [{**call, "id": i} for i in range(3)]
    assert len(_strict(requests.post(service.url + "/901", json=batch, timeout=10))) == 3
    response = requests.post(service.url + "/901", json=batch, timeout=10)
    assert response.status_code == 429
    assert _strict(response) == [
        {"jsonrpc": "2.0", "id": i, "error": {"code": -32005, "message": "limit exceeded"}}
        for i in range(3)
    ]
    statuses = [requests.post(service.url + "/901", json=call, timeout=10) for _ in range(3)]
    response = statuses[-1]  # the bucket's last token went to the first of them
    assert response.status_code == 429 and _strict(response)["id"] == "abc"
    assert service.seq.halted is None


def test_proxied_reads_cannot_take_the_engine_down(sequencer_service):
    """anvil aborts (SIGABRT, the whole rollup engine) on eth_feeHistory with a block count of
    2^64 or more; the service bounds it (geth's 1024) and every block number it proxies."""
    service = sequencer_service
    for params in (
        ["0x10000000000000000", "latest", []],
        [hex(2**256 - 1), "latest", [10, 50]],
        ["0x401", "latest", []],
        ["0x1", "0x8000000000000000", []],
        ["0x1", "latest", list(range(101))],
    ):
        code, message = _error(service.rpc("/901", "eth_feeHistory", params))
        assert code == -32602 and message.startswith("invalid argument "), message
    assert "error" not in service.rpc("/901", "eth_feeHistory", ["0x400", "latest", [50]])
    for method, params in (
        ("eth_getBlockByNumber", [hex(2**64), False]),
        ("eth_getTransactionByBlockNumberAndIndex", ["latest", 2**64]),
        ("eth_getBalance", ["0x" + "11" * 20, {"blockNumber": hex(2**63)}]),
        ("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(2**70)}]),
    ):
        code, message = _error(service.rpc("/901", method, params))
        assert code == -32602 and message.startswith("invalid argument "), (method, message)
    # the engine is still there: the builder keeps sealing and reads are answered
    assert service.seq.halted is None
    head = service.result("/", "seq_status")["chains"]["901"]["head"]
    assert service.result("/901", "eth_getBlockByNumber", [hex(head), False]) is not None


def test_a_body_that_cannot_be_decoded_is_a_parse_error(sequencer_service):
    """A body that claims gzip but is not: -32700 (HTTP 400), not the HTTP 500 text/plain that
    aiohttp answers when the handler lets the payload error through. (Broken HTTP framing, such
    as a bad chunk size, is refused by aiohttp itself with HTTP 400 before any handler runs.)"""
    host, port = "127.0.0.1", sequencer_service.config.port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            b"POST /901 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzip at!"
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head, answer
    assert json.loads(body)["error"]["code"] == -32700, answer
    assert sequencer_service.result("/901", "eth_chainId") == hex(901)


# Init code that returns gasleft() as 32 bytes: GAS PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
GASLEFT_INITCODE = "0x5a60005260206000f3"
# Init code that loops until its gas runs out: JUMPDEST PUSH1 0 JUMP.
LOOP_INITCODE = "0x5b600056"


def test_a_call_runs_with_at_most_the_gas_cap(sequencer_service):
    """An engine spends a call's gas in CPU and mines nothing meanwhile (anvil: 6.5 s for 10^10
    gas, during which evm_mine waited): every eth_call, eth_estimateGas and eth_createAccessList
    naming more gas runs with `rpc_gas_cap` (geth's --rpc.gascap, 50,000,000); naming none, with
    the engine's block gas limit (anvil's 30,000,000), as before."""
    service = sequencer_service
    cap = 50_000_000  # the default, geth's

    def gasleft(call: dict) -> int:
        return int(service.result("/901", "eth_call", [call, "latest"]), 16)

    for asked in (hex(10**10), 10**10, hex(2**256 - 1), hex(cap + 1)):
        left = gasleft({"data": GASLEFT_INITCODE, "gas": asked})
        assert cap - 100_000 < left < cap, (asked, left)
    assert 900_000 < gasleft({"data": GASLEFT_INITCODE, "gas": hex(10**6)}) < 10**6  # kept
    assert 29_900_000 < gasleft({"data": GASLEFT_INITCODE}) < 30_000_000  # the block's limit
    loop = {"data": LOOP_INITCODE, "gas": hex(10**10)}
    code, message = _error(service.rpc("/901", "eth_estimateGas", [loop]))
    assert str(cap) in message, (code, message)
    answer = service.rpc("/901", "eth_call", [{"data": LOOP_INITCODE, "gas": hex(10**12)}])
    assert "error" in answer  # out of gas at the cap (uncapped: minutes of the engine's CPU)
    assert service.seq.halted is None
