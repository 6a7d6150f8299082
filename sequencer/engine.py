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


class _ClosedBeforeAnswer(Exception):
    """The kept-alive connection to the engine was closed before any answer came back."""


class EngineClient:
    """JSON-RPC over HTTP to one anvil (keep-alive session, batches)."""

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
        self._ids = itertools.count(1)
        self._pipe: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._pipe_lock = asyncio.Lock()

    async def request(self, method: str, params: Any) -> dict[str, Any]:
        """The engine's whole answer (result or error), for proxying."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            async with self._session.post(self.url, json=body) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EngineUnreachable(f"{method} on {self.url}: {exc}") from exc
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise EngineUnreachable(
                f"{method} on {self.url}: not a JSON-RPC answer: {answer!r:.200}"
            )
        return answer

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
        try:
            async with self._session.post(self.url, json=body) as response:
                answers = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise EngineUnreachable(f"batch on {self.url}: {exc}") from exc
        if (
            not isinstance(answers, list)
            or len(answers) != len(calls)
            or not all(isinstance(a, dict) and isinstance(a.get("id"), int) for a in answers)
        ):
            raise EngineUnreachable(
                f"batch on {self.url}: not a JSON-RPC batch answer: {answers!r:.200}"
            )
        answers.sort(key=lambda a: a["id"])
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
