"""The HTTP fast path of sequencer/rpc.py: what `simple_post` takes (a whole plain POST) and
leaves to aiohttp (everything else, from its first byte), answers byte-identical to aiohttp's
but for the Date header, and the same JSON-RPC answers over both paths on a sequencer over
in-memory engines (tests/sequencer/fakes.py), pipelined and kept alive."""

import asyncio
import json
import re

import pytest
from aiohttp import web
from fakes import KEYS, start_sequencer, transfer

from sequencer.metrics import Metrics
from sequencer.rpc import (
    WAIT,
    HttpFront,
    RpcServer,
    SimplePost,
    _GuardedHandler,
    http_answer,
    simple_post,
)

BODY = b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}'


def post(path: str = "/901", body: bytes = BODY, headers: bytes = b"Host: x\r\n") -> bytes:
    return b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
        path.encode(),
        headers,
        len(body),
        body,
    )


def test_a_plain_post_is_read_whole():
    assert simple_post(post(), 10_000) == SimplePost("901", "/901", None, BODY)
    assert simple_post(post("/"), 10_000) == SimplePost(None, "/", None, BODY)
    forwarded = post(headers=b"X-Sequencer-Forwarded-By: 0xab\r\nconnection: Keep-Alive\r\n")
    assert simple_post(forwarded, 10_000) == SimplePost("901", "/901", "0xab", BODY)


def test_an_incomplete_head_or_a_head_alone_waits():
    whole = post()
    head = whole[: whole.index(b"\r\n\r\n") + 4]
    for cut in (1, 5, 20, len(head) - 1):
        assert simple_post(whole[:cut], 10_000) is WAIT
    assert simple_post(head, 10_000) is WAIT  # the body follows in the next segment


@pytest.mark.parametrize(
    "raw",
    [
        post()[:-3],  # part of the body: a slow body is aiohttp's (408)
        post() + post(),  # pipelined
        post() + b"P",
        post().replace(b"HTTP/1.1", b"HTTP/1.0"),
        post().replace(b"POST", b"GET "),
        post("/abc"),
        post("/901?x=1"),
        post("/%39"),
        post(headers=b"Transfer-Encoding: chunked\r\n"),
        post(headers=b"Content-Encoding: gzip\r\n"),
        post(headers=b"Expect: 100-continue\r\n"),
        post(headers=b"Upgrade: h2c\r\n"),
        post(headers=b"Connection: close\r\n"),
        post(headers=b"Content-Length: 5\r\n"),  # twice
        post(headers=b"Bad Header: 1\r\n"),
        post(headers=b"X-A: 1\r\n continued\r\n"),  # obs-fold
        post(headers=b"X-A: \x80\r\n"),
        post(headers=b"X-A: a\x00b\r\n"),
        post(headers=b"X-A: 1\n"),
        post(headers=b"X: " + b"a" * 9000 + b"\r\n"),
        post(headers=b"".join(b"X-%d: 1\r\n" % i for i in range(70))),
        b"POST /901 HTTP/1.1\r\nHost: x\r\n\r\n",  # no length
        b"PUT /901 HTTP/1.1\r\n",
        b"\r\n" + post(),
    ],
)
def test_anything_else_is_left_to_aiohttp(raw):
    assert simple_post(raw, 10_000) is None


def test_a_body_over_the_limit_is_left_to_aiohttp():
    assert simple_post(post(), len(BODY) - 1) is None  # aiohttp's handler answers 413


def _mask_date(raw: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: -\r\n", raw)


async def _raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"Content-Length: (\d+)", head)
    body = await reader.readexactly(int(length[1])) if length else b""
    writer.close()
    return head + body


def test_fast_answers_are_aiohttps_bytes():
    """`http_answer` against aiohttp's own response to `RpcServer._reply`, for a JSON answer,
    an error, a 404, a refused notification and a 204."""
    rpc = RpcServer.__new__(RpcServer)
    rpc.metrics = Metrics()
    cases = {
        "/a": ({"jsonrpc": "2.0", "id": 1, "result": "0x385"}, 200),
        "/b": ([{"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "é"}}], 404),
        "/c": (None, 429),
        "/d": ([], 200),
    }

    async def go():
        async def handler(request: web.Request) -> web.Response:
            await request.read()
            return rpc._reply(*cases[request.path])

        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            for path, (body, status) in cases.items():
                theirs = await _raw_exchange(port, post(path))
                ours = http_answer(*rpc.render(body, status))
                assert _mask_date(ours) == _mask_date(theirs)
        finally:
            await runner.cleanup()

    asyncio.run(go())


def test_both_paths_answer_alike_pipelined_and_kept_alive(tmp_path, monkeypatch):
    fallbacks = []
    original = _GuardedHandler._fall_back

    def counted(self):
        fallbacks.append(bytes(self._fast_buf or b""))
        original(self)

    monkeypatch.setattr(_GuardedHandler, "_fall_back", counted)

    async def go():
        stack = await start_sequencer(tmp_path)
        front = HttpFront(RpcServer(stack.seq, stack.seq.config, stack.seq.metrics))
        await front.start("127.0.0.1", 0)
        port = front._listener.sockets[0].getsockname()[1]
        try:
            calls = [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "seq_sendRawTransaction",
                    "params": ["0x" + transfer(KEYS[0], 901, 0).hex()],
                },
                [{"jsonrpc": "2.0", "id": 3, "method": "nope"}, {"jsonrpc": "2.0", "method": "x"}],
                {
                    "jsonrpc": "2.0",
                    "id": 4,
                    "method": "seq_sendRawTransaction",
                    "params": ["0x" + transfer(KEYS[0], 901, 0).hex()],
                },  # the same: its promise
                {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification: 204
                "not json",
            ]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            fast = []
            for call in calls:  # one connection, one request at a time: all fast
                body = call.encode() if isinstance(call, str) else json.dumps(call).encode()
                writer.write(post("/901", body))
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                fast.append(head + (await reader.readexactly(int(length[1])) if length else b""))
            assert fallbacks == []
            # the same requests pipelined on another connection: aiohttp answers them, in order
            reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
            writer2.write(
                b"".join(
                    post("/901", c.encode() if isinstance(c, str) else json.dumps(c).encode())
                    for c in calls
                )
            )
            slow = []
            for _ in calls:
                head = await reader2.readuntil(b"\r\n\r\n")
                length = re.search(rb"Content-Length: (\d+)", head)
                slow.append(head + (await reader2.readexactly(int(length[1])) if length else b""))
            assert len(fallbacks) == 1
            for a, b in zip(fast, slow, strict=True):
                assert _mask_date(a) == _mask_date(b)
            assert b'"result": "0x385"' in fast[0] and b"204 No Content" in fast[4]
            assert b"-32601" in fast[2] and b"-32700" in fast[5]
            assert json.loads(fast[1].split(b"\r\n\r\n")[1])["result"]["index"] == 0
            writer.close()
            writer2.close()
        finally:
            await front.stop()
            await stack.seq.stop()

    asyncio.run(go())


def test_a_head_whose_body_never_comes_is_answered_408_and_an_idle_connection_closed(tmp_path):
    """A head sent alone waits for its body on the fast path; when the header timer fires it
    goes to aiohttp, which answers the missing body 408 and closes, as before the fast path.
    A connection kept alive after a fast answer is closed after `idle_timeout_s`."""

    async def go():
        stack = await start_sequencer(
            tmp_path, header_timeout_s=0.3, body_timeout_s=0.3, idle_timeout_s=0.5
        )
        front = HttpFront(RpcServer(stack.seq, stack.seq.config, stack.seq.metrics))
        await front.start("127.0.0.1", 0)
        port = front._listener.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /901 HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)  # to EOF: answered, then closed
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer
            assert json.loads(body)["error"] == {
                "code": -32600,
                "message": "request body not received in time",
            }
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post())  # answered on the fast path, then idle
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(re.search(rb"Content-Length: (\d+)", head)[1])
            await reader.readexactly(length)
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed when idle
            writer.close()
        finally:
            await front.stop()
            await stack.seq.stop()

    asyncio.run(go())
