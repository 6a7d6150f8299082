"""Fuzzed JSON-RPC input always gets a JSON-RPC answer (a result or an error with an integer
code), never a crash or an HTTP 5xx, and the service keeps serving and building blocks."""

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    answer = response.json()
    items = answer if isinstance(answer, list) else [answer]
    assert all(_is_answer(item) for item in items), answer
    garbage = requests.post(service.url + path, data=raw, timeout=10)
    assert garbage.status_code < 500
    assert _is_answer(garbage.json()) or garbage.json() == []
    assert service.seq.halted is None
    assert service.result("/901", "eth_chainId") == hex(901)
