"""Benchmark: batch size, L1 cost and derivation speed, on one set of L2 transactions.

    .venv/bin/python bench/batches.py [--txs 4000] [--senders 400]

One workload, generated and signed here: transfers of ETH and of a 6-decimal token, and option
vault trades (`OptionVault.buy` / `sell` calldata), from many senders, spread over blocks of both
rollups. It reports, in the same run:

- bytes per L2 transaction for the raw signed transactions concatenated, zlib level 9 and brotli
  level 10 over that concatenation, and the project's payload (`sequencer/batch_codec.py`);
  target: the project's payload at most 95 % of brotli-10;
- L1 gas per L2 transaction when the batch is posted to a real SharedInbox on a prague anvil, by
  calldata and by blob (skipped, and said so, when the L1 contracts are not in this checkout);
- derivation speed: the blocks are sealed on one fresh rollup engine, then rebuilt from
  (header, payload) on another and every commitment is checked; L2 transactions per second;
  target >= 500 tx/s.

Writes bench/results/batches.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import random
import sys
import time
import zlib
from pathlib import Path

import brotli
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evm import anvil, compile_contract, deploy, write_results  # noqa: E402

from sequencer import batch_codec as bc  # noqa: E402
from sequencer import commitments as cm  # noqa: E402
from sequencer.batcher import Batcher, InboxView, SealedRange, build_batch, read_range  # noqa: E402
from sequencer.commitments import Signer  # noqa: E402
from sequencer.config import DEVNET_SEQUENCER_KEY  # noqa: E402
from sequencer.derive import derive_batch  # noqa: E402
from sequencer.devnet import (  # noqa: E402
    ROLLUP_FLAGS,
    ROLLUP_GENESIS_TIMESTAMP,
    ChainSpec,
    Devnet,
    free_port,
)
from sequencer.engine import (  # noqa: E402
    EngineClient,
    SyncEngineClient,  # noqa: E402
    engine_session,
)
from sequencer.posting import Backlog, PostingPolicy, decide  # noqa: E402
from sequencer.txmgr import TxManager  # noqa: E402

# anvil's well-known account 0: funds the workload's senders in the first block (DEVNET ONLY).
FUNDER = Account.from_key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
TARGET_RATIO_VS_BROTLI = 0.95
TARGET_DERIVE_TPS = 500
BUY = keccak(text="buy(uint256,uint256,uint256,uint256)")[:4]
SELL = keccak(text="sell(uint256,uint256,uint256,uint256)")[:4]
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
GWEI = 10**9


def workload(n_txs: int, n_senders: int, chain_ids: tuple[int, ...], seed: int = 7):
    """{chain_id: [blocks of raw txs]}: funding first, then the mixed traffic."""
    rng = random.Random(seed)
    senders = [Account.from_key(keccak(rng.randbytes(32))) for _ in range(n_senders)]
    vaults = [to_checksum_address(keccak(text=f"vault{i}")[:20]) for i in range(2)]
    token = to_checksum_address(keccak(text="usdc")[:20])
    series = [rng.getrandbits(64) for _ in range(6)]
    per_block = 100
    blocks: dict[int, list[list[bytes]]] = {}
    for chain_id in chain_ids:
        funder_nonce = 0
        funding = []
        for sender in senders:
            funding.append(
                _sign(FUNDER, chain_id, funder_nonce, sender.address, 10**19, b"", 21_000)
            )
            funder_nonce += 1
        nonces = dict.fromkeys((s.address for s in senders), 0)
        traffic = []
        for _ in range(n_txs // len(chain_ids)):
            sender = rng.choice(senders)
            kind = rng.random()
            if kind < 0.5:  # ETH transfer of a round amount
                to = rng.choice(senders).address
                tx = (to, rng.randint(1, 500) * 10**15, b"", 21_000)
            elif kind < 0.75:  # token transfer (6 decimals)
                data = TRANSFER + encode(
                    ["address", "uint256"],
                    [rng.choice(senders).address, rng.randint(1, 10**5) * 10**4],
                )
                tx = (token, 0, data, 60_000)
            else:  # option vault trade
                selector = BUY if rng.random() < 0.6 else SELL
                amount = rng.randint(1, 40) * 10**17
                premium = rng.randint(10**6, 10**9)
                deadline = ROLLUP_GENESIS_TIMESTAMP + 10**6 + rng.randint(0, 50) * 12
                data = selector + encode(
                    ["uint256"] * 4, [rng.choice(series), amount, premium, deadline]
                )
                tx = (rng.choice(vaults), 0, data, 180_000)
            traffic.append(_sign(sender, chain_id, nonces[sender.address], *tx))
            nonces[sender.address] += 1
        blocks[chain_id] = [funding] + [
            traffic[i : i + per_block] for i in range(0, len(traffic), per_block)
        ]
    return blocks


def _sign(account, chain_id, nonce, to, value, data, gas) -> bytes:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to,
        "value": value,
        "data": data,
        "gas": gas,
        "maxPriorityFeePerGas": GWEI,
        "maxFeePerGas": 30 * GWEI,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


# --- sealing and deriving on real engines ---


async def seal(url: str, chain_id: int, blocks: list[list[bytes]]) -> float:
    """Mine the blocks on an engine as the builder does (in order); returns seconds taken."""
    async with engine_session() as session:
        engine = EngineClient(url, chain_id, session)
        started = time.perf_counter()
        for i, txs in enumerate(blocks):
            for start in range(0, len(txs), 500):
                answers = await engine.send_in_order(txs[start : start + 500])
                errors = [a["error"] for a in answers if "error" in a]
                if errors:
                    raise RuntimeError(f"engine refused a workload tx: {errors[0]}")
            await engine.call("evm_mine", [{"timestamp": ROLLUP_GENESIS_TIMESTAMP + 2 * (i + 1)}])
        return time.perf_counter() - started


@functools.cache
def _compiled(path: str):
    return compile_contract(path)


@contextlib.contextmanager
def l1_inbox(chain_ids=(901, 902)):
    """A fresh L1 with the registry, inbox (for rollups `chain_ids`) and slasher, the devnet
    sequencer staked and leading: (w3, InboxView, TxManager)."""
    registry_c = _compiled("contracts/l1/SequencerRegistry.vy")
    inbox_c = _compiled("contracts/l1/SharedInbox.vy")
    slasher_c = _compiled("contracts/l1/Slasher.vy")
    sequencer = Signer(DEVNET_SEQUENCER_KEY).local_account()
    with anvil() as w3:
        treasury = w3.eth.accounts[3]
        registry = deploy(w3, registry_c, 10**18, 32, 1000, 600, 1000, 5000, treasury)
        inbox = deploy(w3, inbox_c, registry.address, 120, 60, 10**15, list(chain_ids))
        slasher = deploy(w3, slasher_c, registry.address, inbox.address, 10**17)
        w3.eth.wait_for_transaction_receipt(
            registry.functions.set_slasher(slasher.address).transact()
        )
        w3.eth.wait_for_transaction_receipt(
            registry.functions.register().transact({"from": sequencer.address, "value": 2 * 10**18})
        )
        w3.provider.make_request("anvil_mine", [hex(64)])  # the sequencer leads the next term
        view = InboxView(w3, (inbox.address, inbox_c.abi), (registry.address, registry_c.abi))
        yield w3, view, TxManager(w3, sequencer, confirmations=1)


def l1_cost(mode: str, engines: dict[int, str]) -> dict:
    """Post every sealed block of the engines to a fresh L1's SharedInbox by `mode`; L1 gas
    (execution + calldata; blob gas reported apart) per L2 transaction."""
    with l1_inbox(tuple(engines)) as (_, view, txmgr):
        clients = {c: SyncEngineClient(u) for c, u in engines.items()}
        batcher = Batcher(view, txmgr, clients, mode=mode)
        blob_gas = 0
        while (confirmed := batcher.step()) is not None:
            blob_gas += confirmed.blob_gas_used
        stats = batcher.stats
        return {
            "batches": stats.batches,
            "l2_txs": stats.l2_txs,
            "l1_gas": stats.l1_gas,
            "blob_gas": blob_gas,
            "l1_gas_per_l2_tx": stats.l1_gas / stats.l2_txs,
            "payload_bytes": stats.payload_bytes,
        }


# --- L1 cost per L2 transaction under the posting policy, by traffic rate ---

SLOTS_PER_S = 4  # 250 ms slots: one block per rollup per slot
PRECONF_DEADLINE = 64  # L1 blocks (the service's default)


class _SyntheticChain:
    """Blocks of one rollup built from signed transactions, hashes chained (the inbox checks
    only that each range continues the last one; the payload and roots are real encodings)."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self.number = 0
        self.head_hash = keccak(b"genesis" + chain_id.to_bytes(8, "big"))

    def block(self, txs: list[bytes], timestamp: int):
        self.number += 1
        parent = self.head_hash
        block_hash = keccak(self.number.to_bytes(8, "big") + parent + b"".join(txs))
        self.head_hash = block_hash
        data = bc.BlockData(self.number, timestamp, tuple(txs), 0, ())
        record = cm.BlockRecord(
            self.chain_id,
            self.number,
            block_hash,
            tuple(cm.TxRecord(i, keccak(t), 1) for i, t in enumerate(txs)),
        )
        return parent, data, record


def _post_synthetic(view, txmgr, chains, unposted, mode: str) -> tuple[int, int, int, int]:
    """Post `unposted` ({chain: [(parent, data, record)]}) as one batch; (l1 gas, blob gas,
    L2 txs, payload bytes)."""
    state = view.state(list(chains))
    if view.blocks_left_in_term() < 3:  # the term's last blocks: into the next term
        view.w3.provider.make_request("anvil_mine", [hex(view.blocks_left_in_term() + 1)])
        state = view.state(list(chains))
    ranges = []
    for chain_id, items in sorted(unposted.items()):
        if not items:
            continue
        ranges.append(
            SealedRange(
                chain_id,
                items[0][0],
                tuple(d for _, d, _ in items),
                tuple(r for _, _, r in items),
                keccak(b"root" + items[-1][2].block_hash),
            )
        )
    base = int(view.w3.eth.get_block("latest").get("baseFeePerGas", 0))
    blob_base = int(view.w3.provider.make_request("eth_blobBaseFee", [])["result"], 16)
    batch = build_batch(state, ranges, mode, base, blob_base)
    batcher = Batcher(view, txmgr, {}, mode=mode)
    confirmed = batcher.post(batch)
    return confirmed.gas_used, confirmed.blob_gas_used, batch.tx_count, len(batch.payload)


def policy_costs(traffic: list[bytes], rates: list[float], mode: str = "auto") -> list[dict]:
    """L1 gas per L2 transaction when the posting policy (default knobs) decides when to post,
    for traffic at each rate (virtual time: one L1 block per second, 250 ms slots on two
    rollups, each transaction promised for 64 L1 blocks), each batch posted to a real inbox;
    and, for comparison, posting every L1 block (the batcher before the policy)."""
    policy = PostingPolicy()
    out = []
    cases = [(r, "policy") for r in rates] + [(r, "every L1 block") for r in rates[:2]]
    for rate, how in cases:
        # about ten batches per case: long enough for the policy's steady state
        fill_s = policy.fill_bytes / max(1.0, rate * 110)
        seconds = int(min(600, max(20, 10 * min(policy.max_delay_s, fill_s))))
        if how != "policy":
            seconds = 20
        with l1_inbox() as (_, view, txmgr):
            chains = {901: _SyntheticChain(901), 902: _SyntheticChain(902)}
            unposted: dict[int, list] = {901: [], 902: []}
            deadlines: list[int] = []
            bytes_unposted, content_since = 0, None
            gas = blob_gas = txs_posted = batches = 0
            tx_iter = itertools.cycle(traffic)
            owed = 0.0
            for second in range(seconds):
                for slot in range(SLOTS_PER_S):
                    for chain_id, chain in chains.items():
                        owed += rate / SLOTS_PER_S / len(chains)
                        n = int(owed)
                        owed -= n
                        txs = [next(tx_iter) for _ in range(n)]
                        ts = ROLLUP_GENESIS_TIMESTAMP + second * SLOTS_PER_S + slot
                        unposted[chain_id].append(chain.block(txs, ts))
                        if txs:
                            deadlines.append(second + PRECONF_DEADLINE)
                            bytes_unposted += sum(len(t) for t in txs)
                            content_since = second if content_since is None else content_since
                if how == "policy":
                    backlog = Backlog(
                        blocks=sum(len(v) for v in unposted.values()),
                        txs=len(deadlines),
                        tx_bytes=bytes_unposted,
                        nearest_deadline=min(deadlines, default=None),
                        waited_s=0.0 if content_since is None else second - content_since,
                        l1_head=second,
                    )
                    post = decide(policy, backlog).post
                else:
                    post = True
                if post:
                    g, bg, n, _ = _post_synthetic(view, txmgr, chains, unposted, mode)
                    gas, blob_gas, txs_posted = gas + g, blob_gas + bg, txs_posted + n
                    batches += 1
                    unposted = {c: [] for c in chains}
                    deadlines, bytes_unposted, content_since = [], 0, None
        out.append(
            {
                "rate": rate,
                "how": how,
                "seconds": seconds,
                "batches": batches,
                "l2_txs": txs_posted,
                "l1_gas": gas,
                "blob_gas": blob_gas,
                "l1_gas_per_l2_tx": gas / txs_posted if txs_posted else None,
                "blob_gas_per_l2_tx": blob_gas / txs_posted if txs_posted else None,
            }
        )
        print(f"  {how} at {rate:g} tx/s: {out[-1]}", flush=True)
    return out


async def derive(url: str, chain_id: int, header, batch) -> float:
    async with engine_session() as session:
        engine = EngineClient(url, chain_id, session)
        started = time.perf_counter()
        await derive_batch(header, batch, {chain_id: engine})
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=4000)
    parser.add_argument("--senders", type=int, default=400)
    parser.add_argument(
        "--rates", default="1,10,100,1000", help="L2 tx/s for the posting policy's L1 cost"
    )
    args = parser.parse_args()
    chain_ids = (901, 902)
    print(f"signing {args.txs} transactions from {args.senders} senders ...", flush=True)
    work = workload(args.txs, args.senders, chain_ids)
    specs = [ChainSpec(f"seal{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in chain_ids]
    specs += [ChainSpec(f"derive{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in chain_ids]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, Devnet(specs, log_dir=Path(tmp)) as net:
        ranges, seal_s = [], 0.0
        for chain_id in chain_ids:
            url = net.spec(f"seal{chain_id}").url
            seal_s += asyncio.run(seal(url, chain_id, work[chain_id]))
            engine = SyncEngineClient(url)
            head = int(engine.call("eth_blockNumber"), 16)
            ranges.append(read_range(engine, chain_id, 1, head))
        batch = bc.BatchData(tuple(r.data() for r in ranges))
        traffic = [tx for r in ranges for b in r.blocks[1:] for tx in b.txs]  # without funding
        all_txs = batch.raw_txs()
        n_all = len(all_txs)
        raw = b"".join(all_txs)
        sizes = {
            "raw": len(raw),
            "zlib-9": len(zlib.compress(raw, 9)),
            "brotli-10": len(brotli.compress(raw, quality=10)),
        }
        started = time.perf_counter()
        payload = bc.encode(batch)
        encode_s = time.perf_counter() - started
        sizes["project"] = len(payload)
        for name, encoding in (("concat", bc.ENCODING_CONCAT), ("columns", bc.ENCODING_COLUMNS)):
            for codec_name, codec in (("zlib", bc.CODEC_ZLIB), ("brotli", bc.CODEC_BROTLI)):
                sizes[f"{name}+{codec_name}"] = len(bc.encode(batch, [encoding], [codec]))
        per_tx = {k: v / n_all for k, v in sizes.items()}
        ratio = sizes["project"] / sizes["brotli-10"]

        header = cm.BatchHeader(
            0,
            cm.ZERO_HASH,
            0,
            tuple(r.commitment() for r in ranges),
            cm.ZERO_HASH,
            0,
            keccak(payload),
        )
        decoded = bc.decode(payload)
        derive_s = 0.0
        for chain_id in chain_ids:
            one = cm.BatchHeader(
                0,
                cm.ZERO_HASH,
                0,
                tuple(c for c in header.rollups if c.chain_id == chain_id),
                cm.ZERO_HASH,
                0,
                header.data_hash,
            )
            part = bc.BatchData(tuple(r for r in decoded.ranges if r.chain_id == chain_id))
            derive_s += asyncio.run(derive(net.spec(f"derive{chain_id}").url, chain_id, one, part))
        derive_tps = n_all / derive_s
        seal_urls = {c: net.spec(f"seal{c}").url for c in chain_ids}
        costs = {mode: l1_cost(mode, seal_urls) for mode in ("calldata", "blob")}
    print("L1 cost under the posting policy, by traffic rate ...", flush=True)
    by_rate = policy_costs(traffic, [float(r) for r in args.rates.split(",")])

    lines = [
        "# Batches: bytes per L2 transaction, derivation speed",
        "",
        f"{n_all} L2 transactions ({len(traffic)} of mixed traffic: ETH and token transfers, "
        f"option vault trades; {n_all - len(traffic)} funding transfers) from "
        f"{args.senders} senders, {sum(len(r.blocks) for r in ranges)} blocks on 2 rollups.",
        "",
        "| encoding | bytes | bytes per tx | vs brotli-10 |",
        "|---|---:|---:|---:|",
    ]
    for name, size in sizes.items():
        lines.append(
            f"| {name} | {size:,} | {per_tx[name]:.1f} | {size / sizes['brotli-10']:.1%} |"
        )
    verdict = "PASS" if ratio <= TARGET_RATIO_VS_BROTLI else "MISS"
    lines += [
        "",
        f"Project payload ({bc.describe(payload)}): {ratio:.1%} of brotli-10 "
        f"(target <= {TARGET_RATIO_VS_BROTLI:.0%}): {verdict}. Encoding took {encode_s:.2f} s "
        f"({n_all / encode_s:,.0f} tx/s).",
        "",
        f"Derivation: {n_all} txs rebuilt and checked in {derive_s:.2f} s = {derive_tps:,.0f} "
        f"tx/s (target >= {TARGET_DERIVE_TPS}): "
        f"{'PASS' if derive_tps >= TARGET_DERIVE_TPS else 'MISS'}; sealing the same blocks "
        f"took {seal_s:.2f} s ({n_all / seal_s:,.0f} tx/s) as the baseline.",
        "",
    ]
    lines += [
        "| posted by | batches | L2 txs | L1 gas (execution + calldata) | blob gas | "
        "L1 gas per L2 tx |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, cost in costs.items():
        lines.append(
            f"| {mode} | {cost['batches']} | {cost['l2_txs']:,} | {cost['l1_gas']:,} | "
            f"{cost['blob_gas']:,} | {cost['l1_gas_per_l2_tx']:,.0f} |"
        )
    lines += [
        "",
        "Calldata pays EIP-7623's floor (prague) for each payload byte; a blob batch pays only "
        "the header's calldata and the inbox's execution in gas, and 131,072 blob gas per blob "
        "on the separate blob fee market.",
        "",
    ]
    lines += [
        "Under the posting policy (`sequencer/posting.py`, default knobs: a blob's worth of "
        "transactions, a deadline 8 L1 blocks away, or 60 s of waiting; never empty blocks "
        "alone), by L2 traffic rate (the workload's transactions, 250 ms slots on both rollups, "
        "each promised for 64 L1 blocks; one L1 block per virtual second; every batch posted "
        "to a real inbox, carrier chosen by cost), compared with posting every L1 block:",
        "",
        "| L2 tx/s | posting | virtual s | batches | L2 txs | L1 gas per L2 tx | "
        "blob gas per L2 tx |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in by_rate:
        per = row["l1_gas_per_l2_tx"]
        blob_per = row["blob_gas_per_l2_tx"]
        lines.append(
            f"| {row['rate']:,.0f} | {row['how']} | {row['seconds']} | {row['batches']} | "
            f"{row['l2_txs']:,} | {per:,.0f} | {blob_per:,.0f} |"
            if per is not None
            else f"| {row['rate']:,.0f} | {row['how']} | {row['seconds']} | 0 | 0 | - | - |"
        )
    lines += [
        "",
        "Idle (no L2 traffic) the policy posts nothing; the idle batcher's CPU is measured by "
        "`bench/batcher_backlog.py` (its idle phase, target <= 2 % of a core).",
        "",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    data = {
        "policy_costs": by_rate,
        "txs": n_all,
        "senders": args.senders,
        "sizes": sizes,
        "bytes_per_tx": per_tx,
        "ratio_vs_brotli10": ratio,
        "encode_s": encode_s,
        "derive_s": derive_s,
        "derive_tps": derive_tps,
        "seal_s": seal_s,
    }
    path = write_results("batches", data, markdown)
    _chart(per_tx, path.with_suffix(".png"))
    print(f"results: {path} (+ .json, .png)")


def _chart(per_tx: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    names = list(per_tx)
    colors = ["#1f77b4" if n != "project" else "#d62728" for n in names]
    ax.bar(names, [per_tx[n] for n in names], color=colors)
    ax.set_ylabel("bytes per L2 transaction")
    ax.set_title("Batch payload size by encoding (lower is better)")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
