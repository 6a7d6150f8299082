"""`EngineClient`'s own kept-alive HTTP/1.1 connections (`sequencer/engine.py`), on the wire.

Against a real anvil (reuse, restart, concurrent callers) and against local asyncio servers that
misbehave on cue (a connection closed while idle or before the answer, an answer cut midway, no
answer, answers that are not HTTP/1 JSON-RPC, chunked and close-delimited bodies). The policy
under test: one connection serves call after call; a call that may have reached the node is
never sent twice; whatever is not a whole JSON-RPC answer is an `EngineUnreachable` within the
client's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import uvloop

from sequencer import engine as engine_module
from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.engine import EngineClient, EngineUnreachable, engine_session

GUARD_S = 60.0  # no test may hang: a call that neither answers nor fails by then is a failure

Handler = Callable[["Conn"], Awaitable[None]]


class Conn:
    """One accepted connection of a scripted node: read requests, write raw answers."""

    def __init__(self, node: Node, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.node = node
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> dict | None:
        """The next JSON-RPC request on this connection (None: the client closed it)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = json.loads(await self.reader.readexactly(length))
        for call in body if isinstance(body, list) else [body]:
            self.node.seen[call["method"]] += 1
        return body

    async def answer(self, body: object, extra: bytes = b"") -> None:
        data = json.dumps(body).encode()
        self.writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + extra
            + b"Content-Length: %d\r\n\r\n" % len(data)
            + data
        )
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Node:
    """A local HTTP/1.1 server: `handler(conn)` runs for each accepted connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: Counter[str] = Counter()
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> Node:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            conn = Conn(self, reader, writer)
            try:
                await self.handler(conn)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def ok(request: dict, result: object = "0x2a") -> dict:
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


async def answer_all(conn: Conn) -> None:
    """A well-behaved node: answers every request on the connection, keeps it open."""
    while (request := await conn.read_request()) is not None:
        await conn.answer(ok(request))


LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}  # the service's
_loop_factory = asyncio.new_event_loop


@pytest.fixture(autouse=True, params=LOOPS.keys())
def _event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on both event loops: the service runs on uvloop, tests and tools on asyncio."""
    global _loop_factory
    _loop_factory = LOOPS[request.param]
    yield
    _loop_factory = asyncio.new_event_loop


def run(coro: Awaitable[object]) -> object:
    async def guarded() -> object:
        return await asyncio.wait_for(coro, GUARD_S)

    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(guarded())


async def outcome(awaitable: Awaitable[object]) -> object:
    try:
        return await awaitable
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return exc


def send_once(handler: Handler, timeout_s: float) -> tuple[object, Counter[str]]:
    """The outcome of one `eth_sendRawTransaction` call to a node answering with `handler`,
    and the methods the node saw."""

    async def scenario() -> tuple[object, Counter[str]]:
        async with Node(handler) as node, engine_session(timeout_s) as session:
            client = EngineClient(node.url, 1, session)
            result = await outcome(client.call("eth_sendRawTransaction", ["0x01"]))
            await client.close()
            return result, node.seen

    return run(scenario())


# --- against a real anvil ---


class Anvil:
    """One real rollup engine on a free port, which a test can restart (its state gone)."""

    def __init__(self, tmp_path: Path) -> None:
        self.spec = ChainSpec("rollup", "rollup", 901, free_port(), ROLLUP_FLAGS)
        self.tmp_path = tmp_path
        self.starts = 0
        self.net = self._start()

    def _start(self) -> Devnet:
        self.starts += 1
        net = Devnet([self.spec], log_dir=self.tmp_path / f"anvil-{self.starts}")
        net.start()
        return net

    def restart(self) -> None:
        self.net.stop()
        self.net = self._start()


@pytest.fixture
def anvil(tmp_path: Path) -> Iterator[Anvil]:
    node = Anvil(tmp_path)
    try:
        yield node
    finally:
        node.net.stop()


async def counting_proxy(target_port: int) -> tuple[asyncio.Server, list[int]]:
    """A TCP proxy in front of anvil that counts the connections made through it."""
    accepted: list[int] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, accepted


def test_calls_and_batches_reuse_one_connection(anvil):
    async def scenario() -> tuple[int, list[object]]:
        server, accepted = await counting_proxy(anvil.spec.port)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with engine_session(10.0) as session:
            client = EngineClient(url, 901, session)
            results = []
            for _ in range(10):
                results.append(await client.call("eth_chainId"))
                results.append(await client.call("evm_mine"))
                results.append(await client.batch([("eth_blockNumber", []), ("eth_chainId", [])]))
                results.append((await client.request("eth_blockNumber", []))["result"])
            await client.close()
        server.close()
        return len(accepted), results

    connections, results = run(scenario())
    assert connections == 1
    assert results[:2] == ["0x385", "0x0"]
    assert [a["result"] for a in results[2]] == ["0x1", "0x385"]
    assert results[3] == "0x1"
    assert results[-1] == "0xa"  # ten blocks mined, each once


def test_a_restarted_engine_is_reached_again_and_nothing_is_sent_twice(anvil):
    async def scenario() -> list[object]:
        async with engine_session(10.0) as session:
            client = EngineClient(anvil.spec.url, 901, session)
            out = [await client.call("evm_mine"), await client.call("eth_blockNumber")]
            # the engine restarts (its state gone) while the client holds an idle connection;
            # the event loop is blocked meanwhile, so it has not seen the connection close
            anvil.restart()
            out.append(await outcome(client.call("eth_blockNumber")))
            out.append(await outcome(client.call("evm_mine")))  # not idempotent
            out.append(await outcome(client.call("eth_blockNumber")))
            await client.close()
            return out

    assert run(scenario()) == ["0x0", "0x1", "0x0", "0x0", "0x1"]


def test_concurrent_calls_each_get_their_own_answer(anvil):
    async def scenario() -> list[int]:
        async with engine_session(10.0) as session:
            client = EngineClient(anvil.spec.url, 901, session)
            await client.call("anvil_mine", ["0x20"])
            blocks = await asyncio.gather(
                *(client.call("eth_getBlockByNumber", [hex(n), False]) for n in range(33))
            )
            await client.close()
            return [int(block["number"], 16) for block in blocks]

    assert run(scenario()) == list(range(33))


# --- against scripted local nodes ---


def test_concurrent_callers_get_their_answers_out_of_order():
    async def late_in_reverse(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            n = request["params"][0]
            await asyncio.sleep(0.01 * (20 - n))  # the first asked answers last
            await conn.answer(ok(request, {"echo": n, "id": request["id"]}))

    async def scenario() -> list[dict]:
        async with Node(late_in_reverse) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            answers = await asyncio.gather(*(client.request("eth_echo", [n]) for n in range(20)))
            await client.close()
            return answers

    answers = run(scenario())
    assert [a["result"]["echo"] for a in answers] == list(range(20))
    assert all(a["id"] == a["result"]["id"] for a in answers)
    assert len({a["id"] for a in answers}) == 20


def test_an_idle_connection_the_node_closed_is_not_used_again():
    async def scenario() -> tuple[list[object], Counter[str], int]:
        gone = asyncio.Event()

        async def one_answer_then_close(conn: Conn) -> None:
            request = await conn.read_request()
            assert request is not None
            await conn.answer(ok(request), b"Connection: keep-alive\r\n")
            await conn.close()
            gone.set()

        async with Node(one_answer_then_close) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            out = [await outcome(client.call("eth_sendRawTransaction", ["0x01"]))]
            await gone.wait()
            out.append(await outcome(client.call("eth_sendRawTransaction", ["0x02"])))
            await gone.wait()
            out.append(await outcome(client.call("eth_blockNumber")))
            await client.close()
            return out, node.seen, node.accepted

    out, seen, accepted = run(scenario())
    assert out == ["0x2a", "0x2a", "0x2a"]
    assert seen == Counter({"eth_sendRawTransaction": 2, "eth_blockNumber": 1})
    assert accepted == 3


def closes_second_request_unanswered() -> tuple[Handler, list[int]]:
    """A node whose first connection answers one request, then reads the next and closes
    without a byte of answer (as a node restarting, or closing an idle connection just as the
    request arrived); every later connection answers."""
    connections: list[int] = []

    async def handler(conn: Conn) -> None:
        connections.append(1)
        if len(connections) == 1:
            request = await conn.read_request()
            assert request is not None
            await conn.answer(ok(request))
            await conn.read_request()
            return  # closed by the server, unanswered
        await answer_all(conn)

    return handler, connections


def test_a_read_on_a_kept_connection_closed_unanswered_is_asked_again_only_by_call():
    """The client itself never sends a request twice; `call` asks a read again (its retries)."""
    handler, _ = closes_second_request_unanswered()

    async def scenario() -> tuple[list[object], Counter[str]]:
        async with Node(handler) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            out = [
                (await client.request("eth_chainId", []))["result"],
                await outcome(client.request("eth_getBlockByNumber", ["latest", False])),
                await outcome(client.call("eth_getBlockByNumber", ["latest", False])),
            ]
            await client.close()
            return out, node.seen

    handler_two, _ = closes_second_request_unanswered()
    out, seen = run(scenario())
    assert out[0] == "0x2a"
    assert isinstance(out[1], EngineUnreachable), out
    assert out[2] == "0x2a"  # on a new connection
    assert seen["eth_getBlockByNumber"] == 2

    async def retried() -> tuple[list[object], Counter[str]]:
        async with Node(handler_two) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            out = [await client.call("eth_chainId"), await outcome(client.call("eth_blockNumber"))]
            await client.close()
            return out, node.seen

    out, seen = run(retried())
    assert out == ["0x2a", "0x2a"]
    assert seen["eth_blockNumber"] == 2  # the cut one, and call's retry


def test_a_write_on_a_kept_connection_closed_unanswered_is_never_sent_twice():
    handler, _ = closes_second_request_unanswered()

    async def scenario() -> tuple[list[object], Counter[str]]:
        async with Node(handler) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            out = [
                await client.call("eth_chainId"),
                await outcome(client.call("eth_sendRawTransaction", ["0x01"])),
                await outcome(client.call("eth_sendRawTransaction", ["0x02"])),
            ]
            await client.close()
            return out, node.seen

    out, seen = run(scenario())
    assert out[0] == "0x2a"
    assert isinstance(out[1], EngineUnreachable), out
    assert out[2] == "0x2a"  # the next call, on a new connection
    assert seen["eth_sendRawTransaction"] == 2  # each once


def test_a_write_whose_answer_breaks_midway_raises_and_is_not_sent_again():
    async def half_an_answer(conn: Conn) -> None:
        request = await conn.read_request()
        assert request is not None
        conn.writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n{"jsonrpc":"2.0",')
        await conn.writer.drain()

    async def scenario() -> tuple[object, object, Counter[str]]:
        async with Node(half_an_answer) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            write = await outcome(client.call("eth_sendRawTransaction", ["0x01"]))
            read = await outcome(client.call("eth_blockNumber"))
            await client.close()
            return write, read, node.seen

    write, read, seen = run(scenario())
    assert isinstance(write, EngineUnreachable), write
    assert seen["eth_sendRawTransaction"] == 1
    assert isinstance(read, EngineUnreachable), read  # a read is asked again (2 retries), in vain
    assert seen["eth_blockNumber"] == 3


@pytest.mark.parametrize("head_only", [False, True], ids=["silent", "head-then-silent"])
def test_a_node_that_never_answers_ends_the_call_at_the_timeout(head_only):
    async def never(conn: Conn) -> None:
        await conn.read_request()
        if head_only:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await asyncio.Event().wait()

    result, _ = send_once(never, 0.3)
    assert isinstance(result, EngineUnreachable), result


GARBAGE = {
    "not-http": b"hello there\r\n\r\n",
    "bad-status-line": b"HTTP/2 200\r\nContent-Length: 2\r\n\r\n{}",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    "negative-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk-without-crlf": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n"
    ),
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    "html": b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 13\r\n\r\n<html></html>",
    "not-json-rpc": b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"foo":1}',
    "endless-head": b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 100_000,
}


@pytest.mark.parametrize("answer", GARBAGE.values(), ids=GARBAGE.keys())
def test_an_answer_that_is_not_http_json_rpc_is_unreachable(answer):
    async def garbage(conn: Conn) -> None:
        while await conn.read_request() is not None:
            conn.writer.write(answer)
            await conn.writer.drain()

    result, seen = send_once(garbage, 10.0)
    assert isinstance(result, EngineUnreachable), result
    assert seen["eth_sendRawTransaction"] == 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_over_the_size_bound_is_unreachable(monkeypatch, chunked):
    monkeypatch.setattr(engine_module, "MAX_ANSWER_BYTES", 1000, raising=False)

    async def big(conn: Conn) -> None:
        request = await conn.read_request()
        assert request is not None
        data = json.dumps(ok(request, "0x" + "00" * 1000)).encode()
        if chunked:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(data), 300):
                part = data[start : start + 300]
                conn.writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            conn.writer.write(b"0\r\n\r\n")
        else:
            conn.writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data)
            )
        await conn.writer.drain()
        await conn.read_request()

    result, _ = send_once(big, 10.0)
    assert isinstance(result, EngineUnreachable), result


def test_chunked_and_close_delimited_answers_are_read():
    async def varied(conn: Conn) -> None:
        while (request := await conn.read_request()) is not None:
            data = json.dumps(ok(request, request["params"])).encode()
            if request["method"] == "eth_chunked":
                conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                conn.writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for i in range(0, len(data), 7):
                    part = data[i : i + 7]
                    conn.writer.write(b"%X;ext=1\r\n%s\r\n" % (len(part), part))
                    await conn.writer.drain()
                conn.writer.write(b"0\r\nX-Trailer: 1\r\n\r\n")
            elif request["method"] == "eth_closing":  # HTTP/1.0: the body ends at the close
                conn.writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
                for i in range(0, len(data), 5):
                    conn.writer.write(data[i : i + 5])
                    await conn.writer.drain()
                return
            else:
                await conn.answer(ok(request))
            await conn.writer.drain()

    async def scenario() -> list[object]:
        async with Node(varied) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            out = [
                await client.call("eth_chunked", ["a" * 50, 1]),
                await client.call("eth_chainId"),  # the same connection, after a chunked answer
                await client.call("eth_closing", ["b" * 50, 2]),
                await client.call("eth_closing", ["c", 3]),
            ]
            await client.close()
            out.append(node.accepted)
            return out

    # one connection until the first close-delimited answer ends it, then a new one
    assert run(scenario()) == [["a" * 50, 1], "0x2a", ["b" * 50, 2], ["c", 3], 2]


def test_a_batch_answered_with_other_ids_is_unreachable():
    """A batch's answers must carry the calls' own ids: answers with one id repeated (or
    another's) are refused, never matched to the wrong call."""

    async def same_id(conn: Conn) -> None:
        while (batch := await conn.read_request()) is not None:
            assert isinstance(batch, list)
            await conn.answer([ok(batch[0], hex(i)) for i in range(len(batch))])

    async def scenario() -> object:
        async with Node(same_id) as node, engine_session(10.0) as session:
            client = EngineClient(node.url, 1, session)
            result = await outcome(client.batch([("eth_blockNumber", []), ("eth_chainId", [])]))
            await client.close()
            return result

    result = run(scenario())
    assert isinstance(result, EngineUnreachable), result
