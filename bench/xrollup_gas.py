"""Gas of the cross-rollup entry points, against a plain ERC-20 transfer measured in the same run.

    .venv/bin/python bench/xrollup_gas.py        (after `make setup`; compiles with ape if needed)

Starts two fresh rollup engines (the project's process manager, rollup flags, free ports), deploys
the cross-rollup contracts with `scripts/deploy.py: deploy_xrollup`, runs each entry point once
on real anvil and reads `gasUsed` from the receipt. Prints a table with the ratio to the baseline
(a SuperToken `transfer` to a fresh account, same run) and the budget of each entry point (our
own design budgets for an L2 entry point, not external figures), and writes
bench/results/xrollup_gas.{json,md}. Exits 1 if an entry point is over budget.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from _chains import ApeChain  # noqa: E402
from ape import accounts, project  # noqa: E402
from deploy import L1_CHAIN_ID, deploy_xrollup  # noqa: E402

from sequencer.bundles import (  # noqa: E402
    Bundle,
    Call,
    Domain,
    Leg,
    Pull,
    bundle_abi,
    sign_bundle,
)
from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port  # noqa: E402
from sequencer.messages import messages_from_receipt  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# Design budgets (gas) for each entry point on an L2.
BUDGETS = {
    "SuperToken.transfer (baseline)": 60_000,
    # The first bridge/relay on a rollup also turns its zero counters (nonce, bridged_out,
    # totalSupply, bridged_in) non-zero: about 17k gas more per counter than later ones.
    "SuperToken.bridge, first on the rollup": 140_000,
    "SuperToken.bridge (burn + send_message)": 100_000,
    "CrossRollupMessenger.relay_message, first on the rollup (mint)": 150_000,
    "CrossRollupMessenger.relay_message (mint)": 100_000,
    "BundleSettlement.execute_leg, first leg (creates agent), 1 pull + 1 call": 300_000,
    "BundleSettlement.execute_leg, 1 pull + 1 call": 150_000,
    "BundleSettlement.execute_leg, 1 pull + 3 calls (approve, transfer, bridge)": 260_000,
}


def _key(account) -> bytes:
    return bytes.fromhex(str(account.private_key).removeprefix("0x"))


def measure(rollup_a: ApeChain, rollup_b: ApeChain) -> dict[str, int]:
    deployer, relayer, trader, lp = (accounts.test_accounts[i] for i in (0, 2, 5, 6))
    roles = {"deployer": deployer, "relayer": relayer}
    for rollup in (rollup_a, rollup_b):
        with rollup.use():
            addresses = deploy_xrollup(roles, [rollup_a.chain_id, rollup_b.chain_id])
    usdc_address = addresses["USDC"].address
    gas: dict[str, int] = {}
    with rollup_a.use():
        usdc = project.SuperToken.at(usdc_address)
        messenger = project.CrossRollupMessenger.at(addresses["CrossRollupMessenger"].address)
        settlement = project.BundleSettlement.at(addresses["BundleSettlement"].address)
        domain = Domain(L1_CHAIN_ID, settlement.address)
        usdc.mint(trader, 10**12, sender=deployer)
        usdc.approve(settlement, 2**256 - 1, sender=trader)
        gas["SuperToken.transfer (baseline)"] = usdc.transfer(lp, 10**6, sender=trader).gas_used
        bridged = []
        for row in (
            "SuperToken.bridge, first on the rollup",
            "SuperToken.bridge (burn + send_message)",
        ):
            receipt = usdc.bridge(rollup_b.chain_id, lp, 10**6, sender=trader)
            gas[row] = receipt.gas_used
            raw = rollup_a.w3.eth.get_transaction_receipt(receipt.txn_hash)
            bridged += messages_from_receipt(raw, messenger.address, rollup_a.chain_id)

        def leg_gas(nonce: int, calls: tuple[Call, ...], pull: int) -> int:
            target = rollup_a.w3.eth.block_number + 1
            leg = Leg(rollup_a.chain_id, target, (Pull(usdc.address, pull),), calls)
            bundle = Bundle(trader.address, lp.address, 2**40, nonce, (leg, Leg(902, 1)))
            signature = sign_bundle(bundle, domain, _key(trader))
            return settlement.execute_leg(bundle_abi(bundle), 0, signature, sender=lp).gas_used

        pay = Call(usdc.address, 0, bytes(usdc.transfer.encode_input(lp, 10**6)))
        gas["BundleSettlement.execute_leg, first leg (creates agent), 1 pull + 1 call"] = leg_gas(
            1, (pay,), 10**6
        )
        gas["BundleSettlement.execute_leg, 1 pull + 1 call"] = leg_gas(2, (pay,), 10**6)
        approve = Call(usdc.address, 0, bytes(usdc.approve.encode_input(lp, 10**6)))
        bridge = Call(usdc.address, 0, bytes(usdc.bridge.encode_input(902, trader, 10**6)))
        gas["BundleSettlement.execute_leg, 1 pull + 3 calls (approve, transfer, bridge)"] = leg_gas(
            3, (approve, pay, bridge), 2 * 10**6
        )
    with rollup_b.use():
        messenger_b = project.CrossRollupMessenger.at(messenger.address)
        rows = (
            "CrossRollupMessenger.relay_message, first on the rollup (mint)",
            "CrossRollupMessenger.relay_message (mint)",
        )
        for row, message in zip(rows, bridged, strict=True):
            receipt = messenger_b.relay_message(
                message.source_chain,
                message.nonce,
                message.sender,
                message.target,
                message.data,
                sender=relayer,
            )
            gas[row] = receipt.gas_used
    return gas


def report(gas: dict[str, int]) -> bool:
    baseline = gas["SuperToken.transfer (baseline)"]
    rows = []
    ok = True
    for name, budget in BUDGETS.items():
        used = gas[name]
        within = used <= budget
        ok &= within
        rows.append(
            {
                "entry_point": name,
                "gas": used,
                "x_transfer": round(used / baseline, 2),
                "budget": budget,
                "within": within,
            }
        )
    width = max(len(r["entry_point"]) for r in rows)
    print(f"{'entry point':<{width}}  {'gas':>8}  {'x transfer':>10}  {'budget':>8}")
    for r in rows:
        flag = "ok" if r["within"] else "OVER"
        print(
            f"{r['entry_point']:<{width}}  {r['gas']:>8}  {r['x_transfer']:>10}  "
            f"{r['budget']:>8}  {flag}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "xrollup_gas.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| entry point | gas | × transfer | budget |", "|---|---:|---:|---:|"]
    lines += [
        f"| {r['entry_point']} | {r['gas']} | {r['x_transfer']} | {r['budget']} |" for r in rows
    ]
    (RESULTS / "xrollup_gas.md").write_text("\n".join(lines) + "\n")
    print(f"results: {RESULTS / 'xrollup_gas.json'}, {RESULTS / 'xrollup_gas.md'}")
    return ok


def main() -> int:
    specs = [
        ChainSpec(name, "rollup", chain_id, free_port(), ROLLUP_FLAGS)
        for name, chain_id in (("rollup_a", 901), ("rollup_b", 902))
    ]
    with tempfile.TemporaryDirectory(prefix="xrollup-gas-") as tmp:
        net = Devnet(specs, log_dir=Path(tmp))
        net.start()
        try:
            handles = [ApeChain(s.name, s.role, s.chain_id, s.url) for s in specs]
            for handle in handles:
                handle.set_automine(True)
            gas = measure(*handles)
        finally:
            net.stop()
    return 0 if report(gas) else 1


if __name__ == "__main__":
    sys.exit(main())
