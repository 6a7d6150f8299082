"""The request path's decode and static judge: the compiled decoder against the Python one.

    .venv/bin/python bench/decode.py [--count 5000] [--repeats 7]

For each transaction type (0, 1 and 2, the shapes the ingest bench and wallets send) it times
`judge_static(decode_tx(raw))` as the service runs it (the compiled `seqcore` decoder, native/)
and the same with the Python decoder `decode_tx_py` (the baseline, same run, same bytes), and
prints microseconds per transaction and their difference. Each figure is the best of
`--repeats` runs of `--count` calls: the best run is the one the machine's other load disturbed
least, so it compares across runs better than a mean. Part of both is the sender's recovery
(libsecp256k1, a floor neither removes). Writes bench/results/decode.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coincurve import PrivateKey  # noqa: E402

from sequencer.judge import ChainRules, judge_static  # noqa: E402
from sequencer.mempool import decode_tx, decode_tx_py, keccak, rlp_encode  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RULES = ChainRules(chain_id=901, block_gas_limit=30_000_000)
GWEI = 10**9


def _uint(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def signed(tx_type: int) -> bytes:
    """A transfer of `tx_type` on chain 901 (a type 1 with a one-slot access list)."""
    key = PrivateKey(b"\x11" * 32)
    to, value, gas, nonce = b"\xab" * 20, _uint(10**18), _uint(21_000), _uint(5)
    if tx_type == 0:
        body = [nonce, _uint(2 * GWEI), gas, to, value, b""]
        digest = keccak(rlp_encode([*body, _uint(901), b"", b""]))
    else:
        fees = [_uint(GWEI), _uint(3 * GWEI)] if tx_type == 2 else [_uint(2 * GWEI)]
        access = [[b"\xcd" * 20, [bytes(32)]]] if tx_type == 1 else []
        if tx_type == 1:
            gas = _uint(21_000 + 2_400 + 1_900)
        body = [_uint(901), nonce, *fees, gas, to, value, b"", access]
        digest = keccak(bytes([tx_type]) + rlp_encode(body))
    sig = key.sign_recoverable(digest, hasher=None)
    r, s, y = sig[:32].lstrip(b"\0"), sig[32:64].lstrip(b"\0"), sig[64]
    if tx_type == 0:
        return rlp_encode([*body, _uint(901 * 2 + 35 + y), r, s])
    return bytes([tx_type]) + rlp_encode([*body, _uint(y), r, s])


def best_us(decode, raw: bytes, count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            judge_static(decode(raw), RULES)
        best = min(best, (time.perf_counter() - start) / count)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for tx_type in (0, 1, 2):
        raw = signed(tx_type)
        assert decode_tx(raw) == decode_tx_py(raw)
        python_us = best_us(decode_tx_py, raw, args.count, args.repeats)
        compiled_us = best_us(decode_tx, raw, args.count, args.repeats)
        rows.append(
            {
                "type": tx_type,
                "python_us": round(python_us, 1),
                "compiled_us": round(compiled_us, 1),
                "saved_us": round(python_us - compiled_us, 1),
            }
        )
    lines = [
        "| type | Python decoder, us/tx | compiled decoder, us/tx | saved, us/tx |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['type']} | {row['python_us']} | {row['compiled_us']} | {row['saved_us']} |"
        )
    print("decode_tx + judge_static, best of", args.repeats, "runs of", args.count)
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "decode.json").write_text(json.dumps({"config": vars(args), "rows": rows}) + "\n")
    (RESULTS / "decode.md").write_text("\n".join(lines) + "\n")
    print(f"results: {RESULTS / 'decode.md'}")


if __name__ == "__main__":
    main()
