"""Connections an outsider holds open cannot starve the service: idle and slowloris connections
are closed after `idle_timeout_s` / `header_timeout_s`, a slow body after `body_timeout_s`, and a
client address holds at most `max_connections_per_client` connections; meanwhile a normal
client is answered (with a 1 s client timeout: a bound, not a speed measurement)."""

from __future__ import annotations

import errno
import json
import selectors
import socket
import threading
import time

import requests

CALL = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}


def _connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (EOF or reset); never blocks."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def _wait_closed(socks: list[socket.socket], within_s: float) -> list[socket.socket]:
    """Wait up to `within_s` for the server to close every socket; the ones still open."""
    selector = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_ = set(socks)
    end = time.monotonic() + within_s
    while open_ and time.monotonic() < end:
        for key, _ in selector.select(timeout=0.2):
            if _closed_by_server(key.fileobj):
                selector.unregister(key.fileobj)
                open_.discard(key.fileobj)
    selector.close()
    return list(open_)


def _normal_call(url: str) -> None:
    answer = requests.post(url + "/901", json=CALL, timeout=1.0).json()
    assert answer == {"jsonrpc": "2.0", "id": 1, "result": hex(901)}


class Slowloris:
    """Connections that send a request's headers one line at a time and never finish them."""

    def __init__(self, port: int, count: int, source: str, every_s: float = 0.2) -> None:
        self.socks = [_connect(port, source) for _ in range(count)]
        self.every_s = every_s
        self.closed: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Slowloris:
        for sock in self.socks:
            sock.sendall(b"POST /901 HTTP/1.1\r\nHost: x\r\n")
        self._thread.start()
        return self

    def _run(self) -> None:
        line = 0
        while not self._stop.wait(self.every_s) and len(self.closed) < len(self.socks):
            line += 1
            for i, sock in enumerate(self.socks):
                if i in self.closed:
                    continue
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                except OSError:
                    self.closed.add(i)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.socks:
            sock.close()


def _closed_count(service, reason: str) -> float:
    """`seq_connections_closed_total{reason}` of the service's metrics."""
    registry = service.seq.metrics.registry
    return registry.get_sample_value("seq_connections_closed_total", {"reason": reason}) or 0.0


def test_idle_and_slowloris_connections_are_closed_and_a_client_is_still_answered(
    start_service,
):
    service = start_service(idle_timeout_s=3.0, header_timeout_s=1.5)
    port = service.config.port
    # the attackers' addresses are not the client's (each stays under the default cap of 512)
    idle = [_connect(port, source="127.0.0.2") for _ in range(500)]
    try:
        with Slowloris(port, 20, source="127.0.0.3") as slow:
            for _ in range(5):
                _normal_call(service.url)
            # a kept-alive client that sends its requests promptly is not cut off
            with requests.Session() as session:
                for _ in range(3):
                    answer = session.post(service.url + "/901", json=CALL, timeout=1.0).json()
                    assert answer["result"] == hex(901)
                    time.sleep(1.0)  # under idle_timeout_s between requests
            # every slowloris connection is closed (header_timeout_s after its first byte)...
            end = time.monotonic() + 20
            while len(slow.closed) < len(slow.socks) and time.monotonic() < end:
                time.sleep(0.2)
            assert len(slow.closed) == len(slow.socks), f"{len(slow.closed)} of 20 closed"
            assert _closed_count(service, "header_timeout") >= len(slow.socks)
        # ... and every idle one (idle_timeout_s after it opened)
        assert _wait_closed(idle, within_s=20) == []
        _normal_call(service.url)
    finally:
        for sock in idle:
            sock.close()
    assert service.seq.halted is None


def test_a_client_address_holds_at_most_its_connection_cap(start_service):
    service = start_service(max_connections_per_client=8, idle_timeout_s=30.0)
    port = service.config.port
    other = [_connect(port, source="127.0.0.2") for _ in range(20)]
    try:
        time.sleep(0.5)  # the service accepts them (and closes the ones over the cap)
        still_open = _wait_closed(other, within_s=3)
        assert len(still_open) == 8
        assert _closed_count(service, "over_cap") == 12  # counted for the operator
        # another address is not affected
        _normal_call(service.url)
        # a connection within the cap is served
        still_open[0].setblocking(True)
        still_open[0].settimeout(5)
        body = json.dumps(CALL).encode()
        still_open[0].sendall(
            b"POST /901 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert b'"result": "0x385"' in still_open[0].recv(65536)
        # once they close, the address may connect again
        for sock in still_open:
            sock.close()
        end = time.monotonic() + 10
        while True:  # the service sees the closes in its own time
            again = _connect(port, source="127.0.0.2")
            if _wait_closed([again], within_s=0.5) or time.monotonic() > end:
                break  # still open: admitted
            again.close()
        assert _wait_closed([again], within_s=0.5) == [again]
        again.close()
    finally:
        for sock in other:
            sock.close()


def test_a_body_that_never_arrives_is_answered_and_its_connection_closed(start_service):
    service = start_service(body_timeout_s=1.0, header_timeout_s=1.0)
    sock = _connect(service.config.port)
    try:
        sock.settimeout(10)
        sock.sendall(
            b"POST /901 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"jsonrpc"'
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(body)["error"] == {
            "code": -32600,
            "message": "request body not received in time",
        }
        assert _wait_closed([sock], within_s=15) == []  # at once, not after a lingering read
    finally:
        sock.close()
    _normal_call(service.url)


def test_a_client_that_never_reads_its_answers_is_cut_off(start_service):
    """Pipelined batches whose answers (~1 MB each) the client never reads: once they back up
    for `write_timeout_s`, the connection is aborted (a graceful close would wait forever for
    the client to read)."""
    service = start_service(write_timeout_s=1.0)
    batch = json.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": "seq_status", "params": []} for i in range(1000)]
    ).encode()
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(batch), batch)
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind(("127.0.0.2", 0))
    sock.connect(("127.0.0.1", service.config.port))
    try:
        sock.settimeout(10)
        for _ in range(12):
            sock.sendall(request)
        _normal_call(service.url)  # meanwhile others are served
        # aborted: the service sent a reset (a recv would first return the bytes still queued)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNRESET:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the connection was not aborted")
        assert _closed_count(service, "write_timeout") == 1
    finally:
        sock.close()
    _normal_call(service.url)
    assert service.seq.halted is None
