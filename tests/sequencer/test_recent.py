"""Bounded memory without a chain: recently seen tx hashes (sequencer/recent.py) and the
per-client rate buckets (sequencer/rpc.py)."""

import pytest

from sequencer.recent import RecentHashes
from sequencer.rpc import RateLimiter


def _h(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_hashes_are_forgotten_keep_blocks_after_their_block_is_sealed():
    seen = RecentHashes(keep_blocks=3)
    for number in range(1, 1001):
        hashes = [_h(number * 10 + i) for i in range(5)]
        for tx_hash in hashes:
            seen.add(tx_hash)
        seen.sealed(901, number, hashes)
        assert len(seen) <= 3 * 5  # the bound: only the last keep_blocks sealed blocks
    assert _h(1000 * 10) in seen and _h(998 * 10 + 4) in seen
    assert _h(997 * 10) not in seen


def test_unsealed_hashes_stay_and_rollups_are_counted_apart():
    seen = RecentHashes(keep_blocks=2)
    seen.add(_h(1))  # promised, its block not sealed yet
    seen.add(_h(2))
    seen.sealed(902, 5, [_h(2)])
    for number in range(1, 50):
        seen.sealed(901, number, [])
    assert _h(1) in seen  # never sealed: kept
    assert _h(2) in seen  # rollup B has sealed nothing since
    seen.sealed(902, 7, [])
    assert _h(2) not in seen


def test_load_registers_the_sealed_blocks_and_keeps_the_unsealed():
    seen = RecentHashes(keep_blocks=2)
    seen.load([(901, 8, _h(8)), (901, 9, _h(9)), (901, 10, _h(10))], last_sealed={901: 9})
    assert all(_h(n) in seen for n in (8, 9, 10))
    seen.sealed(901, 10, [_h(10)])
    assert _h(8) not in seen and _h(9) in seen and _h(10) in seen
    with pytest.raises(ValueError):
        RecentHashes(keep_blocks=0)


def test_idle_rate_buckets_are_forgotten_and_a_forgotten_client_starts_full():
    limiter = RateLimiter(rate=10, burst=20)  # a bucket is full again after 2 s idle
    for client in range(1000):
        assert limiter.allow(f"10.0.{client // 256}.{client % 256}", 20, now=100.0)
    assert len(limiter.buckets) == 1000
    assert not limiter.allow("10.0.0.0", 6, now=100.5)  # 5 tokens refilled since
    assert limiter.allow("busy", 1, now=101.0)
    assert limiter.allow("busy", 1, now=102.5)  # sweeps: only "busy" was used in the last 2 s
    assert set(limiter.buckets) == {"busy"}
    assert limiter.allow("10.0.0.0", 20, now=102.6)  # like a new client: a full bucket
    assert not limiter.allow("10.0.0.0", 1, now=102.6)
