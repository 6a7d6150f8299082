"""Demo workload for the devnet: many senders transact on both rollups through the sequencer.

    .venv/bin/python scripts/demo_workload.py --manifest deployments/devnet.json \
        --rpc http://127.0.0.1:8547 [--senders 20] [--rounds 0]

What it does, as a user of the sequencer would (plain web3.py against the sequencer's standard
Ethereum endpoints `/<chain_id>`, no ape):
1. funds `--senders` fresh accounts on each rollup from anvil's well-known account 9 (DEVNET ONLY:
   that key is public), each transfer pre-confirmed by the sequencer;
2. a cross-rollup risk reversal (`scripts/demo_risk_reversal.py`): the devnet owner opens an
   options epoch on both rollups, then a trader signs ONE bundle (buy a call on rollup A, bridge
   the put's USDC collateral A->B, sell a put on rollup B) sent with `seq_sendBundle`; it prints
   the bundle receipt with both legs' positions (or why a try was dropped, and tries again);
3. a forced inclusion: a transfer on rollup A queued on L1 with `SharedInbox.force_include`
   (paid by anvil's L1 account 9), and the rollup block and index where the sequencer placed it;
4. then, round after round, random transfers between those accounts on both rollups, checking
   that every pre-confirmed transaction is mined at exactly its promised (block, index).
It prints one `[demo]` line per step and per round; `--rounds 0` runs until interrupted. A failure
of step 2 or 3 is printed with its reason and the transfers go on. `--no-scenes` skips 2 and 3.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from pathlib import Path

from eth_account import Account

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_risk_reversal import run_forced_inclusion, run_risk_reversal  # noqa: E402

from sequencer.manifest import Manifest, load_manifest  # noqa: E402

# anvil's well-known account 9 (mnemonic "test test ... junk"). DEVNET ONLY: the key is public.
FUNDER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
# backpressure refusals ("sequencer busy", docs/service-and-rpc.md): retried
BUSY_REASONS = ("backlog", "l1_stale", "deadline")
BUSY_RETRIES = 60
GWEI = 10**9


def rpc(url: str, method: str, params: list) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Sender:
    def __init__(self, account, chain_url: str, seq_url: str, chain_id: int) -> None:
        self.account = account
        self.chain_url = chain_url
        self.seq_url = seq_url
        self.chain_id = chain_id
        answer = rpc(chain_url, "eth_getTransactionCount", [account.address, "pending"])
        self.nonce = int(answer["result"], 16)

    def send(self, to: str, value: int) -> dict:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "to": to,
            "value": value,
            "gas": 21_000,
            "maxPriorityFeePerGas": GWEI,
            "maxFeePerGas": 50 * GWEI,
        }
        raw = "0x" + bytes(self.account.sign_transaction(tx).raw_transaction).hex()
        for _ in range(BUSY_RETRIES):  # "sequencer busy" (backpressure): retry as it says
            answer = rpc(self.seq_url, "seq_sendRawTransaction", [raw])
            data = answer.get("error", {}).get("data")
            if not (isinstance(data, dict) and data.get("reason") in BUSY_REASONS):
                break
            time.sleep(1.0)
        if "error" in answer:
            raise RuntimeError(f"sequencer refused a demo tx: {answer['error']}")
        self.nonce += 1
        return answer["result"]


def check_promises(chain_url: str, promises: list[dict]) -> int:
    """Wait for each promised tx to be mined; return how many sit exactly where promised."""
    kept = 0
    for promise in promises:
        pre = promise
        tx_hash = promise["txHash"]
        for _ in range(200):
            receipt = rpc(chain_url, "eth_getTransactionReceipt", [tx_hash]).get("result")
            if receipt:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"pre-confirmed tx {tx_hash} not mined in 10 s")
        block, index = int(receipt["blockNumber"], 16), int(receipt["transactionIndex"], 16)
        if (block, index) != (int(pre["blockNumber"]), int(pre["index"])):
            raise RuntimeError(
                f"promise broken for {tx_hash}: promised "
                f"({pre['blockNumber']}, {pre['index']}), mined ({block}, {index})"
            )
        kept += 1
    return kept


def say(line: str) -> None:
    print(f"[demo] {line}", flush=True)


def run_scenes(manifest: Manifest, seq_rpc: str, funder) -> None:
    """The risk reversal and the forced inclusion; a failure of either is printed, never raised
    (the transfers must go on)."""
    if len(manifest.rollups) < 2 or "BundleSettlement" not in manifest.rollups[0].contracts:
        say("risk reversal skipped: the manifest has no second rollup or no BundleSettlement")
    else:
        try:
            run_risk_reversal(manifest, seq_rpc, say)
        except Exception as exc:  # noqa: BLE001 - the demo reports and goes on
            say(f"risk reversal failed: {type(exc).__name__}: {exc}")
    if "SharedInbox" not in manifest.l1.contracts:
        say("forced inclusion skipped: the manifest has no SharedInbox on the L1")
        return
    try:
        run_forced_inclusion(manifest, seq_rpc, FUNDER_KEY, funder, say)
    except Exception as exc:  # noqa: BLE001 - the demo reports and goes on
        say(f"forced inclusion failed: {type(exc).__name__}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", default="deployments/devnet.json")
    parser.add_argument("--rpc", default="http://127.0.0.1:8547")
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-scenes", action="store_true", help="only transfers: no risk reversal, no forced tx"
    )
    args = parser.parse_args()
    manifest = load_manifest(args.manifest)
    rng = random.Random(args.seed)
    funder = Account.from_key(FUNDER_KEY)
    users = [Account.from_key(rng.randbytes(32)) for _ in range(args.senders)]
    chains = []
    for rollup in manifest.rollups:
        url = f"{args.rpc}/{rollup.chain_id}"
        source = Sender(funder, url, args.rpc, rollup.chain_id)
        promises = [source.send(u.address, 10**18) for u in users]
        kept = check_promises(url, promises)
        print(f"[demo] {rollup.name}: funded {kept} senders, every promise kept", flush=True)
        chains.append((url, [Sender(u, url, args.rpc, rollup.chain_id) for u in users]))
    if not args.no_scenes:
        run_scenes(manifest, args.rpc, funder)
    round_no = 0
    while args.rounds == 0 or round_no < args.rounds:
        round_no += 1
        total = 0
        for url, senders in chains:
            promises = []
            for sender in rng.sample(senders, k=max(1, len(senders) // 2)):
                to = rng.choice(users).address
                promises.append(sender.send(to, rng.randint(1, 100) * 10**14))
            total += check_promises(url, promises)
        print(
            f"[demo] round {round_no}: {total} transfers on {len(chains)} rollups, "
            "all at their promised positions",
            flush=True,
        )
        time.sleep(0.5)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
