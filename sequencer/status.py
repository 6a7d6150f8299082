"""The live status view of a running devnet (`sequencer status`, and the screen of `make devnet`).

Owns reading what the system is doing — the sequencer's `seq_status` and Prometheus metrics, the
SharedInbox's batches on L1 (payload bytes, L1 gas, L2 transactions per batch), the registry's
stakes — into one `Snapshot`, and drawing it with rich. Read-only: it never sends a transaction.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sequencer import batch_codec as bc
from sequencer.devnet import DevnetError, rpc_call
from sequencer.manifest import Manifest

if TYPE_CHECKING:  # imported lazily below: web3 is slow to import
    from web3 import Web3

    from sequencer.derive import L1BatchSource


# The live view takes a snapshot once per L1 block time (the devnet's L1 mines a block a second):
# what it shows changes at most that often, and each snapshot costs the processes it reads.
REFRESH_S = 1.0
# ... and the service's Prometheus metrics (counters and latency histograms, about 1.6 ms of the
# service's CPU per scrape) at most every 5 s: scraped every second they cost the idle service
# about 0.4 % of a core (bench/idle.py).
METRICS_EVERY_S = 5.0


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {"name{labels}": value} (comments dropped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def metric_sum(metrics: dict[str, float], name: str) -> float:
    """Sum of a metric over all its label sets."""
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def histogram_quantile(metrics: dict[str, float], name: str, q: float) -> float | None:
    """The q-quantile of a Prometheus histogram (upper bound of the bucket that reaches it),
    over all label sets; None with no observations."""
    buckets: dict[float, float] = {}
    for key, value in metrics.items():
        if key.startswith(name + "_bucket{"):
            le = key.split('le="', 1)[1].split('"', 1)[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + value
    if not buckets:
        return None
    total = buckets.get(float("inf"), max(buckets.values()))
    if total == 0:
        return None
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return bound
    return None


@dataclass
class BatchInfo:
    sequence: int
    mode: str
    payload_bytes: int
    l2_txs: int
    l1_gas: int
    l1_block: int


@dataclass
class Snapshot:
    taken_at: float
    sequencer: dict[str, Any] | None = None
    sequencer_error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    l1_head: int | None = None
    batches: list[BatchInfo] = field(default_factory=list)
    stakes: dict[str, int] = field(default_factory=dict)
    leader: str | None = None
    log_tail: list[str] = field(default_factory=list)
    batcher: dict[str, float] | None = None  # the batcher's metrics (None: not configured)
    batcher_revert: str | None = None  # the inbox's reason for the last reverted post
    batcher_error: str | None = None

    @property
    def accepted(self) -> int:
        return int(metric_sum(self.metrics, "seq_tx_accepted_total"))

    @property
    def rejected(self) -> int:
        return int(metric_sum(self.metrics, "seq_tx_rejected_total"))


class Collector:
    """Gathers snapshots; caches what never changes (a posted batch's payload and receipt)."""

    def __init__(
        self,
        manifest: Manifest,
        sequencer_url: str,
        log_file: Path | None = None,
        batcher_metrics_url: str | None = None,
        metrics_every_s: float = 0.0,
    ):
        """`metrics_every_s`: scrape the service's `/metrics` at most this often and show the
        last scrape in the snapshots in between (0: at every snapshot)."""
        self.manifest = manifest
        self.metrics_every_s = metrics_every_s
        self._metrics: dict[str, float] | None = None
        self._metrics_at = 0.0  # time.monotonic() of the last scrape
        self.batcher_metrics_url = batcher_metrics_url
        self.sequencer_url = sequencer_url.rstrip("/")
        self.log_file = log_file
        self._w3: Web3 | None = None
        self._batches: dict[tuple[int, bytes], BatchInfo] = {}
        self._scanned_to = -1  # L1 block up to which BatchPosted events have been read
        self._inbox: L1BatchSource | None = None  # built once: web3 contract objects are slow
        self._registry_contract: tuple[Any, set[str]] | None = None

    def _l1(self) -> Web3:
        if self._w3 is None:
            from web3 import Web3
            from web3.types import RPCEndpoint

            # the chain id (web3 checks it before each eth_call) is read once, not every call
            provider = Web3.HTTPProvider(
                self.manifest.l1.rpc_url,
                request_kwargs={"timeout": 3},
                cache_allowed_requests=True,
                cacheable_requests={RPCEndpoint("eth_chainId")},
            )
            self._w3 = Web3(provider)
        return self._w3

    def _source(self, w3: Web3) -> L1BatchSource:
        """The SharedInbox's batches, through one contract object for every snapshot."""
        if self._inbox is None:
            from sequencer.derive import L1BatchSource

            entry = self.manifest.l1.contracts["SharedInbox"]
            self._inbox = L1BatchSource(w3, entry.address, entry.abi)
        return self._inbox

    def _registry(self, w3: Web3) -> tuple[Any, set[str]]:
        """The registry contract object (built once) and the names of its functions."""
        if self._registry_contract is None:
            from web3 import Web3

            entry = self.manifest.l1.contracts["SequencerRegistry"]
            address = Web3.to_checksum_address(entry.address)  # as every other tool reads it
            names = {f["name"] for f in entry.abi if f.get("type") == "function"}
            self._registry_contract = (w3.eth.contract(address=address, abi=entry.abi), names)
        return self._registry_contract

    def snapshot(self) -> Snapshot:
        snap = Snapshot(taken_at=time.time())
        try:
            snap.sequencer = rpc_call(self.sequencer_url, "seq_status")
            now = time.monotonic()
            if self._metrics is None or now - self._metrics_at >= self.metrics_every_s:
                self._metrics = None  # a failed scrape is never shown as a fresh one
                url = self.sequencer_url + "/metrics"
                with urllib.request.urlopen(url, timeout=2) as response:
                    self._metrics = parse_metrics(response.read().decode())
                self._metrics_at = now
            snap.metrics = self._metrics
        except (OSError, urllib.error.URLError, DevnetError) as exc:
            snap.sequencer_error = str(exc)
        try:
            self._read_l1(snap)
        except Exception as exc:  # noqa: BLE001 - the view shows the fault and keeps going
            snap.sequencer_error = (snap.sequencer_error or "") + f" L1: {exc}"
        if self.batcher_metrics_url is not None:
            try:
                with urllib.request.urlopen(self.batcher_metrics_url, timeout=2) as response:
                    text = response.read().decode()
                snap.batcher = parse_metrics(text)
                snap.batcher_revert = last_revert_reason(text)
            except (OSError, urllib.error.URLError) as exc:
                snap.batcher_error = str(exc)
        if self.log_file is not None and self.log_file.exists():
            snap.log_tail = demo_tail(self.log_file.read_text(errors="replace").splitlines())
        return snap

    def _read_l1(self, snap: Snapshot) -> None:
        from eth_typing import Hash32

        w3 = self._l1()
        snap.l1_head = w3.eth.block_number
        contracts = self.manifest.l1.contracts
        if "SharedInbox" in contracts:
            source = self._source(w3)
            head = snap.l1_head
            if head < self._scanned_to:  # the L1 went back (reorg or restart): read it all again
                self._batches, self._scanned_to = {}, -1
            new = source.batches(self._scanned_to + 1, head) if head > self._scanned_to else []
            self._scanned_to = head
            for posted in new:
                key = (posted.header.sequence, posted.l1_tx)
                if key not in self._batches:
                    receipt = w3.eth.get_transaction_receipt(Hash32(posted.l1_tx))
                    try:
                        l2_txs = len(bc.decode(posted.payload).raw_txs())
                    except bc.CodecError:
                        l2_txs = 0
                    self._batches[key] = BatchInfo(
                        posted.header.sequence,
                        posted.mode,
                        len(posted.payload),
                        l2_txs,
                        receipt["gasUsed"],
                        posted.l1_block,
                    )
            snap.batches = sorted(self._batches.values(), key=lambda b: b.sequence)
        if "SequencerRegistry" in contracts:
            registry, names = self._registry(w3)
            term = registry.functions.current_term().call()
            if "leader_of" in names:
                snap.leader = registry.functions.leader_of(term).call()
            sequencer = self.manifest.accounts.get("sequencer")
            if sequencer and "weight_at" in names:
                snap.stakes[sequencer] = registry.functions.weight_at(sequencer, term).call()


def last_revert_reason(text: str) -> str | None:
    """The `reason` label of the batcher's `seq_batcher_last_revert` metric, if any."""
    for line in text.splitlines():
        if line.startswith("seq_batcher_last_revert{"):
            labels = line[line.index("{") + 1 : line.rindex("}")]
            if 'reason="' in labels:
                reason = labels.split('reason="', 1)[1]
                return reason.split('",', 1)[0].rstrip('"').replace('\\"', '"')
    return None


def _batcher_line(snap: Snapshot) -> Text | str:
    if snap.batcher is None:
        error = snap.batcher_error
        return Text(f"unreachable: {error}", style="red") if error else "-"
    m = snap.batcher
    line = (
        f"{int(metric_sum(m, 'seq_batcher_batches_total'))} posted, "
        f"backlog {int(m.get('seq_batcher_backlog_blocks', 0))} blocks"
    )
    if "seq_batcher_deadline_slack_blocks" in m:
        line += f", deadline slack {int(m['seq_batcher_deadline_slack_blocks'])} L1 blocks"
    rebuilt = int(metric_sum(m, "seq_batcher_rebuilt_total"))
    if rebuilt:
        line += f", {rebuilt} rebuilt at the term check"
    reverts = int(metric_sum(m, "seq_batcher_reverts_total"))
    if reverts:
        return Text(line + f", {reverts} reverted (last: {snap.batcher_revert})", style="bold red")
    return line


def demo_tail(lines: list[str], events: int = 6, rounds: int = 2) -> list[str]:
    """The demo lines the screen shows: its last `events` one-off lines (funding, the risk
    reversal bundle, the forced inclusion, failures), which stay on screen, then its last
    `rounds` transfer rounds."""
    round_lines = [line for line in lines if line.startswith("[demo] round ")]
    other = [line for line in lines if not line.startswith("[demo] round ")]
    return other[-events:] + round_lines[-rounds:]


def _bundles_line(bundles: dict[str, Any] | None) -> str:
    if not bundles:
        return "-"
    return (
        f"{bundles.get('included', 0)} included, {bundles.get('dropped', 0)} dropped, "
        f"{bundles.get('pending', 0)} pending"
    )


def _relays_line(relays: dict[str, Any] | None) -> str:
    if not relays:
        return "-"
    return f"{relays.get('relayed', 0)} relayed, {relays.get('waiting', 0)} waiting"


def _forced_line(forced: dict[str, Any] | None) -> Text | str:
    if not forced:
        return "-"
    line = (
        f"{forced.get('placed', 0)} placed, {forced.get('skipped', 0)} skipped, "
        f"{forced.get('queued', 0)} queued"
    )
    if forced.get("nearestDeadline") is not None:
        line += f", next deadline L1 {forced['nearestDeadline']}"
    if forced.get("atRisk"):
        return Text(line + f", {forced['atRisk']} near their deadline", style="bold red")
    return line


def _role_line(role: dict[str, Any]) -> str:
    line = str(role.get("role", "-"))
    if role.get("term") is not None:
        line += f" in term {role['term']} (ends at L1 block {role.get('termEnd', '?')})"
    if role.get("forwardUrl"):
        line += f", writes forwarded to {role['forwardUrl']}"
    return line


def render(snap: Snapshot, title: str = "shared sequencer devnet") -> Group:
    """The screen: sequencer, rollups, L1 batches and stakes, and the demo's last lines."""
    seq = snap.sequencer or {}
    top = Table.grid(padding=(0, 2))
    top.add_column(style="bold")
    top.add_column()
    if snap.sequencer_error and not seq:
        top.add_row("sequencer", Text(f"unreachable: {snap.sequencer_error}", style="red"))
    else:
        p50 = histogram_quantile(snap.metrics, "seq_preconf_latency_seconds", 0.5)
        p99 = histogram_quantile(snap.metrics, "seq_preconf_latency_seconds", 0.99)
        latency = (
            f"p50 <= {p50 * 1000:.1f} ms, p99 <= {p99 * 1000:.1f} ms"
            if p50 is not None and p99 is not None
            else "-"
        )
        top.add_row("slots built", f"{seq.get('slots', 0)}  (slot {seq.get('slotMs', '?')} ms)")
        top.add_row(
            "pre-confirmations", f"{snap.accepted} accepted, {snap.rejected} refused; {latency}"
        )
        top.add_row("signer", str(seq.get("signer", "-")))
        top.add_row("bundles", _bundles_line(seq.get("bundles")))
        top.add_row("relays", _relays_line(seq.get("relays")))
        top.add_row("forced queue", _forced_line(seq.get("forced")))
        role = seq.get("leader")
        if isinstance(role, dict):
            top.add_row("role", _role_line(role))
        if seq.get("halted"):
            top.add_row("HALTED", Text(str(seq["halted"]), style="bold red"))
    rollups = Table(
        title="rollups", expand=True, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1)
    )
    for column in ("chain", "head block", "pending", "sealed txs"):
        rollups.add_column(column, justify="right")
    for chain_id, chain in sorted((seq.get("chains") or {}).items()):
        sealed = snap.metrics.get(f'seq_sealed_txs_total{{chain="{chain_id}"}}', 0)
        rollups.add_row(
            chain_id, str(chain.get("head")), str(chain.get("pending")), str(int(sealed))
        )
    l1 = Table(title="L1", expand=True, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for column in ("batches", "L2 txs", "bytes / L2 tx", "L1 gas / L2 tx", "last batch"):
        l1.add_column(column, justify="right")
    txs = sum(b.l2_txs for b in snap.batches)
    size = sum(b.payload_bytes for b in snap.batches)
    gas = sum(b.l1_gas for b in snap.batches)
    last = snap.batches[-1] if snap.batches else None
    l1.add_row(
        str(len(snap.batches)),
        str(txs),
        f"{size / txs:.1f}" if txs else "-",
        f"{gas / txs:,.0f}" if txs else "-",
        f"#{last.sequence} {last.mode}, {last.l2_txs} txs, L1 {last.l1_block}" if last else "-",
    )
    stakes = ", ".join(f"{a[:10]}… {w / 10**18:.2f} ETH" for a, w in snap.stakes.items())
    footer = Table.grid(padding=(0, 2))
    footer.add_column(style="bold")
    footer.add_column()
    l1_head = snap.l1_head if snap.l1_head is not None else "-"
    footer.add_row("L1 head", f"{l1_head}   [bold]leader[/] {snap.leader or '-'}")
    if snap.batcher is not None or snap.batcher_error:
        footer.add_row("batcher", _batcher_line(snap))
    footer.add_row("stake", stakes or "-")
    parts: list[Any] = [top, rollups, l1, footer]
    if snap.log_tail:
        parts.append(Panel("\n".join(snap.log_tail), title="demo", border_style="dim"))
    return Group(Panel(Group(*parts), title=title))
