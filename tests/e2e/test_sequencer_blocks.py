"""Blocks on the real engines: gas overflow moves to the next block, a mined block that is not the
plan halts loudly, and the metrics endpoint counts what happened (with no key in the logs)."""

import asyncio
import logging

import aiohttp
import pytest
import requests
from eth_utils import keccak
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.builder import BuildError, block_statuses, verify_and_sign
from sequencer.commitments import Domain, Signer
from sequencer.config import DEVNET_SEQUENCER_ADDRESS, DEVNET_SEQUENCER_KEY
from sequencer.service import EngineClient


def test_a_tx_that_does_not_fit_goes_to_the_next_block(sequencer_service, trader, lp):
    service = sequencer_service
    big = 12_000_000  # three of these exceed the 30M block gas limit
    promises = [
        service.result(
            "/901",
            "seq_sendRawTransaction",
            [signed_transfer(trader.private_key, 901, n, lp.address, gas=big)],
        )
        for n in range(3)
    ]
    first, second, third = promises
    assert second["blockNumber"] == first["blockNumber"] and second["index"] == first["index"] + 1
    assert (third["blockNumber"], third["index"]) == (first["blockNumber"] + 1, 0)
    for promise in promises:
        sealed = wait_sealed(service, 901, promise["txHash"])
        assert (sealed["blockNumber"], sealed["index"]) == (
            promise["blockNumber"],
            promise["index"],
        )
        assert sealed["status"] == "success"


def test_a_block_that_is_not_the_plan_fails_loudly(rollup_a, trader, lp):
    rollup_a.set_automine(False)
    stray = signed_transfer(trader.private_key, 901, 0, lp.address)
    rollup_a.rpc("eth_sendRawTransaction", [stray])
    rollup_a.rpc("evm_mine")
    number = rollup_a.w3.eth.block_number
    signer = Signer(DEVNET_SEQUENCER_KEY)
    domain = Domain(31337, "0x00000000000000000000000000000000000051a5")

    async def check(want):
        async with aiohttp.ClientSession() as session:
            engine = EngineClient(rollup_a.url, 901, session)
            return await verify_and_sign(engine, number, want, signer, domain)

    with pytest.raises(BuildError, match="differs from its plan: 1 txs mined, 0 planned"):
        asyncio.run(check([]))
    sealed, head = asyncio.run(check([_hash(stray)]))
    assert head.number == number and sealed.tx_hashes == (_hash(stray),)

    async def statuses():
        async with aiohttp.ClientSession() as session:
            engine = EngineClient(rollup_a.url, 901, session)
            return await block_statuses(engine, number, [_hash(stray)])

    assert asyncio.run(statuses()) == (1,)


def _hash(raw: str) -> bytes:
    return keccak(bytes.fromhex(raw[2:]))


def test_metrics_count_what_happened_and_logs_hold_no_key(sequencer_service, trader, lp, caplog):
    caplog.set_level(logging.DEBUG, logger="sequencer")
    service = sequencer_service
    tx_hash = service.result(
        "/901", "eth_sendRawTransaction", [signed_transfer(trader.private_key, 901, 0, lp.address)]
    )
    wait_sealed(service, 901, tx_hash)
    again = signed_transfer(trader.private_key, 901, 0, lp.address)
    assert service.result("/901", "eth_sendRawTransaction", [again]) == tx_hash  # idempotent
    other = signed_transfer(trader.private_key, 901, 0, lp.address, value=2)
    answer = service.rpc("/901", "eth_sendRawTransaction", [other])
    assert answer["error"]["message"].startswith("nonce too low")
    text = requests.get(service.url + "/metrics", timeout=10).text
    assert 'seq_tx_accepted_total{chain="901"} 1.0' in text
    assert 'seq_tx_rejected_total{chain="901",reason="nonce_too_low"} 1.0' in text
    assert 'seq_preconf_latency_seconds_count{chain="901"} 1.0' in text
    assert 'seq_block_build_seconds_count{chain="902"}' in text
    assert 'seq_pending_txs{chain="901"} 0.0' in text
    logged = caplog.text + text
    assert DEVNET_SEQUENCER_KEY[2:] not in logged and DEVNET_SEQUENCER_KEY[2:].upper() not in logged


def test_status_command_shows_the_running_sequencer(sequencer_service):
    from click.testing import CliRunner

    from sequencer.cli import main

    result = CliRunner().invoke(main, ["status", "--url", sequencer_service.url])
    assert result.exit_code == 0, result.output
    assert DEVNET_SEQUENCER_ADDRESS in result.output
    assert "rollup 901" in result.output and "rollup 902" in result.output
    missing = CliRunner().invoke(main, ["status", "--url", "http://127.0.0.1:9"])
    assert missing.exit_code != 0 and "no sequencer answering" in missing.output
