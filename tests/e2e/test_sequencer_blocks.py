"""Blocks on the real engines: gas overflow moves to the next block, a mined block that is not the
plan halts loudly, and the metrics endpoint counts what happened (with no key in the logs)."""

import asyncio
import logging

import pytest
import requests
from eth_account import Account
from eth_utils import keccak
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.builder import BuildError, block_statuses, statuses_from_traces, verify_and_sign
from sequencer.commitments import Domain, Signer
from sequencer.config import DEVNET_SEQUENCER_ADDRESS, DEVNET_SEQUENCER_KEY
from sequencer.engine import EngineClient, engine_session


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
        async with engine_session() as session:
            engine = EngineClient(rollup_a.url, 901, session)
            return await verify_and_sign(engine, number, want, signer, domain)

    with pytest.raises(BuildError, match="differs from its plan: 1 txs mined, 0 planned"):
        asyncio.run(check([]))
    sealed, head = asyncio.run(check([_hash(stray)]))
    assert head.number == number and sealed.tx_hashes == (_hash(stray),)

    async def statuses():
        async with engine_session() as session:
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


REVERTER_INIT = "0x6460006000fd6000526005601bf3"  # deploys runtime code PUSH0 PUSH0 REVERT


def _caller_init(target: str) -> str:
    """Init code of a contract that calls `target`, ignores the outcome and stops (success)."""
    runtime = "6000600060006000600073" + target[2:].lower() + "5af15000"
    size = len(runtime) // 2
    return f"0x60{size:02x}600c60003960{size:02x}6000f3" + runtime


def _create(key, nonce: int, init: str, gas: int) -> str:
    tx = {
        "type": 2,
        "chainId": 901,
        "nonce": nonce,
        "value": 0,
        "data": init,
        "gas": gas,
        "maxFeePerGas": 50 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


def test_statuses_from_the_traces_are_the_receipts_statuses(rollup_a, trader, lp):
    """block_statuses reads the cheap call traces; on every kind of failure they must say
    what the receipts say (a reverted inner call does not fail its transaction)."""
    rollup_a.set_automine(False)
    key, nonce = trader.private_key, rollup_a.w3.eth.get_transaction_count(trader.address)

    def deploy(init: str, nonce: int, gas: int) -> str:
        tx_hash = rollup_a.rpc("eth_sendRawTransaction", [_create(key, nonce, init, gas)])
        rollup_a.rpc("evm_mine")
        return rollup_a.w3.eth.get_transaction_receipt(tx_hash)["contractAddress"]

    reverter = deploy(REVERTER_INIT, nonce, 100_000)
    caller = deploy(_caller_init(reverter), nonce + 1, 200_000)
    assert rollup_a.w3.eth.get_code(reverter) and rollup_a.w3.eth.get_code(caller)
    nonce += 2
    raws = [
        signed_transfer(key, 901, nonce, lp.address),  # plain transfer: success
        _create(key, nonce + 1, "0x60006000fd", 60_000),  # creation reverts
        signed_transfer(key, 901, nonce + 2, reverter, value=0, gas=50_000),  # reverts
        signed_transfer(key, 901, nonce + 3, caller, value=0, gas=100_000),  # inner revert only
        signed_transfer(key, 901, nonce + 4, reverter, value=0, gas=21_002),  # out of gas
        _create(key, nonce + 5, "0xfe", 60_000),  # invalid opcode
    ]
    for raw in raws:
        rollup_a.rpc("eth_sendRawTransaction", [raw])
    rollup_a.rpc("evm_mine")
    number = rollup_a.w3.eth.block_number
    hashes = [_hash(raw) for raw in raws]
    receipts = [rollup_a.w3.eth.get_transaction_receipt(h) for h in hashes]
    assert all(r["blockNumber"] == number for r in receipts)

    async def statuses(want):
        async with engine_session() as session:
            engine = EngineClient(rollup_a.url, 901, session)
            return await block_statuses(engine, number, want)

    got = asyncio.run(statuses(hashes))
    assert got == tuple(r["status"] for r in receipts) == (1, 0, 0, 1, 0, 0)
    traces = rollup_a.rpc("trace_block", [hex(number)])
    assert statuses_from_traces(traces, hashes) == got  # from the traces, not the fallback
    with pytest.raises(BuildError, match="receipts do not match the plan"):
        asyncio.run(statuses(hashes[::-1]))  # traces disagree with the plan: receipts decide
