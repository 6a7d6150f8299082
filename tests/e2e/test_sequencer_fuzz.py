"""Fuzzed JSON-RPC input always gets a JSON-RPC answer (a result or an error with an integer
code), never a crash or an HTTP 5xx, and the service keeps serving and building blocks."""

import json

import requests
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer.rpc import PROXIED

METHODS = [
    "eth_sendRawTransaction",
    "seq_sendRawTransaction",
    "seq_getPreconfirmation",
    "seq_getBlockHeader",
    "seq_status",
    "eth_getTransactionCount",
    "eth_getTransactionByHash",
    "eth_getBalance",
    "eth_chainId",
    "eth_call",
    "eth_getBlockByNumber",
]
HEX = st.binary(max_size=40).map(lambda b: "0x" + b.hex())
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=20), HEX
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
CALLS = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "id": st.integers(0, 1000), "method": st.sampled_from(METHODS)},
    optional={"params": st.one_of(st.lists(VALUES, max_size=3), VALUES)},
)
BODIES = st.one_of(CALLS, st.lists(CALLS, min_size=1, max_size=4), VALUES)


def _is_answer(item) -> bool:
    if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
        return False
    if "error" in item:
        return isinstance(item["error"].get("code"), int) and isinstance(
            item["error"].get("message"), str
        )
    return "result" in item


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=BODIES, path=st.sampled_from(["/", "/901", "/902"]), raw=st.binary(max_size=64))
def test_fuzzed_requests_get_json_rpc_answers(sequencer_service, body, path, raw):
    service = sequencer_service
    response = service.post(path, body)
    assert response.status_code < 500, response.text
    if response.status_code != 204:  # 204: only notifications (no `id`), nothing to answer
        answer = _strict_json(response.text)
        items = answer if isinstance(answer, list) else [answer]
        assert all(_is_answer(item) for item in items), answer
    garbage = requests.post(service.url + path, data=raw, timeout=10)
    assert garbage.status_code < 500
    assert garbage.status_code == 204 or _is_answer(_strict_json(garbage.text))
    assert service.seq.halted is None
    assert service.result("/901", "eth_chainId") == hex(901)


# --- every seq_* and eth_* method, typed parameters and raw mutations (issue #12) ---

MAX_QUANTITY = 2**63 - 1
HUGE_INTS = st.sampled_from([2**63, 2**64, 2**64 - 1, 2**256, 10**100, -1, -(2**63), -(2**70)])
RAW_VALUES = st.one_of(
    HUGE_INTS,
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
    st.sampled_from(["", "0x", "0X12", "0x" + "f" * 5_000, "x" * 20_000, "latest", "pending"]),
    st.integers(1, 60).map(lambda depth: json.loads("[" * depth + "]" * depth)),  # < the limit
    st.integers(1, 30).map(lambda depth: json.loads('{"a":' * depth + "1" + "}" * depth)),
    VALUES,
)
QUANTITIES = st.one_of(
    st.integers(0, MAX_QUANTITY),
    st.integers(0, 2**80).map(hex),
    HUGE_INTS,
    st.sampled_from([2**63, 2**64, 2**64 - 1, 2**256, 10**100]).map(hex),
    st.sampled_from(["0x", "0x0", "0x00000001", "1", "-0x1", "0xg"]),
)
HASHES = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex()), HEX, st.text(max_size=70)
)
ADDRESSES = st.one_of(
    st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()), HEX, st.text(max_size=44)
)
TAGS = st.one_of(
    st.sampled_from(["latest", "pending", "earliest", "safe", "finalized"]), QUANTITIES
)


@st.composite
def raw_txs(draw) -> str:
    """A signed transaction (random sender, any nonce and fees), or a mangled or deep one."""
    key = draw(st.binary(min_size=32, max_size=32).filter(lambda k: 0 < int.from_bytes(k) < 2**255))
    tx = {
        "type": 2,
        "chainId": draw(st.sampled_from([901, 902, 999, 1])),
        "nonce": draw(st.integers(0, 2**64 - 1)),
        "to": "0x" + "11" * 20,
        "value": draw(st.integers(0, 2**200)),
        "gas": draw(st.integers(0, 2**63)),
        "maxFeePerGas": draw(st.integers(0, 2**128)),
        "maxPriorityFeePerGas": 0,
        "data": draw(st.binary(max_size=64)),
    }
    raw = bytes(Account.sign_transaction(tx, key).raw_transaction)
    how = draw(st.sampled_from(["signed", "truncated", "flipped", "deep", "typed-garbage"]))
    if how == "truncated":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif how == "flipped":
        i = draw(st.integers(0, len(raw) - 1))
        raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    elif how == "deep":
        raw = draw(st.sampled_from([b"", b"\x01", b"\x02"])) + _deep_rlp(
            draw(st.integers(1, 3_000))
        )
    elif how == "typed-garbage":
        raw = bytes([draw(st.integers(0, 0x7F))]) + draw(st.binary(max_size=80))
    return "0x" + raw.hex()


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


CHAIN_KEYS = st.one_of(
    st.sampled_from(["901", "902", "999", "0", "²", "-1", "9" * 30, "0x385", ""]),
    st.text(max_size=5),
)
BUNDLES = st.fixed_dictionaries(
    {
        "txs": st.dictionaries(CHAIN_KEYS, st.lists(raw_txs(), max_size=2), max_size=2),
        "beneficiary": ADDRESSES,
        "deadline": QUANTITIES,
    }
)
CALL_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "to": ADDRESSES,
        "from": ADDRESSES,
        "data": HEX,
        "gas": QUANTITIES,
        "value": QUANTITIES,
        "gasPrice": QUANTITIES,
    },
)
FILTERS = st.fixed_dictionaries(
    {}, optional={"fromBlock": TAGS, "toBlock": TAGS, "address": ADDRESSES, "blockHash": HASHES}
)
# The typed parameters of each method (for the methods served per rollup at /<chain_id>).
TYPED: dict[str, list] = {
    "seq_sendRawTransaction": [raw_txs()],
    "seq_getPreconfirmation": [HASHES],
    "seq_getBlockHeader": [QUANTITIES],
    "seq_status": [],
    "seq_getForcedPlacements": [QUANTITIES, st.integers(0, 1_500)],
    "seq_getBlockSummaries": [QUANTITIES, QUANTITIES, QUANTITIES],
    "seq_getBlockTransactions": [QUANTITIES, QUANTITIES, QUANTITIES],
    "seq_sendBundle": [BUNDLES],
    "seq_getBundleReceipt": [HASHES],
    "seq_getBundleStatus": [HASHES],
    "eth_sendRawTransaction": [raw_txs()],
    "eth_getTransactionCount": [ADDRESSES, TAGS],
    "eth_accounts": [],
    "eth_getBalance": [ADDRESSES, TAGS],
    "eth_call": [CALL_OBJECTS, TAGS],
    "eth_estimateGas": [CALL_OBJECTS],
    "eth_createAccessList": [CALL_OBJECTS, TAGS],
    "eth_getCode": [ADDRESSES, TAGS],
    "eth_getStorageAt": [ADDRESSES, QUANTITIES, TAGS],
    "eth_getProof": [ADDRESSES, st.lists(HASHES, max_size=3), TAGS],
    "eth_getTransactionByHash": [HASHES],
    "eth_getTransactionReceipt": [HASHES],
    "eth_getTransactionByBlockNumberAndIndex": [TAGS, QUANTITIES],
    "eth_getTransactionByBlockHashAndIndex": [HASHES, QUANTITIES],
    "eth_getBlockByNumber": [TAGS, st.booleans()],
    "eth_getBlockByHash": [HASHES, st.booleans()],
    "eth_getBlockReceipts": [TAGS],
    "eth_getBlockTransactionCountByNumber": [TAGS],
    "eth_getBlockTransactionCountByHash": [HASHES],
    "eth_getLogs": [FILTERS],
    "eth_feeHistory": [QUANTITIES, TAGS, st.lists(st.floats(0, 100), max_size=3)],
    "web3_sha3": [HEX],
}
ALL_METHODS = sorted(
    set(TYPED) | {m for m in PROXIED if m.startswith("eth_")} | {"seq_nope", "eth_nope"}
)


@st.composite
def method_calls(draw) -> tuple[str, dict]:
    """A path and one call: typed parameters, then maybe one raw mutation of them."""
    method = draw(st.sampled_from(ALL_METHODS))
    params = [draw(strategy) for strategy in TYPED.get(method, [])]
    path = "/901"
    if method == "seq_getBlockHeader" and draw(st.booleans()):
        path, params = "/", [draw(st.sampled_from([901, 902, 999])), *params]
    elif method.startswith("seq_") and method != "seq_getBlockHeader" and draw(st.booleans()):
        path = "/"
    mutation = draw(st.sampled_from(["none", "none", "replace", "drop", "extra", "not-a-list"]))
    if mutation == "replace" and params:
        params[draw(st.integers(0, len(params) - 1))] = draw(RAW_VALUES)
    elif mutation == "drop" and params:
        params.pop()
    elif mutation == "extra":
        params.append(draw(RAW_VALUES))
    call: dict = {"jsonrpc": "2.0", "method": method}
    call["params"] = draw(RAW_VALUES) if mutation == "not-a-list" else params
    if draw(st.integers(0, 9)) > 0:  # one in ten is a notification
        call["id"] = draw(st.one_of(st.integers(0, 2**70), st.text(max_size=10), st.none()))
    return path, call


def _well_formed(answer: dict, sent: dict) -> None:
    assert answer["jsonrpc"] == "2.0" and answer["id"] == sent["id"], (answer, sent)
    assert ("result" in answer) != ("error" in answer), answer
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str), answer
        assert error["code"] != -32603, (sent, answer)  # an internal error is never the user's


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in an answer: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


@settings(
    max_examples=400,  # a few milliseconds each on a local service: ~10-20 s
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(calls=st.lists(method_calls(), min_size=1, max_size=3), batch=st.booleans())
def test_every_method_answers_bad_parameters_and_the_service_stays_live(
    sequencer_service, calls, batch
):
    service = sequencer_service
    groups = [[c] for c in calls] if not batch else [[c for c in calls if c[0] == "/901"]]
    groups += [] if not batch else [[c for c in calls if c[0] == "/"]]
    for group in groups:
        if not group:
            continue
        path = group[0][0]
        sent = [call for _, call in group]
        response = service.http.post(
            service.url + path, json=sent if batch else sent[0], timeout=30
        )
        assert response.status_code in (200, 204), (sent, response.status_code, response.text)
        expected = [call for call in sent if "id" in call]
        if not expected:
            assert response.status_code == 204 and response.content == b""
            continue
        answers = _strict_json(response.text)
        answers = answers if batch else [answers]
        assert len(answers) == len(expected), (sent, answers)
        if batch:  # answered in any order: match them by id (ids may repeat)
            for answer in answers:
                _well_formed(answer, next(c for c in expected if c["id"] == answer["id"]))
        else:
            _well_formed(answers[0], expected[0])
    assert service.seq.halted is None
    assert service.result("/", "seq_status")["halted"] is None
    assert service.result("/901", "eth_chainId") == hex(901)


def test_a_call_that_halts_the_evm_is_answered_as_the_requests_fault(sequencer_service):
    """Found by the test above in CI: eth_call of init code 0x01 (ADD on an empty stack) was
    relayed as anvil's -32603 "EVM error StackUnderflow"; it is -32000 in geth's words."""
    service = sequencer_service
    call = {"from": "0x" + "00" * 20, "data": "0x01"}
    for method, params in (
        ("eth_call", [call, "latest"]),
        ("eth_estimateGas", [call]),
        ("eth_createAccessList", [call, "latest"]),
        ("eth_call", [{**call, "data": "0xfe"}, "latest"]),
    ):
        sent = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
        answer = service.http.post(service.url + "/901", json=sent, timeout=30).json()
        _well_formed(answer, sent)
        assert answer["error"]["code"] == -32000, answer
        assert answer["error"]["message"] in ("stack underflow", "invalid opcode: INVALID")
