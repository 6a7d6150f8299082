"""Local chain process manager: starts the L1 and rollup anvils of the devnet, and stops them.

It owns the anvil processes it starts and nothing else: it never reuses or kills a process it did
not start (a port already in use is refused with the name of what holds it), and every child dies
with the manager, even when the manager itself is killed with SIGKILL (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ANVIL_RELATIVE = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")

# The devnet's well-known mnemonic: anvil's default. DEVNET ONLY: these keys are public.
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"

L1_FLAGS = ("--block-time", "1", "--hardfork", "prague")
L1_TEST_FLAGS = ("--hardfork", "prague")  # automine in tests
# Every rollup engine starts from the same genesis (fixed genesis timestamp), so that a fresh
# engine that replays the same transactions with the same block timestamps reproduces every block
# hash and state root: this is what derivation from L1 relies on.
ROLLUP_GENESIS_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
ROLLUP_FLAGS = (
    "--no-mining",
    "--order",
    "fifo",
    "--hardfork",
    "prague",
    "--timestamp",
    str(ROLLUP_GENESIS_TIMESTAMP),
)


class DevnetError(RuntimeError):
    """A chain could not be started, or did not answer as expected."""


class PortInUseError(DevnetError):
    """A port the devnet needs is held by another process."""


@dataclass(frozen=True)
class ChainSpec:
    """One chain of the devnet: its name in the manifest, its role, chain id, port and flags."""

    name: str
    role: str  # "l1" or "rollup"
    chain_id: int
    port: int
    flags: tuple[str, ...] = ()
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def default_specs(
    l1_port: int = 8545,
    rollup_ports: Sequence[int] = (9545, 9546),
    rollup_chain_ids: Sequence[int] = (901, 902),
    *,
    l1_automine: bool = False,
    rollup_gas_limit: int | None = None,
) -> list[ChainSpec]:
    """The chains of DESIGN §2: an L1 (31337) and one rollup per (port, chain id)."""
    if len(rollup_ports) != len(rollup_chain_ids):
        raise ValueError("one port per rollup chain id")
    specs = [ChainSpec("l1", "l1", 31337, l1_port, L1_TEST_FLAGS if l1_automine else L1_FLAGS)]
    rollup_flags: tuple[str, ...] = ROLLUP_FLAGS
    if rollup_gas_limit is not None:
        rollup_flags = rollup_flags + ("--gas-limit", str(rollup_gas_limit))
    for index, (port, chain_id) in enumerate(zip(rollup_ports, rollup_chain_ids, strict=True)):
        name = "rollup_" + chr(ord("a") + index)
        specs.append(ChainSpec(name, "rollup", chain_id, port, rollup_flags))
    return specs


def anvil_binary(root: Path = PROJECT_ROOT) -> Path:
    """The platform anvil binary from the pinned npm package (not the Node wrapper)."""
    path = root / ANVIL_RELATIVE
    if not path.is_file():
        raise DevnetError(f"anvil not found at {path}: run `make setup` first")
    return path


_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now, never the same one twice in a process.

    The kernel may hand back a port it just gave (the probe socket is closed again), so two
    calls in a row — two chains about to start — could otherwise get the same port.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_holder(port: int) -> str | None:
    """Describe the process listening on `port` ("pid 123: anvil --port ..."), or None if free.

    Reads /proc (Linux) to find the socket's owner; falls back to "an unknown process" when the
    owner is not visible to this user.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            pass
        else:
            return None
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh, None)
            for line in fh:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return f"pid {pid}: {_cmdline(int(pid))}"
    return "an unknown process"


def anvils_on(ports: Sequence[int]) -> list[int]:
    """PIDs of live anvil processes started with `--port P` for one of `ports`."""
    wanted = {f"--port {p}" for p in ports}
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        cmd = _cmdline(int(pid))
        if "anvil" in cmd and any(w + " " in cmd + " " for w in wanted) and process_alive(int(pid)):
            found.append(int(pid))
    return found


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 2.0) -> Any:
    """One JSON-RPC call with the standard library; raises DevnetError on an error answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise DevnetError(f"{method} on {url}: {answer['error']}")
    return answer["result"]


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL this process when its parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)  # own process group: a Ctrl-C in the terminal reaches the manager only


@dataclass
class RunningChain:
    spec: ChainSpec
    pid: int
    log_path: str


@dataclass
class Devnet:
    """Starts and stops a set of anvil chains. Use as a context manager, or start()/stop()."""

    specs: list[ChainSpec]
    log_dir: Path
    state_file: Path | None = None
    anvil: Path = field(default_factory=anvil_binary)
    startup_timeout: float = 20.0
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict, init=False)

    def __enter__(self) -> Devnet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- starting ---

    def start(self) -> None:
        """Start every chain, wait until each answers with its chain id, write the state file."""
        for spec in self.specs:
            holder = port_holder(spec.port)
            if holder is not None:
                raise PortInUseError(
                    f"port {spec.port} (for {spec.name}, chain id {spec.chain_id}) is already in "
                    f"use by {holder}; stop it (`sequencer devnet down`) or choose other ports"
                )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for spec in self.specs:
                self._spawn(spec)
            for spec in self.specs:
                self._wait_ready(spec)
        except BaseException:
            self.stop()
            raise
        self._write_state()

    def _spawn(self, spec: ChainSpec) -> None:
        command = [
            str(self.anvil),
            "--host",
            spec.host,
            "--port",
            str(spec.port),
            "--chain-id",
            str(spec.chain_id),
            "--mnemonic",
            DEVNET_MNEMONIC,
            *spec.flags,
        ]
        log = open(self.log_dir / f"{spec.name}.log", "wb")  # noqa: SIM115 (closed in stop)
        self._logs[spec.name] = log
        self._procs[spec.name] = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            close_fds=True,
        )

    def _wait_ready(self, spec: ChainSpec) -> None:
        proc = self._procs[spec.name]
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = (self.log_dir / f"{spec.name}.log").read_text(errors="replace")[-2000:]
                raise DevnetError(f"anvil for {spec.name} exited with {proc.returncode}:\n{log}")
            try:
                chain_id = int(rpc_call(spec.url, "eth_chainId"), 16)
            except (OSError, urllib.error.URLError, DevnetError):
                time.sleep(0.05)
                continue
            if chain_id != spec.chain_id:
                raise DevnetError(
                    f"{spec.url} answered chain id {chain_id}, expected {spec.chain_id}"
                )
            return
        raise DevnetError(f"anvil for {spec.name} did not answer on {spec.url} in time")

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {
            "manager_pid": os.getpid(),
            "chains": [
                {
                    **asdict(chain.spec),
                    "url": chain.spec.url,
                    "pid": chain.pid,
                    "log": chain.log_path,
                }
                for chain in self.running()
            ],
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    # --- inspecting ---

    def running(self) -> list[RunningChain]:
        return [
            RunningChain(spec, self._procs[spec.name].pid, str(self.log_dir / f"{spec.name}.log"))
            for spec in self.specs
            if spec.name in self._procs
        ]

    def spec(self, name: str) -> ChainSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    # --- stopping ---

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every chain this manager started (SIGTERM, then SIGKILL), remove the state file."""
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self._procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()
        if self.state_file is not None:
            with contextlib.suppress(FileNotFoundError):
                if json.loads(self.state_file.read_text()).get("manager_pid") == os.getpid():
                    self.state_file.unlink()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so `with Devnet()` cleans up."""

    def _raise(signum: int, _frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt(f"signal {signum}")

    # SIGINT too: a process started in the background by a non-interactive shell inherits SIGINT
    # ignored, and Ctrl-C (or `kill -INT`) must still stop the devnet.
    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, _raise) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Child:
    """A helper process of the devnet (the sequencer, the batcher, the demo): it dies with us."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(name: str, command: list[str], log_path: Path, cwd: Path = PROJECT_ROOT) -> Child:
    """Start a helper process that is killed if this process dies (PR_SET_PDEATHSIG)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            close_fds=True,
        )
    return Child(name, proc, log_path)


def read_state(state_file: Path) -> dict | None:
    """The state file written by a running manager, or None if there is none."""
    try:
        return json.loads(state_file.read_text())
    except FileNotFoundError:
        return None


def stop_from_state(state_file: Path) -> list[str]:
    """Stop the chains that another manager recorded (`sequencer devnet down`).

    Signals the manager first (it then stops its own children); any anvil still alive afterwards
    is killed only if its command line is still that of an anvil on the recorded port.
    """
    state = read_state(state_file)
    if state is None:
        return []
    stopped = []
    manager = state.get("manager_pid")
    if manager and process_alive(manager):
        with contextlib.suppress(ProcessLookupError):
            os.kill(manager, signal.SIGTERM)
        _wait_gone([manager], 10.0)
    for chain in state["chains"]:
        pid = chain["pid"]
        if (
            process_alive(pid)
            and "anvil" in _cmdline(pid)
            and f"--port {chain['port']}" in _cmdline(pid)
        ):
            os.kill(pid, signal.SIGTERM)
            _wait_gone([pid], 5.0)
        stopped.append(chain["name"])
    with contextlib.suppress(FileNotFoundError):
        state_file.unlink()
    return stopped


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process_alive(p) for p in pids):
        time.sleep(0.05)


def chain_status(url: str) -> dict:
    """Chain id and head block of a chain, or the error that prevented reading them."""
    try:
        return {
            "chain_id": int(rpc_call(url, "eth_chainId"), 16),
            "block": int(rpc_call(url, "eth_blockNumber"), 16),
        }
    except (OSError, urllib.error.URLError, DevnetError) as exc:
        return {"error": str(exc)}


if __name__ == "__main__":  # pragma: no cover - convenience for debugging
    sys.exit("use `sequencer devnet up|down|status`")
