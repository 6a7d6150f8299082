"""Idle benchmark: the CPU of every devnet process while nothing happens (target < 3 % of a core).

    .venv/bin/python bench/idle.py [--seconds 60] [--settle-timeout 240] [--no-tty]

Brings the devnet up the way a user does, `sequencer devnet up --no-demo`, on free ports with its
own state directory (a temporary one: its state file, logs, journal and manifest), so a devnet the
user runs on the default ports is never touched. The live status view runs in a pseudo-terminal,
as in a user's terminal (`--no-tty`: its log mode, a snapshot every 5 s, instead). Then:

1. settle: waits until the contracts are deployed and the sequencer answers, sends one transfer on
   rollup A (anvil's public account #5) and waits until the batcher has posted the first batch to
   L1 (the devnet sequencer leads from the term after it staked: up to ~32 s), then 5 s more;
2. idle: no traffic for `--seconds`; the CPU time (utime + stime of every thread from
   /proc/<pid>/stat, plus cutime + cstime: children it waited for) of EVERY live process of the
   devnet (the `devnet up` manager with its status view, each anvil, the sequencer service, the
   batcher, any helper process they started) is read at both ends of the window, with their
   context switches (all threads, /proc/<pid>/task/*/status: the wake-ups a poller costs);
3. baseline in the same run and window: bare anvils with the devnet's own flags (an L1 mining a
   block per second, a rollup engine that never mines on its own) that nobody talks to: the floor
   under each anvil's figure, what its clients' polling adds above it.

Prints each process's share of one core against the 3 % target, and the total, and writes
bench/results/idle.{json,md}. `--profile DIR` profiles every Python process of the devnet
(cProfile of the main thread's CPU time) over the idle window only, through a `sitecustomize`
hook on PYTHONPATH (SIGUSR1 starts it, SIGUSR2 writes DIR/<process>-<pid>.prof), and prints the
top of each profile; the profiler's own cost then inflates the CPU figures. The devnet (and the
baseline anvils) stop at the end, also on Ctrl-C or an error. Other work on the machine inflates
the figures: repeat and compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evm import write_results  # noqa: E402

from sequencer.devnet import Devnet, _die_with_parent, default_specs, free_port  # noqa: E402

TARGET_CPU_SHARE = 0.03
# anvil's account #5 for the mnemonic "test test ... junk" (README). DEVNET ONLY: a public key.
USER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
TICK = os.sysconf("SC_CLK_TCK")


# --- /proc -----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_s(pid: int) -> float | None:
    """utime + stime + cutime + cstime of `pid`, seconds (every thread; waited-for children)."""
    fields = _stat(pid)
    if fields is None:
        return None
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of `pid` (its wake-ups)."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                    if "ctxt_switches:" in line:
                        total += int(line.split()[-1])
    return total


def descendants(root: int) -> list[int]:
    """`root` and every live process below it (by parent pid), parents first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return out


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def role(pid: int, anvils: dict[int, str]) -> str:
    """A readable name for a devnet process."""
    if pid in anvils:
        return f"anvil {anvils[pid]}"
    cmd = cmdline(pid)
    text = " ".join(cmd)
    if "devnet up" in text or ("devnet" in cmd and "up" in cmd):
        return "devnet up (manager + status view)"
    for sub, name in (("run", "sequencer service"), ("batch", "batcher"), ("watch", "fisherman")):
        if "sequencer.cli" in cmd and sub in cmd:
            return name
    if "demo_workload.py" in text:
        return "demo"
    return Path(cmd[0]).name + " " + " ".join(cmd[1:3]) if cmd else f"pid {pid}"


# The `--profile` hook, imported by every Python process of the devnet (as `sitecustomize`).
PROFILE_HOOK = """
import cProfile, os, signal, sys, time
_out = os.environ.get("IDLE_BENCH_PROFILE_DIR")
if _out:
    _profile = cProfile.Profile(time.thread_time)  # CPU of the main thread, not wall time

    def _start(signum, frame):
        _profile.enable()

    def _dump(signum, frame):
        _profile.disable()
        name = "-".join(a.rsplit("/", 1)[-1] for a in sys.argv[:3] if not a.startswith("-"))
        _profile.dump_stats(os.path.join(_out, f"{name}-{os.getpid()}.prof"))

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _dump)
"""


# --- the devnet ------------------------------------------------------------------------------


class DevnetUp:
    """`sequencer devnet up --no-demo` on free ports, in its own state directory, its output
    drained (in a pseudo-terminal unless `tty` is False) and kept for error messages."""

    def __init__(self, state_dir: Path, tty: bool, profile_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self.l1_port = free_port()
        self.rollup_ports = [free_port(), free_port()]
        self.rpc_port = free_port()
        self.manifest = state_dir / "devnet.json"
        self.state_file = state_dir / "state.json"
        command = [
            str(Path(sys.executable).parent / "sequencer"),
            "devnet",
            "up",
            "--no-demo",
            "--l1-port", str(self.l1_port),
            "--rollup-ports", ",".join(map(str, self.rollup_ports)),
            "--rpc-port", str(self.rpc_port),
            "--state-file", str(self.state_file),
            "--manifest", str(self.manifest),
        ]  # fmt: skip
        self.output = bytearray()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "LINES": "40"}
        if profile_dir is not None:
            hook = state_dir / "hook"
            hook.mkdir(parents=True)
            (hook / "sitecustomize.py").write_text(PROFILE_HOOK)
            profile_dir.mkdir(parents=True, exist_ok=True)
            env |= {"PYTHONPATH": f"{hook}:{ROOT}", "IDLE_BENCH_PROFILE_DIR": str(profile_dir)}
        if tty:
            master, slave = pty.openpty()
            self.proc = subprocess.Popen(
                command, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
            os.close(slave)
            self._fd = master
        else:
            read, write = os.pipe()
            self.proc = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=write, stderr=write,
                env=env, preexec_fn=_die_with_parent,
            )  # fmt: skip
            os.close(write)
            self._fd = read
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk
            del self.output[:-20000]

    def tail(self) -> str:
        return self.output.decode(errors="replace")[-3000:]

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"`sequencer devnet up` exited ({self.proc.returncode}):\n"
                               f"{self.tail()}")  # fmt: skip

    def stop(self) -> None:
        """SIGINT (Ctrl-C in its terminal): it stops every process it started."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    @property
    def rpc(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def anvils(self) -> dict[int, str]:
        state = json.loads(self.state_file.read_text())
        return {c["pid"]: f"{c['name']} ({c['chain_id']})" for c in state["chains"]}

    def batcher_metrics_url(self) -> str | None:
        for pid in descendants(self.proc.pid):
            cmd = cmdline(pid)
            if "batch" in cmd and "--metrics-port" in cmd:
                port = cmd[cmd.index("--metrics-port") + 1]
                return f"http://127.0.0.1:{port}/metrics"
        return None


def _rpc(url: str, method: str, params: list | None = None):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    answer = requests.post(url, json=body, timeout=10).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def _wait(what: str, until: float, net: DevnetUp, probe) -> object:
    while True:
        net.check()
        with contextlib.suppress(requests.RequestException, OSError, ValueError, KeyError):
            result = probe()
            if result:
                return result
        if time.monotonic() > until:
            raise RuntimeError(f"timed out waiting for {what}:\n{net.tail()}")
        time.sleep(0.5)


def batches_posted(url: str) -> float:
    from sequencer.status import metric_sum, parse_metrics

    return metric_sum(parse_metrics(requests.get(url, timeout=5).text), "seq_batcher_batches_total")


def settle(net: DevnetUp, timeout: float) -> dict:
    """Deployed, serving, one transfer pre-confirmed and posted to L1 in the first batch."""
    started = time.monotonic()
    until = started + timeout
    _wait("the sequencer's /health", until, net,
          lambda: requests.get(net.rpc + "/health", timeout=2).ok)  # fmt: skip
    metrics = _wait("the batcher", until, net, net.batcher_metrics_url)
    rollup = f"{net.rpc}/901"
    user = Account.from_key(USER_KEY)
    tx = {
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": 1,
        "gas": 21_000,
        "gasPrice": int(_rpc(rollup, "eth_gasPrice"), 16) * 2,
        "nonce": int(_rpc(rollup, "eth_getTransactionCount", [user.address, "pending"]), 16),
        "chainId": 901,
    }
    raw = user.sign_transaction(tx).raw_transaction
    tx_hash = _rpc(rollup, "eth_sendRawTransaction", ["0x" + raw.hex()])
    _wait("the first batch on L1", until, net, lambda: batches_posted(metrics) >= 1)
    settled = time.monotonic() - started
    time.sleep(5)
    return {"settle_s": round(settled, 1), "tx": tx_hash, "batcher_metrics": metrics}


# --- measuring -------------------------------------------------------------------------------


def reading(pids: list[int]) -> dict[int, tuple[float, int]]:
    out = {}
    for pid in pids:
        cpu = cpu_s(pid)
        if cpu is not None:
            out[pid] = (cpu, context_switches(pid))
    return out


def _signal_pythons(pids: list[int], signum: int) -> None:
    for pid in pids:
        if "python" in Path(cmdline(pid)[0] if cmdline(pid) else "").name:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def measure(
    groups: dict[str, list[int]], names: dict[int, str], seconds: float, profile: bool = False
) -> dict:
    """CPU share of one core and wake-ups per second of each process over `seconds` idle."""
    pids = [pid for members in groups.values() for pid in members]
    if profile:
        _signal_pythons(groups["devnet"], signal.SIGUSR1)
    t0, before = time.monotonic(), reading(pids)
    time.sleep(seconds)
    t1, after = time.monotonic(), reading(pids)
    if profile:
        _signal_pythons(groups["devnet"], signal.SIGUSR2)
        time.sleep(3)  # each writes its profile between two bytecodes of its main thread
    elapsed = t1 - t0
    rows: dict[str, list[dict]] = {}
    for group, members in groups.items():
        rows[group] = []
        for pid in members:
            if pid not in before or pid not in after:
                rows[group].append({"process": names[pid], "pid": pid, "gone": True})
                continue
            share = (after[pid][0] - before[pid][0]) / elapsed
            rows[group].append(
                {
                    "process": names[pid],
                    "pid": pid,
                    "cpu_share": round(share, 5),
                    "wakeups_per_s": round((after[pid][1] - before[pid][1]) / elapsed, 1),
                    "met": share < TARGET_CPU_SHARE,
                }
            )
    return {"seconds": round(elapsed, 1), "rows": rows}


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| process | pid | CPU, % of one core | target | wake-ups/s |",
        "|---|---:|---:|---|---:|",
    ]
    for r in rows:
        if r.get("gone"):
            lines.append(f"| {r['process']} | {r['pid']} | exited during the window | | |")
            continue
        verdict = "met" if r["met"] else "MISSED"
        lines.append(
            f"| {r['process']} | {r['pid']} | {r['cpu_share']:.2%} | < {TARGET_CPU_SHARE:.0%}: "
            f"{verdict} | {r['wakeups_per_s']:,.1f} |"
        )
    total = sum(r.get("cpu_share", 0.0) for r in rows)
    lines.append(f"| **total** | | **{total:.2%}** | | |")
    return lines


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window length")
    parser.add_argument("--settle-timeout", type=float, default=240.0)
    parser.add_argument(
        "--no-tty",
        dest="tty",
        action="store_false",
        help="run `devnet up` without a terminal (its status view then prints every 5 s)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="cProfile every Python process of the devnet over the idle window, into DIR",
    )
    args = parser.parse_args()

    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    results: dict = {"config": config, "target_cpu_share": TARGET_CPU_SHARE}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-idle-")))
        print("starting `sequencer devnet up --no-demo` on free ports ...", flush=True)
        profile_dir = args.profile.resolve() if args.profile else None
        net = DevnetUp(tmp / "devnet", args.tty, profile_dir)
        stack.callback(net.stop)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        stack.callback(signal.signal, signal.SIGTERM, previous)
        results["settle"] = settle(net, args.settle_timeout)
        print(
            f"settled in {results['settle']['settle_s']} s (contracts deployed, one transfer "
            "pre-confirmed and posted in the first batch)",
            flush=True,
        )
        baseline = stack.enter_context(
            Devnet(
                default_specs(free_port(), [free_port()], [903]),
                log_dir=tmp / "baseline-logs",
            )
        )
        time.sleep(2)
        anvils = net.anvils()
        names: dict[int, str] = {}
        devnet_pids = descendants(net.proc.pid)
        for pid in devnet_pids:
            names[pid] = role(pid, anvils)
        base_anvils = {
            c.pid: f"bare anvil, {'L1 flags' if c.spec.role == 'l1' else 'rollup flags'}"
            for c in baseline.running()
        }
        names.update(base_anvils)
        print(f"idle for {args.seconds:.0f} s: {len(devnet_pids)} devnet processes ...", flush=True)
        measured = measure(
            {"devnet": devnet_pids, "baseline": list(base_anvils)},
            names,
            args.seconds,
            profile=profile_dir is not None,
        )
        net.check()
        results.update(measured)

    rows = results["rows"]["devnet"]
    total = sum(r.get("cpu_share", 0.0) for r in rows)
    missed = [r["process"] for r in rows if not r.get("gone") and not r["met"]]
    results["total_cpu_share"] = round(total, 5)
    results["met"] = not missed
    lines = [
        "# Idle devnet: CPU of every process",
        "",
        f"`sequencer devnet up --no-demo` ({'in a terminal' if args.tty else 'no terminal'}), "
        f"settled in {results['settle']['settle_s']} s (contracts deployed, one transfer posted "
        f"in the first batch), then {results['seconds']} s with no traffic. CPU time from "
        "/proc/<pid>/stat (utime + stime + children's), as a share of one core.",
        "",
        *_table(rows),
        "",
        f"Every process under {TARGET_CPU_SHARE:.0%} of a core: "
        + ("met." if not missed else f"MISSED by {', '.join(missed)}."),
        "",
        "Baseline, same window: bare anvils with the devnet's flags, no client.",
        "",
        *_table(results["rows"]["baseline"]),
    ]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    path = write_results("idle", results, markdown)
    print(f"results: {path} (+ .json)")
    if args.profile:
        import pstats

        time.sleep(0.5)
        for prof in sorted(args.profile.glob("*.prof")):
            print(f"--- {prof.name} (tottime) ---")
            pstats.Stats(str(prof)).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the devnet was stopped on the way out (ExitStack)
        sys.exit("interrupted: the devnet is stopped")
