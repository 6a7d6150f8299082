"""A fault-injecting JSON-RPC proxy (aiohttp) between the service and a real chain, for tests.

`FaultProxy(upstream).start()` listens on a free port and forwards every request to `upstream`
unchanged, except while a fault is set for a method (`proxy.set(method, fault)`; method "*"
means every method): "null" answers `result: null`, "array" answers `result: []`, "badhex"
answers `result: "0xzz"`, "garbage" answers a body that is not JSON, "reset" closes the
connection without an answer (forwarding the request first when `forward_first`), "stall"
holds the answer for `stall_s` seconds. JSON-RPC batches are faulted as a whole. `hits` counts
the requests faulted per method. Pipelined HTTP/1.1 requests on one connection are answered in
order, as the service's engine client needs.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter

import aiohttp
from aiohttp import web

from sequencer.devnet import free_port


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.faults: dict[str, str] = {}
        self._left: dict[str, int] = {}  # faults left for a method set with `times`
        self.forward_first = False  # "reset": let the chain process the request, then cut
        self.stall_s = 5.0
        self.hits: Counter = Counter()
        self.forwarded: Counter = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    # --- control (from the test's thread) ---

    def set(self, method: str, fault: str | None, times: int | None = None) -> None:
        """Fault `method` ("*": all) from now on, or only its next `times` requests."""
        if fault is None:
            self.faults.pop(method, None)
            self._left.pop(method, None)
        else:
            self.faults[method] = fault
            if times is not None:
                self._left[method] = times

    def clear(self) -> None:
        self.faults.clear()

    def start(self) -> FaultProxy:
        self._thread.start()
        assert self._ready.wait(10), "fault proxy did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # --- the server ---

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        async with aiohttp.ClientSession() as session:
            self._session = session
            self._ready.set()
            await self._stop.wait()
        await runner.cleanup()

    def _fault_for(self, body) -> tuple[str | None, str]:
        calls = body if isinstance(body, list) else [body]
        for call in calls:
            method = call.get("method", "") if isinstance(call, dict) else ""
            key = method if method in self.faults else "*"
            fault = self.faults.get(key)
            if fault is not None:
                if key in self._left:
                    self._left[key] -= 1
                    if self._left[key] <= 0:
                        del self._left[key]
                        del self.faults[key]
                return fault, method
        return None, ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fault, method = self._fault_for(body) if body is not None else (None, "")
        if fault is not None:
            self.hits[method] += 1
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
        if fault == "reset" and not self.forward_first:
            return self._reset(request)
        answer = await self._forward(request, raw)
        self.forwarded[method] += 1
        if fault == "reset":
            return self._reset(request)
        if fault in ("null", "array", "badhex"):
            value = {"null": None, "array": [], "badhex": "0xzz"}[fault]
            calls = body if isinstance(body, list) else [body]
            faulted = [{"jsonrpc": "2.0", "id": c.get("id"), "result": value} for c in calls]
            return web.json_response(faulted if isinstance(body, list) else faulted[0])
        if fault == "garbage":
            return web.Response(body=b"<html>502 bad gateway</html>", content_type="text/html")
        return web.Response(body=answer, content_type="application/json")

    async def _forward(self, request: web.Request, raw: bytes) -> bytes:
        url = self.upstream.rstrip("/") + request.path
        async with self._session.post(
            url, data=raw, headers={"Content-Type": "application/json"}
        ) as response:
            return await response.read()

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()  # RST: the client sees a reset, no answer
        raise ConnectionResetError("fault proxy: connection reset")
