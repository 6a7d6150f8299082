"""The one JSON-RPC client of rollup engines, the L1 and the sequencer's own RPC, and its errors.

`EngineClient` (asyncio: keep-alive calls, batches, the pipelined in-order send) and
`SyncEngineClient` (the same for synchronous callers) own the wire: which calls are safe to retry
(`IDEMPOTENT`), the timeouts, and one error hierarchy (`EngineFault` > `EngineError` >
`EngineUnreachable`). They never decide what to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import select
import socket
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import requests
from yarl import URL


class EngineFault(RuntimeError):
    """A rollup engine did not answer, or not as JSON-RPC (a reset, a stall, a wrong shape): a
    slot that meets one is recovered and built again (`Builder.run`); only a fault that lasts
    longer than the retry budget halts the service. (`EngineError` is one.)"""


# A whole HTTP request to a node (connect, send, answer) may take this long unless the caller
# says otherwise; the service sets its own (`ServiceConfig.engine_timeout_s`, the same default).
REQUEST_TIMEOUT_S = 30.0
PIPE_READ_TIMEOUT_S = 30.0  # default: a pipelined send waits this long for the next answer bytes
# One pipelined eth_sendRawTransaction body (EngineClient.send_in_order): id, raw tx hex.
_SEND_RAW = b'{"jsonrpc":"2.0","id":%d,"method":"eth_sendRawTransaction","params":["0x%s"]}'


class EngineError(EngineFault):
    """A rollup engine or the L1 answered with an error or not at all."""


class EngineUnreachable(EngineError):
    """No JSON-RPC answer came back (a reset, a timeout, a body that is not JSON-RPC): the
    request may or may not have been processed."""


# Calls that change nothing on the node (or set what they set again): `EngineClient.call`
# retries them at once when no answer came back.
IDEMPOTENT = frozenset(
    {
        "eth_blockNumber",
        "eth_chainId",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getTransactionReceipt",
        "eth_getBlockReceipts",
        "eth_getLogs",
        "eth_getTransactionCount",
        "eth_getBalance",
        "eth_getCode",
        "eth_call",
        "txpool_status",
        "trace_block",
        "anvil_dropAllTransactions",
        "anvil_setNextBlockBaseFeePerGas",
    }
)
CALL_RETRIES = 2  # extra attempts of an idempotent call, 0.1 s and 0.3 s later
MAX_ANSWER_BYTES = 256 << 20  # a larger answer body is refused (EngineUnreachable)
MAX_HEAD_BYTES = 64 << 10  # an answer's status line and headers; a chunk-size line: 1 KiB
KEEP_IDLE = 8  # idle kept-alive connections an `EngineClient` keeps for its next calls
MAX_CONNECTIONS = 64  # calls of one `EngineClient` at once; more wait for one to end


class _ClosedBeforeAnswer(Exception):
    """The kept-alive connection to the engine was closed before any answer came back."""


class _NoAnswer(Exception):
    """A call's connection broke before its whole answer came, or the answer is not HTTP this
    client reads; the connection is closed."""


# What `_HttpConn` is reading of the current answer.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_CLOSE, _IDLE = range(7)


class _HttpConn(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection to a node, one request at a time (`exchange`): the
    answer's body (Content-Length, chunked, or until the node closes), at most
    `MAX_ANSWER_BYTES`; anything else it cannot read is a `_NoAnswer`. A plain protocol, no
    streams: its cost per call is a write and, mostly, one `data_received`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._poll: Any = None  # select.poll of the socket, once connected
        self.open = False  # connected, and the node has not closed or sent anything unasked
        self.reusable = False  # the last answer ended cleanly and the node keeps the connection
        self._answer: asyncio.Future[bytes] | None = None
        self._state = _IDLE
        self._buf = bytearray()
        self._body = bytearray()
        self._need = 0
        self._keep = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's: no subclass)
        self.open = True
        sock = transport.get_extra_info("socket")
        if sock is not None:  # (select.poll, not select.select: no limit on the fd's number)
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)

    def usable(self) -> bool:
        """Open, and nothing to read while idle: a node that closed the connection (or sent
        what was not asked) makes it readable, even before the event loop has seen it."""
        return self.open and not (self._poll is not None and self._poll.poll(0))

    def exchange(self, request: bytes) -> asyncio.Future[bytes]:
        """Send one whole request; the future of its answer's body."""
        assert self.transport is not None and self.open and self._state == _IDLE
        self._answer = asyncio.get_running_loop().create_future()
        self.reusable = False
        self._state = _HEAD
        self._keep = True
        self._body = bytearray()
        self.transport.write(request)
        return self._answer

    def close(self) -> None:
        self.open = False
        self.reusable = False
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._state == _IDLE:  # nothing was asked: the connection is no longer in step
            self.close()
            return
        self._buf += data
        try:
            self._read()
        except _NoAnswer as exc:
            self._fail(exc)
            self.close()

    def eof_received(self) -> bool:
        self.open = False
        if self._state == _UNTIL_CLOSE:
            self._finish(keep=False)
        return False  # the transport closes itself: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.reusable = False
        if self._state != _IDLE:
            if self._state == _UNTIL_CLOSE:
                self._finish(keep=False)
            else:
                why = f"connection closed ({exc})" if exc else "connection closed"
                self._fail(_NoAnswer(why))

    def _fail(self, exc: _NoAnswer) -> None:
        self._state = _IDLE
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def _finish(self, keep: bool) -> None:
        self._state = _IDLE
        self.reusable = keep and self._keep and self.open and not self._buf
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(bytes(self._body))

    def _read(self) -> None:
        buf = self._buf
        while True:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise _NoAnswer("answer head too long")
                    return
                self._head(bytes(buf[:end]))
                del buf[: end + 4]
            elif state == _LENGTH:
                if len(buf) < self._need:
                    return
                self._body = buf[: self._need]
                del buf[: self._need]
                self._finish(keep=True)
                return
            elif state == _CHUNK_SIZE or state == _TRAILER:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 1024:
                        raise _NoAnswer("chunk size line too long")
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if state == _TRAILER:
                    if not line:
                        self._finish(keep=True)
                        return
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _NoAnswer(f"bad chunk size {line[:40]!r}") from None
                if size < 0 or len(self._body) + size > MAX_ANSWER_BYTES:
                    raise _NoAnswer(f"answer over {MAX_ANSWER_BYTES} bytes")
                self._need = size
                self._state = _CHUNK_DATA if size else _TRAILER
            elif state == _CHUNK_DATA:
                if len(buf) < self._need + 2:
                    return
                if buf[self._need : self._need + 2] != b"\r\n":
                    raise _NoAnswer("chunk without its CRLF")
                self._body += buf[: self._need]
                del buf[: self._need + 2]
                self._state = _CHUNK_SIZE
            elif state == _UNTIL_CLOSE:
                self._body += buf
                buf.clear()
                if len(self._body) > MAX_ANSWER_BYTES:
                    raise _NoAnswer(f"answer over {MAX_ANSWER_BYTES} bytes")
                return
            else:
                return

    def _head(self, head: bytes) -> None:
        """The status line and headers of an answer: how its body ends."""
        lines = head.split(b"\r\n")
        status = lines[0].split(None, 2)
        if len(status) < 2 or status[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise _NoAnswer(f"not an HTTP/1 answer: {lines[0][:80]!r}")
        if status[1][:1] == b"1":  # 100 Continue and the like: the real answer follows
            return
        keep = status[0] == b"HTTP/1.1"
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise _NoAnswer(f"bad Content-Length {value[:40]!r}") from None
                if length < 0:
                    raise _NoAnswer(f"bad Content-Length {value[:40]!r}")
            elif name == b"transfer-encoding":
                codings = value.strip().lower()
                if codings == b"chunked":
                    chunked = True
                elif codings != b"identity":
                    raise _NoAnswer(f"Transfer-Encoding {codings[:40]!r} not supported")
            elif name == b"content-encoding":
                if value.strip().lower() not in (b"", b"identity"):
                    raise _NoAnswer(f"Content-Encoding {value[:40]!r} not supported")
            elif name == b"connection":
                tokens = value.lower()
                keep = b"keep-alive" in tokens if not keep else b"close" not in tokens
        self._keep = keep
        if chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            if length > MAX_ANSWER_BYTES:
                raise _NoAnswer(f"answer of {length} bytes, over {MAX_ANSWER_BYTES}")
            self._need = length
            self._state = _LENGTH
        else:
            self._keep = False
            self._state = _UNTIL_CLOSE


class EngineClient:
    """JSON-RPC over HTTP to one node: calls and batches on kept-alive connections of its own,
    and the pipelined in-order send (`send_in_order`).

    Every call and batch to an `http://` URL goes over a raw HTTP/1.1 keep-alive connection
    (`_HttpConn`): one per call in flight, at most `MAX_CONNECTIONS` at once, the idle ones kept
    (up to `KEEP_IDLE`) for the next calls. That costs a fraction of aiohttp's client per call,
    which was most of the idle service's CPU (about 40 calls a second to its engines and L1:
    docs/operations.md, "Idle"). The behaviour is the session's: the same total timeout per call
    (`session`'s, connect and wait included), the same errors (`EngineUnreachable`: no
    connection, a reset, a timeout, an answer that is not HTTP/1 with Content-Length, chunked or
    close-delimited body, over `MAX_ANSWER_BYTES`, or not JSON-RPC; `EngineError`: the node's
    error answer), the same retries (`call`: `IDEMPOTENT` methods only, after 0.1 s and 0.3 s).
    A kept connection the node has closed (or sent anything unasked on) is never used again:
    that is checked before each reuse (`_HttpConn.usable`), even if the event loop has not seen
    the close yet. A call whose connection breaks before its whole answer is an
    `EngineUnreachable`, never sent again by the client itself (it may have been processed):
    only `call`'s retries of `IDEMPOTENT` methods ask again, as before.

    Other URLs (https, with credentials) go through `session` (aiohttp), as does what is not an
    engine call: the follower's forwarding to the leader (`leader.py`) uses the session itself.
    `close()` releases the connections (the service closes its clients when it stops).
    """

    def __init__(
        self,
        url: str,
        chain_id: int,
        session: aiohttp.ClientSession,
        read_timeout_s: float = PIPE_READ_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.chain_id = chain_id
        self._session = session
        self.read_timeout_s = read_timeout_s  # a pipelined send with no answer this long: stall
        # a call's whole time (connect, wait for a connection, send, answer): the session's
        self.timeout_s = session.timeout.total or REQUEST_TIMEOUT_S
        self._ids = itertools.count(1)
        self._pipe: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._pipe_lock = asyncio.Lock()
        parsed = URL(url)
        self._raw = parsed.scheme == "http" and not parsed.user and parsed.raw_host is not None
        self._host = parsed.raw_host or "127.0.0.1"
        self._port = parsed.port or 80
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._head = (
            f"POST {parsed.raw_path_qs or '/'} HTTP/1.1\r\nHost: {host}:{self._port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._idle: list[_HttpConn] = []
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._closed = False

    async def request(self, method: str, params: Any) -> dict[str, Any]:
        """The engine's whole answer (result or error), for proxying."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = await self._post(method, body)
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise EngineUnreachable(
                f"{method} on {self.url}: not a JSON-RPC answer: {answer!r:.200}"
            )
        return answer

    async def _post(self, what: str, body: Any) -> Any:
        """The decoded JSON answer to `body`; EngineUnreachable when none came."""
        if not self._raw:
            try:
                async with self._session.post(self.url, json=body) as response:
                    return await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise EngineUnreachable(f"{what} on {self.url}: {exc}") from exc
        data = json.dumps(body, separators=(",", ":")).encode()
        request = self._head + str(len(data)).encode() + b"\r\n\r\n" + data
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self._exchange(request)
        except TimeoutError:
            raise EngineUnreachable(
                f"{what} on {self.url}: no answer within {self.timeout_s:g} s"
            ) from None
        except _NoAnswer as exc:
            raise EngineUnreachable(f"{what} on {self.url}: {exc}") from None
        except OSError as exc:
            raise EngineUnreachable(f"{what} on {self.url}: {exc}") from exc
        try:
            return json.loads(answer)
        except ValueError as exc:
            raise EngineUnreachable(f"{what} on {self.url}: {exc}: {answer[:200]!r}") from exc

    async def _exchange(self, request: bytes) -> bytes:
        """The body of the answer to one HTTP request, on a kept connection or a new one."""
        async with self._slots:
            conn = None
            while self._idle:
                conn = self._idle.pop()
                if conn.usable():
                    break
                conn.close()
                conn = None
            if conn is None:
                loop = asyncio.get_running_loop()
                _, conn = await loop.create_connection(_HttpConn, self._host, self._port)
            try:
                answer = await conn.exchange(request)
            except BaseException:  # no whole answer (a reset, a timeout, a cancel): out of step
                conn.close()
                raise
            if conn.reusable and not self._closed and len(self._idle) < KEEP_IDLE:
                self._idle.append(conn)
            else:
                conn.close()
            return answer

    async def close(self) -> None:
        """Close every kept connection (calls and the pipe); a later call still works, on a
        connection of its own that is closed after it."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        await self.close_pipe()

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        attempt = 0
        while True:
            try:
                answer = await self.request(method, params or [])
                break
            except EngineUnreachable:
                if method not in IDEMPOTENT or attempt >= CALL_RETRIES:
                    raise
                attempt += 1
                await asyncio.sleep(0.1 * (2 * attempt - 1))
        if "error" in answer:
            raise EngineError(f"{method} on {self.url}: {answer['error']}")
        return answer.get("result")

    async def send_in_order(self, raws: list[bytes]) -> list[dict[str, Any]]:
        """eth_sendRawTransaction for each raw tx, processed by the engine strictly in order.

        anvil handles the items of a JSON-RPC batch concurrently (its fifo pool then sees them in
        no fixed order), so the calls go as separate HTTP/1.1 requests pipelined on one kept-alive
        connection, which the engine answers one after the other.
        """
        if not raws:
            return []
        async with self._pipe_lock:
            try:
                return await self._pipelined(raws)
            except _ClosedBeforeAnswer:
                # The engine had closed the idle connection: nothing was processed; once more.
                await self.close_pipe()
                try:
                    return await self._pipelined(raws)
                except _ClosedBeforeAnswer as exc:
                    await self.close_pipe()
                    raise EngineError(f"send to {self.url}: connection closed") from exc
            except EngineError:
                await self.close_pipe()
                raise

    async def close_pipe(self) -> None:
        if self._pipe is not None:
            self._pipe[1].close()
            self._pipe = None

    async def _pipelined(self, raws: list[bytes]) -> list[dict[str, Any]]:
        url = URL(self.url)
        host, port = url.host or "127.0.0.1", url.port or 80
        if self._pipe is None:
            try:
                self._pipe = await asyncio.open_connection(host, port)
            except OSError as exc:
                raise EngineError(f"connect {self.url}: {exc}") from exc
        reader, writer = self._pipe
        answers: list[dict[str, Any]] = []
        head = (
            f"POST {url.raw_path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        try:
            out = bytearray()
            for i, raw in enumerate(raws):
                data = _SEND_RAW % (i, raw.hex().encode())
                out += head + str(len(data)).encode() + b"\r\n\r\n" + data
            # No drain() before reading: the engine answers while it reads, and a writer that
            # waited for the whole body to leave could fill the engine's send buffer first.
            writer.write(out)
            sock = writer.get_extra_info("socket")
            buffer = bytearray()
            while len(answers) < len(raws):
                _quickack(sock)
                try:
                    chunk = await asyncio.wait_for(reader.read(1 << 16), self.read_timeout_s)
                except TimeoutError:
                    raise EngineError(
                        f"send to {self.url}: no answer for {self.read_timeout_s:g} s"
                    ) from None
                if not chunk:
                    if not answers:
                        raise _ClosedBeforeAnswer()
                    raise EngineError(f"{self.url}: connection closed mid-pipeline")
                buffer += chunk
                answers += self._parse_answers(buffer)
            return answers
        except ConnectionError as exc:
            if not answers:
                raise _ClosedBeforeAnswer() from exc
            raise EngineError(f"send to {self.url}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise EngineError(f"send to {self.url}: {exc}") from exc

    def _parse_answers(self, buffer: bytearray) -> list[dict[str, Any]]:
        """Take the complete HTTP responses off the front of `buffer`; their JSON bodies."""
        out: list[dict[str, Any]] = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return out
            length = None
            for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise EngineError(f"{self.url}: answer without length ({bytes(buffer[:end])!r})")
            if len(buffer) < end + 4 + length:
                return out
            out.append(json.loads(bytes(buffer[end + 4 : end + 4 + length])))
            del buffer[: end + 4 + length]

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        first = next(self._ids)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
            for i, (m, p) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = await self._post("batch", body)
        if (
            not isinstance(answers, list)
            or len(answers) != len(calls)
            or not all(isinstance(a, dict) and isinstance(a.get("id"), int) for a in answers)
        ):
            raise EngineUnreachable(
                f"batch on {self.url}: not a JSON-RPC batch answer: {answers!r:.200}"
            )
        answers.sort(key=lambda a: a["id"])
        if [a["id"] for a in answers] != list(range(first, first + len(calls))):
            # an answer per call, each to its own: never one call's answer read as another's
            raise EngineUnreachable(
                f"batch on {self.url}: answer ids {[a['id'] for a in answers][:8]} are not the "
                f"calls' ({first}..{first + len(calls) - 1})"
            )
        return answers


def quantity(value: Any, what: str) -> int:
    """A JSON-RPC quantity ("0x..."), or EngineError for anything else (null, a list, bad hex)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise EngineError(f"{what}: not a quantity: {value!r:.100}")
    try:
        return int(value, 16)
    except ValueError:
        raise EngineError(f"{what}: not a quantity: {value!r:.100}") from None


_TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _quickack(sock: Any) -> None:
    """Ask the kernel to acknowledge the next segments at once. anvil's socket has Nagle's
    algorithm on: without this, the tail of every pipelined answer waits for our delayed ACK
    (up to 40 ms on Linux). The kernel clears the flag by itself, hence before every read."""
    if sock is not None and _TCP_QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


def engine_session(
    timeout_s: float = REQUEST_TIMEOUT_S, connector: aiohttp.BaseConnector | None = None
) -> aiohttp.ClientSession:
    """The HTTP session `EngineClient`s share, with an explicit total timeout per request
    (aiohttp's default is 5 minutes). Use it as `async with engine_session() as session:`."""
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)
    )


class SyncEngineClient:
    """The same client for synchronous callers (batcher, fisherman, CLI tools, tests): one
    keep-alive `requests` session, the same errors (`EngineError`, `EngineUnreachable` when no
    JSON-RPC answer came back), timeout and retries of `IDEMPOTENT` calls as `EngineClient`."""

    def __init__(self, url: str, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.url = url
        self.timeout = timeout
        self._session = requests.Session()
        self._ids = itertools.count(1)

    def _post(self, what: str, body: Any) -> Any:
        try:
            return self._session.post(self.url, json=body, timeout=self.timeout).json()
        except (requests.RequestException, ValueError) as exc:
            raise EngineUnreachable(f"{what} on {self.url}: {exc}") from exc

    def request(self, method: str, params: Any) -> dict[str, Any]:
        """The node's whole answer (result or error)."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        answer = self._post(method, body)
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise EngineUnreachable(
                f"{method} on {self.url}: not a JSON-RPC answer: {answer!r:.200}"
            )
        return answer

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """The result of `method`; EngineError if the node answered with an error."""
        attempt = 0
        while True:
            try:
                answer = self.request(method, params or [])
                break
            except EngineUnreachable:
                if method not in IDEMPOTENT or attempt >= CALL_RETRIES:
                    raise
                attempt += 1
                time.sleep(0.1 * (2 * attempt - 1))
        if "error" in answer:
            raise EngineError(f"{method} on {self.url}: {answer['error']}")
        return answer.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]], chunk: int = 500) -> list[Any]:
        """The results of `calls`, in order, sent as JSON-RPC batches of at most `chunk` calls
        (the sequencer's RPC refuses batches above its `max_batch_len`); EngineError if any
        call answered with an error."""
        out: list[Any] = []
        for start in range(0, len(calls), chunk):
            part = calls[start : start + chunk]
            first = next(self._ids)
            body = [
                {"jsonrpc": "2.0", "id": first + i, "method": m, "params": p}
                for i, (m, p) in enumerate(part)
            ]
            for _ in range(len(part) - 1):
                next(self._ids)
            answers = self._post("batch", body)
            if not isinstance(answers, list):
                error = answers.get("error", answers) if isinstance(answers, dict) else answers
                raise EngineError(f"batch on {self.url}: {error!r:.200}")
            if len(answers) != len(part) or not all(
                isinstance(a, dict) and isinstance(a.get("id"), int) for a in answers
            ):
                raise EngineUnreachable(
                    f"batch on {self.url}: not a JSON-RPC batch answer: {answers!r:.200}"
                )
            answers.sort(key=lambda a: a["id"])
            for answer in answers:
                if "error" in answer:
                    raise EngineError(f"batch on {self.url}: {answer['error']}")
            out.extend(a.get("result") for a in answers)
        return out
