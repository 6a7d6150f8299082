"""The engine clients (`sequencer/engine.py`) against a real HTTP server that misbehaves on cue.

Both clients, async and sync, share one policy: a read that got no JSON-RPC answer is asked again
(it changes nothing on the node), a write never is (it may have been processed: sending it twice
could double a transaction); a node's error answer is an `EngineError`, no answer at all an
`EngineUnreachable`, and a stalled node ends the call after the client's timeout.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sequencer.engine import (
    EngineClient,
    EngineError,
    EngineUnreachable,
    SyncEngineClient,
    engine_session,
)


class Node:
    """A JSON-RPC server whose next answers to a method can be garbage or late."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.garbage: Counter[str] = Counter()  # method -> how many answers are not JSON-RPC
        self.stall_s = 0.0
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                for call in calls:
                    node.seen[call["method"]] += 1
                if node.stall_s:
                    time.sleep(node.stall_s)
                first = calls[0]["method"]
                if node.garbage[first]:
                    node.garbage[first] -= 1
                    data = b"<html>502 Bad Gateway</html>"
                else:
                    answers = [node.answer(call) for call in calls]
                    data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer(call: dict) -> dict:
        if call["method"] == "eth_fail":
            return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32000, "message": "no"}}
        return {"jsonrpc": "2.0", "id": call["id"], "result": "0x2a"}


@pytest.fixture
def node() -> Iterator[Node]:
    node = Node()
    thread = threading.Thread(target=node.server.serve_forever, daemon=True)
    thread.start()
    yield node
    node.server.shutdown()
    node.server.server_close()


def call_both(node: Node, method: str, timeout: float = 5.0) -> list[object]:
    """The outcome (a result or the exception) of the same call by each client."""

    async def with_async() -> object:
        async with engine_session(timeout) as session:
            try:
                return await EngineClient(node.url, 1, session).call(method)
            except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
                return exc

    def with_sync() -> object:
        try:
            return SyncEngineClient(node.url, timeout).call(method)
        except Exception as exc:  # noqa: BLE001
            return exc

    saved = node.garbage.copy()
    outcomes = [asyncio.run(with_async())]
    node.garbage = saved
    outcomes.append(with_sync())
    return outcomes


def test_a_read_without_answer_is_asked_again(node):
    node.garbage["eth_blockNumber"] = 2  # two bad answers, the third attempt succeeds
    assert call_both(node, "eth_blockNumber") == ["0x2a", "0x2a"]
    assert node.seen["eth_blockNumber"] == 6


def test_a_write_without_answer_is_never_sent_twice(node):
    node.garbage["eth_sendRawTransaction"] = 1
    outcomes = call_both(node, "eth_sendRawTransaction")
    assert all(isinstance(o, EngineUnreachable) for o in outcomes), outcomes
    assert node.seen["eth_sendRawTransaction"] == 2  # once per client


def test_a_read_that_never_answers_gives_up(node):
    node.garbage["eth_blockNumber"] = 10
    outcomes = call_both(node, "eth_blockNumber")
    assert all(isinstance(o, EngineUnreachable) for o in outcomes), outcomes
    assert node.seen["eth_blockNumber"] == 6  # 1 + 2 retries each


def test_an_error_answer_is_an_engine_error_and_not_retried(node):
    outcomes = call_both(node, "eth_fail")
    assert all(type(o) is EngineError and "no" in str(o) for o in outcomes), outcomes
    with pytest.raises(EngineError, match="batch"):
        SyncEngineClient(node.url).batch([("eth_blockNumber", []), ("eth_fail", [])])
    assert node.seen["eth_fail"] == 3


def test_a_stalled_node_ends_the_call_at_the_timeout(node):
    node.stall_s = 1.0
    outcomes = call_both(node, "eth_sendRawTransaction", timeout=0.2)
    assert all(isinstance(o, EngineUnreachable) for o in outcomes), outcomes


def test_a_sync_batch_answers_in_call_order_across_chunks(node):
    calls = [("eth_blockNumber", [])] * 5
    assert SyncEngineClient(node.url).batch(calls, chunk=2) == ["0x2a"] * 5
