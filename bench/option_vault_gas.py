"""Benchmark: gas of every OptionVault entry point, for a call vault (WETH, 18 decimals) and a put
vault (USDC, 6 decimals), from transaction receipts on a fresh anvil.

    .venv/bin/python bench/option_vault_gas.py

One scripted epoch per vault: LP deposits are queued, the keeper rolls, traders buy and sell,
the oracle settles after expiry, the vault settles, holders redeem, short traders reclaim, the
keeper rolls again with queued withdrawals, LPs withdraw. Then an oracle outage: one expiry
settled by `settle_fallback` and one by `settle_by_owner`, FALLBACK_DELAY after each. Prints a
table (gas used by each transaction, 21,000 base included) and compares `buy` with its target
(<= 150,000 gas). Writes bench/results/option_vault_gas.{json,md}. Owns nothing beyond its own
anvil.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _evm import anvil, compile_contract, deploy, write_results  # noqa: E402

WAD = 10**18
USDC = 10**6
TARGET_BUY_GAS = 150_000
MAX_AGE, DISPUTE_WINDOW = 3_600, 600


def main() -> None:
    code = {
        name: compile_contract(path)
        for name, path in {
            "token": "contracts/test/TestToken.vy",
            "oracle": "contracts/l2/PriceOracle.vy",
            "longs": "contracts/l2/OptionToken.vy",
            "vault": "contracts/l2/OptionVault.vy",
        }.items()
    }
    rows: list[tuple[str, str, int]] = []
    with anvil(chain_id=901) as w3:
        owner, keeper, lp, trader, trader2 = w3.eth.accounts[:5]

        def send(call, sender, gas=None):
            tx = {"from": sender} if gas is None else {"from": sender, "gas": gas}
            receipt = w3.eth.wait_for_transaction_receipt(call.transact(tx))
            if receipt["status"] != 1:
                raise RuntimeError(f"transaction failed: {receipt}")
            return receipt

        def now() -> int:
            return w3.eth.get_block("latest")["timestamp"]

        def at(timestamp: int) -> None:
            w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])

        weth = deploy(w3, code["token"], "Wrapped Ether", "WETH", 18)
        usdc = deploy(w3, code["token"], "USD Coin", "USDC", 6)
        oracle = deploy(w3, code["oracle"], MAX_AGE, DISPUTE_WINDOW)
        send(oracle.functions.configure_asset(weth.address, WAD // 2), owner)
        send(oracle.functions.set_reporter(keeper, True), owner)
        receipt = send(oracle.functions.push(weth.address, 2000 * WAD, 8 * WAD // 10), keeper)
        rows.append(("oracle", "push (reporter)", receipt["gasUsed"]))

        for label, is_call, token, unit, strikes in (
            ("call/WETH", True, weth, WAD, [2000 * WAD, 2200 * WAD]),
            ("put/USDC", False, usdc, USDC, [1800 * WAD, 2000 * WAD]),
        ):
            longs = deploy(w3, code["longs"], "https://options.example/{id}")
            vault = deploy(
                w3,
                code["vault"],
                token.address,
                weth.address,
                oracle.address,
                is_call,
                WAD // 20,
                WAD // 500,
                8 * WAD // 10,
                keeper,
                longs.address,
            )
            send(longs.functions.set_vault(vault.address), owner)
            v = vault.functions
            for account in (lp, trader, trader2):
                send(token.functions.faucet(account, 1_000_000 * unit), account)
                send(token.functions.approve(vault.address, 2**256 - 1), account)

            def record(name, receipt, label=label):
                rows.append((label, name, receipt["gasUsed"]))

            record("request_deposit", send(v.request_deposit(500_000 * unit), lp))
            expiry = now() + 7 * 86_400
            record("roll (first)", send(v.roll(expiry, strikes), keeper))
            series = v.series_id(expiry, strikes[1]).call()
            other = v.series_id(expiry, strikes[0]).call()
            record(
                "buy (new series, new holder)",
                send(v.buy(series, 10 * WAD, 2**255, expiry), trader),
            )
            record(
                "buy (same series, holder)", send(v.buy(series, 5 * WAD, 2**255, expiry), trader)
            )
            record(
                "buy (same series, new holder)",
                send(v.buy(series, 5 * WAD, 2**255, expiry), trader2),
            )
            record("sell (new position)", send(v.sell(other, 10 * WAD, 0, expiry), trader))
            record("sell (add to position)", send(v.sell(other, 5 * WAD, 0, expiry), trader))
            shares = v.share_balance(lp).call()
            record("request_withdraw", send(v.request_withdraw(shares // 2), lp))
            at(expiry + 1)
            send(oracle.functions.push(weth.address, 2150 * WAD, 8 * WAD // 10), keeper, 300_000)
            index = oracle.functions.observation_count(weth.address).call() - 1
            receipt = send(oracle.functions.settle(weth.address, expiry, index), keeper)
            if is_call:
                rows.append(("oracle", "settle (first observation at expiry)", receipt["gasUsed"]))
            at(expiry + 2 + DISPUTE_WINDOW)
            record(f"settle ({len(strikes)} strikes)", send(v.settle(), keeper, 1_000_000))
            record("redeem", send(v.redeem(series, 15 * WAD), trader))
            record("reclaim", send(v.reclaim(other), trader))
            record(
                "roll (with queued withdrawal)", send(v.roll(now() + 7 * 86_400, strikes), keeper)
            )
            record("withdraw", send(v.withdraw(), lp))

        # An outage: the last observation is a minute before an expiry, none follows it.
        at(now() + 1)
        send(oracle.functions.push(weth.address, 2150 * WAD, 8 * WAD // 10), keeper, 300_000)
        index = oracle.functions.observation_count(weth.address).call() - 1
        expiry = now() + 60
        delay = oracle.functions.FALLBACK_DELAY().call()
        at(expiry + delay)
        receipt = send(
            oracle.functions.settle_fallback(weth.address, expiry, index), trader, 300_000
        )
        rows.append(
            ("oracle", "settle_fallback (last observation before expiry)", receipt["gasUsed"])
        )
        # No observation within MAX_AGE before the expiry: only the owner can settle it.
        expiry += MAX_AGE + 60
        at(expiry + delay)
        receipt = send(
            oracle.functions.settle_by_owner(weth.address, expiry, 2100 * WAD), owner, 300_000
        )
        rows.append(("oracle", "settle_by_owner (no usable observation)", receipt["gasUsed"]))

    buys = [gas for _, name, gas in rows if name.startswith("buy")]
    worst_buy = max(buys)
    lines = [
        "| vault | entry point | gas |",
        "|---|---|---:|",
        *(f"| {label} | {name} | {gas:,} |" for label, name, gas in rows),
    ]
    verdict = "MET" if worst_buy <= TARGET_BUY_GAS else "NOT MET"
    summary = (
        f"buy: max {worst_buy:,} gas over {len(buys)} buys, target <= {TARGET_BUY_GAS:,}: {verdict}"
    )
    print("\n".join(lines))
    print(summary)
    path = write_results(
        "option_vault_gas",
        {"rows": [{"vault": r[0], "entry": r[1], "gas": r[2]} for r in rows], "max_buy": worst_buy},
        "\n".join(lines) + "\n\n" + summary + "\n",
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
