"""The pure parts of the wire (sequencer/rpc.py, sequencer/rpc_errors.py): body parsing and its
nesting bound, bounded quantities, ids, answers without NaN, relayed error codes, the
connection cap."""

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.deadlines import Refusal
from sequencer.engine import EngineError, EngineUnreachable
from sequencer.refusals import Refused, Unavailable
from sequencer.rpc import (
    MAX_QUANTITY,
    SEQ_METHODS,
    BodyError,
    ConnectionGuard,
    check_proxied,
    encode_answer,
    nesting_exceeds,
    parse_body,
    quantity,
    valid_id,
)
from sequencer.rpc_errors import (
    ERR_INTERNAL,
    ERR_SERVER,
    INVALID_PARAMS,
    RpcError,
    answer_code,
    as_rpc_error,
    engine_answer_error,
)

JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet='[]{}"\\ab,:', max_size=6)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3),
    ),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, limit=st.integers(1, 12), spaced=st.booleans())
def test_nesting_bound_is_the_depth_of_the_json(value, limit, spaced):
    raw = json.dumps(value, indent=1 if spaced else None).encode()
    assert nesting_exceeds(raw, limit) == (depth(value) > limit)


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\"' * 300_000,  # escaped quotes in a string that never closes: one linear pass
        b'"' + b"\\" * 100_001,
        b"[" * 300_000,
        b"]" * 300_000 + b"[" * 300_000,
        b'{"a":' * 100_000,
    ],
)
def test_bodies_that_are_not_json_are_refused_without_deep_recursion(raw):
    # (the escaped quotes took minutes with a string pattern that could fail and retry)
    with pytest.raises(BodyError):
        parse_body(raw, 64)


def test_parse_body_refuses_what_is_not_json():
    assert parse_body(b'{"id":1,"x":[[1]]}', 3) == {"id": 1, "x": [[1]]}
    for raw in (b"NaN", b"[Infinity]", b'{"id":-Infinity}', b"1e400", b"[-1e999]", b"\xff", b""):
        with pytest.raises(BodyError):
            parse_body(raw, 64)
    with pytest.raises(BodyError, match="nested deeper than 3"):
        parse_body(b'{"x":[[[1]]]}', 3)
    assert parse_body(b'{"x":"[[[[[[{{{{"}', 1) == {"x": "[[[[[[{{{{"}
    with pytest.raises(BodyError):
        parse_body(b"1" * 5_000, 64)  # more digits than Python converts


def test_quantities_are_bounded_before_use():
    assert quantity([MAX_QUANTITY], 0, 1) == MAX_QUANTITY
    assert quantity(["0x" + "0" * 60 + "7fffffffffffffff"], 0, 1) == MAX_QUANTITY
    assert quantity(["0x0"], 0, 1) == 0
    for bad in (MAX_QUANTITY + 1, "0x8000000000000000", "0x" + "f" * 10_000, -1, 1.0, True, "1"):
        with pytest.raises(RpcError) as exc:
            quantity([bad], 0, 1)
        assert exc.value.code == INVALID_PARAMS
    with pytest.raises(RpcError, match="quantity above 1024"):
        quantity([1025], 0, 1, limit=1024)


def test_proxied_numbers_are_bounded():
    check_proxied("eth_feeHistory", ["0x400", "latest", [1.0, 50.0]])
    check_proxied("eth_getBlockByNumber", ["latest", False])
    check_proxied("eth_getBalance", ["0x" + "11" * 20, {"blockHash": "0x" + "00" * 32}])
    for method, params in (
        ("eth_feeHistory", ["0x10000000000000000", "latest", []]),
        ("eth_feeHistory", [1, "latest", [0.0] * 101]),
        ("eth_getBlockByNumber", [2**63, False]),
        ("eth_getStorageAt", ["0x" + "11" * 20, "0x0", hex(2**64)]),
        ("eth_getLogs", [{"toBlock": hex(2**64)}]),
    ):
        with pytest.raises(RpcError) as exc:
            check_proxied(method, params)
        assert exc.value.code == INVALID_PARAMS, (method, exc.value.message)


def test_ids_and_answers():
    assert all(valid_id(v) for v in (None, 0, -5, 2**80, 1.5, "x"))
    assert not any(valid_id(v) for v in (True, False, [1], {"a": 1}))
    body = [
        {"jsonrpc": "2.0", "id": 1, "result": math.nan},
        {"jsonrpc": "2.0", "id": 2, "result": "0x1"},
    ]
    answers = json.loads(encode_answer(body))
    assert answers[0]["error"]["code"] == ERR_INTERNAL and answers[0]["id"] == 1
    assert answers[1] == body[1]
    single = json.loads(encode_answer({"jsonrpc": "2.0", "id": "a", "result": [math.inf]}))
    assert single["id"] == "a" and single["error"]["code"] == ERR_INTERNAL


def test_relayed_codes_are_standard_or_application_codes():
    for code in (-32700, -32600, -32601, -32602, -32603, -32000, -32099, 3, 4001, -1):
        assert answer_code(code) == code
    for code in (None, "3", True, 1.5, -32100, -32768, -32604, 2**40):
        assert answer_code(code) == ERR_INTERNAL


def test_an_evm_halt_of_a_proxied_call_is_the_requests_fault():
    """anvil answers a call that halts the EVM with -32603 "EVM error <Halt>"; the client gets
    geth's -32000 and words, never "internal error" (hypothesis found eth_call data 0x01)."""
    cases = [
        ("EVM error StackUnderflow", "stack underflow"),
        ("EVM error InvalidFEOpcode", "invalid opcode: INVALID"),
        ("EVM error OutOfGas", "out of gas"),
        ("EVM error OpcodeNotFound", "invalid opcode"),
        ("EVM error SomethingNew", "somethingnew"),
        ("EVM error ", "execution halted"),
    ]
    for message, words in cases:
        error = engine_answer_error({"code": ERR_INTERNAL, "message": message})
        assert (error.code, error.message) == (ERR_SERVER, words), message
    revert = engine_answer_error({"code": 3, "message": "execution reverted", "data": "0x"})
    assert (revert.code, revert.message, revert.data) == (3, "execution reverted", "0x")
    fault = engine_answer_error({"code": ERR_INTERNAL, "message": "database locked"})
    assert (fault.code, fault.message) == (ERR_INTERNAL, "database locked")
    assert engine_answer_error("not an object").code == ERR_INTERNAL


def test_connection_guard_caps_each_address():
    guard = ConnectionGuard(2)
    assert guard.admit("a") and guard.admit("a") and not guard.admit("a")
    assert guard.admit("b")
    guard.release("a")
    assert guard.admit("a")
    for client in ("a", "a", "b"):
        guard.release(client)
    assert not guard.open


def test_domain_errors_get_their_codes_only_at_the_edge():
    """Domain code raises `Refused`/`Unavailable` (no wire codes); the RPC edge answers geth's
    -32000 for a refusal (its data kept for the client), -32603 for what is not the request's
    fault, and only a code a client may be given for an RpcError; anything else is None (rpc
    answers "internal error" and logs it)."""
    cases = [
        (Refused("nonce too low"), ERR_SERVER, "nonce too low", None),
        (Refusal("sequencer busy", {"retryAfterSeconds": 2}), ERR_SERVER, "sequencer busy", 2),
        (Unavailable("sequencer halted"), ERR_INTERNAL, "sequencer halted", None),
        (EngineUnreachable("reset"), ERR_INTERNAL, "engine unavailable: reset", None),
        (EngineError("boom"), ERR_INTERNAL, "engine unavailable: boom", None),
        (RpcError(INVALID_PARAMS, "bad"), INVALID_PARAMS, "bad", None),
        (RpcError(-32099 - 600, "reserved"), ERR_INTERNAL, "reserved", None),
    ]
    for exc, code, message, retry in cases:
        error = as_rpc_error(exc)
        assert error is not None and (error.code, error.message) == (code, message), exc
        assert (error.data or {}).get("retryAfterSeconds") == retry
    assert as_rpc_error(KeyError("bug")) is None


def test_every_seq_method_is_one_entry_of_the_table_and_one_row_of_the_docs():
    """A seq_* method is its entry in `SEQ_METHODS` (parameters, handler, view): the methods
    documented in docs/service-and-rpc.md are exactly those."""
    page = (Path(__file__).parents[2] / "docs" / "service-and-rpc.md").read_text()
    documented = set(re.findall(r"^\| `(seq_\w+)` \|", page, re.MULTILINE))
    assert documented == set(SEQ_METHODS)


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ([5], (5, 1_000)),
        (["0x5", 1], (5, 1)),
        ([0, "0x3e8"], (0, 1_000)),
    ],
)
def test_forced_placements_take_an_optional_page_size(params, want):
    assert SEQ_METHODS["seq_getForcedPlacements"].parse(params, None) == want


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([0, 0], "invalid argument 1: limit 0: want 1..1000 placements"),
        ([0, 1_001], "invalid argument 1: limit 1001: want 1..1000 placements"),
        ([0, 1, 2], "too many arguments, want at most 2"),
        ([0, "ten"], "invalid argument 1: invalid quantity"),
    ],
)
def test_a_page_size_out_of_bounds_is_invalid_params(params, message):
    with pytest.raises(RpcError) as err:
        SEQ_METHODS["seq_getForcedPlacements"].parse(params, None)
    assert (err.value.code, err.value.message) == (INVALID_PARAMS, message)
