"""Every pre-confirmation the service signs is kept: the mined block holds that transaction at
that position, and the signed block header matches the engine's block."""

import time
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from sequencer.commitments import BlockHeaderMsg, PreconfMsg, digest, recover
from sequencer.config import DEVNET_SEQUENCER_ADDRESS

GWEI = 10**9


def signed_transfer(key, chain_id, nonce, to, value=1, **extra) -> str:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    tx.update(extra)
    return "0x" + bytes(Account.sign_transaction(tx, key).raw_transaction).hex()


def wait_sealed(service, chain_id, tx_hash, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pre = service.result(f"/{chain_id}", "seq_getPreconfirmation", [tx_hash])
        if pre and pre["status"] in ("success", "reverted"):
            return pre
        time.sleep(0.05)
    raise AssertionError(f"{tx_hash} not sealed in {timeout}s")


def test_every_preconfirmation_matches_the_mined_position(
    sequencer_service, chains, accounts, trader
):
    service = sequencer_service
    senders = [accounts[i] for i in (4, 5, 6, 7)]
    jobs = []
    for chain_id in (901, 902):
        for sender in senders:
            for nonce in range(6):
                raw = signed_transfer(sender.private_key, chain_id, nonce, trader.address)
                jobs.append((chain_id, sender.address, nonce, raw))

    def send(job):
        chain_id, _, nonce, raw = job
        method = "seq_sendRawTransaction" if nonce % 2 else "eth_sendRawTransaction"
        return job, service.rpc(f"/{chain_id}", method, [raw])

    # Each sender's nonces in order, senders and chains in parallel.
    lanes = {}
    for job in jobs:
        lanes.setdefault((job[0], job[1]), []).append(job)
    with ThreadPoolExecutor(8) as pool:
        answers = [
            a
            for lane in pool.map(lambda jobs: [send(j) for j in jobs], lanes.values())
            for a in lane
        ]
    preconfs = []
    for (chain_id, _, _, _), answer in answers:
        assert "error" not in answer, answer
        tx_hash = (
            answer["result"] if isinstance(answer["result"], str) else answer["result"]["txHash"]
        )
        preconfs.append((chain_id, tx_hash, answer["result"]))
    for chain_id, tx_hash, result in preconfs:
        if isinstance(result, dict):  # seq_sendRawTransaction: signed inclusion promise
            msg = PreconfMsg(
                chain_id,
                result["blockNumber"],
                result["index"],
                bytes.fromhex(tx_hash[2:]),
                result["deadline"],
            )
            signature = bytes.fromhex(result["signature"][2:])
            assert recover(digest(service.domain, msg), signature) == DEVNET_SEQUENCER_ADDRESS
    for chain_id, tx_hash, _ in preconfs:
        pre = wait_sealed(service, chain_id, tx_hash)
        assert pre["status"] == "success"
        w3 = chains["rollup_a" if chain_id == 901 else "rollup_b"].w3
        receipt = w3.eth.get_transaction_receipt(tx_hash)
        assert (receipt["blockNumber"], receipt["transactionIndex"]) == (
            pre["blockNumber"],
            pre["index"],
        )
        header = service.result(f"/{chain_id}", "seq_getBlockHeader", [pre["blockNumber"]])
        block = w3.eth.get_block(pre["blockNumber"])
        assert header["blockHash"] == "0x" + block["hash"].hex().removeprefix("0x")
        assert tx_hash in header["transactions"]
        msg = BlockHeaderMsg(
            chain_id, header["blockNumber"], bytes(block["hash"]), bytes(block["parentHash"])
        )
        sig = bytes.fromhex(header["signature"][2:])
        assert recover(digest(service.domain, msg), sig) == DEVNET_SEQUENCER_ADDRESS
    status = service.result("/", "seq_status")
    assert status["halted"] is None and status["slots"] > 0


def test_an_evicted_sender_is_read_again_before_admission(sequencer_service, trader, lp):
    service = sequencer_service
    first = service.result(
        "/901", "eth_sendRawTransaction", [signed_transfer(trader.private_key, 901, 0, lp.address)]
    )
    wait_sealed(service, 901, first)
    ledger = service.seq.chains[901].ledger
    service.call_in_loop(lambda: ledger.forget_idle(keep=0))  # a full cache does this at a seal
    assert not ledger.known(trader.address)
    second = service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(trader.private_key, 901, 1, lp.address)]
    )
    assert wait_sealed(service, 901, second["txHash"])["status"] == "success"


def test_a_transaction_sealed_long_ago_sent_again_gets_its_promise_from_the_journal(
    start_service, trader, lp
):
    service = start_service(seen_keep_blocks=1)  # hashes leave memory one block after sealing
    raw = signed_transfer(trader.private_key, 901, 0, lp.address)
    first = service.result("/901", "seq_sendRawTransaction", [raw])
    wait_sealed(service, 901, first["txHash"])
    tx_hash = bytes.fromhex(first["txHash"][2:])
    deadline = time.monotonic() + 10
    while service.call_in_loop(lambda: tx_hash in service.seq.seen):
        assert time.monotonic() < deadline, "never forgotten"
        time.sleep(0.05)
    again = service.result("/901", "seq_sendRawTransaction", [raw])
    assert again["signature"] == first["signature"]
    assert (again["blockNumber"], again["index"]) == (first["blockNumber"], first["index"])
    assert service.result("/901", "eth_sendRawTransaction", [raw]) == first["txHash"]
