"""The one judge: whether a transaction may take a position on a rollup, as a typed verdict.

Owns every validity rule a transaction meets before it is placed, whoever brings it (a user's
`eth_sendRawTransaction`, the L1 forced queue, a bundle leg, the builder's own relays): decoding
(`mempool.decode_tx`: size, types 0-2 only, canonical RLP, a low-s signature), the static rules
(chain id, the block gas limit, intrinsic gas and the EIP-7623 floor, tip at most the fee cap,
initcode size, a sender that is not reserved) and the state rules (an EOA sender, the nonce
exactly next after the pending ones, fee cap at least the block's base fee bound, a balance
covering every pending maximum cost). Pure and deterministic: the same raw bytes, rules and
account state give the same verdict (derivation can judge a forced item again from L1 data and
the replayed chain). It never reads a chain, never stores or signs anything.

A `Reject` says whether the rollup can *never* take the transaction (`never=True`: it does not
decode, is for another chain, needs more gas than a block has, is below its intrinsic or floor
gas, has a tip above its fee cap, a disallowed type such as blob (3) or set-code (4), a contract
or reserved sender, a bad signature, a nonce already used) or cannot take it *now* (a nonce gap,
funds short of its cost, a fee cap below the base fee: the state may change). Admission answers
both with the geth message; a bundle waits on a nonce gap and is dropped otherwise; the forced
queue skips both (it cannot wait for an outsider's state without stalling: DESIGN §8).
"""

from __future__ import annotations

from dataclasses import dataclass

from sequencer.mempool import (
    MAX_INITCODE_SIZE,
    UINT64_MAX,
    UINT256_MAX,
    AccountState,
    DecodedTx,
    SenderLedger,
    TxRejected,
    decode_tx,
    floor_data_gas,
    intrinsic_gas,
)


@dataclass(frozen=True)
class ChainRules:
    """What a transaction is checked against on one rollup, besides account state."""

    chain_id: int
    block_gas_limit: int
    reserved: frozenset[str] = frozenset()  # checksummed senders only the sequencer may use


@dataclass(frozen=True)
class Accept:
    """The transaction may take the position it was judged for."""

    tx: DecodedTx


@dataclass(frozen=True)
class Reject:
    """The transaction may not take the position. `reason` is a short label (metrics, logs);
    `message` is the JSON-RPC error in geth's words; `never`: no later state can change this."""

    reason: str
    message: str
    never: bool
    tx: DecodedTx | None = None  # None when it did not decode

    def error(self) -> TxRejected:
        return TxRejected(self.reason, self.message)


Verdict = Accept | Reject


def _never(tx: DecodedTx | None, reason: str, message: str) -> Reject:
    return Reject(reason, message, True, tx)


def _not_now(tx: DecodedTx, reason: str, message: str) -> Reject:
    return Reject(reason, message, False, tx)


# --- static: raw bytes and chain rules only ---


def judge_static(tx: DecodedTx, rules: ChainRules) -> Verdict:
    """The rules that need no account state; every refusal is `never`."""
    if tx.chain_id != rules.chain_id:
        return _never(
            tx,
            "invalid_chain_id",
            f"invalid chain id for signer: have {tx.chain_id} want {rules.chain_id}",
        )
    if tx.nonce >= UINT64_MAX:
        return _never(tx, "nonce_max", "nonce has max value")
    if tx.gas > rules.block_gas_limit:
        return _never(tx, "gas_limit", "exceeds block gas limit")
    if tx.to is None and len(tx.data) > MAX_INITCODE_SIZE:
        return _never(
            tx,
            "initcode",
            f"max initcode size exceeded: code size {len(tx.data)}, limit {MAX_INITCODE_SIZE}",
        )
    if tx.tip_cap > tx.fee_cap:
        return _never(
            tx,
            "tip_above_fee_cap",
            f"max priority fee per gas higher than max fee per gas: address {tx.sender}, "
            f"maxPriorityFeePerGas: {tx.tip_cap}, maxFeePerGas: {tx.fee_cap}",
        )
    if tx.gas * tx.fee_cap > UINT256_MAX:
        return _never(tx, "fee_overflow", "gas * gasFeeCap overflows uint256")
    needed = intrinsic_gas(tx)
    if tx.gas < needed:
        return _never(
            tx, "intrinsic_gas", f"intrinsic gas too low: gas {tx.gas}, minimum needed {needed}"
        )
    floor = floor_data_gas(tx)
    if tx.gas < floor:
        return _never(
            tx,
            "floor_data_gas",
            f"insufficient gas for floor data gas cost: gas {tx.gas}, minimum needed {floor}",
        )
    if tx.sender in rules.reserved:
        return _never(tx, "reserved_sender", f"sender {tx.sender} is the sequencer's relayer")
    return Accept(tx)


def judge_raw(raw: bytes, rules: ChainRules) -> Verdict:
    """Decode `raw` and apply the static rules."""
    try:
        tx = decode_tx(raw)
    except TxRejected as exc:
        return _never(None, exc.reason, exc.message)
    return judge_static(tx, rules)


# --- state: the sender's account and what is pending ---


def judge_account(
    tx: DecodedTx, account: AccountState, expected_nonce: int, committed_cost: int, base_fee: int
) -> Verdict:
    """The rules against the sender's state: `expected_nonce` is the next nonce after every
    transaction of the sender placed before this position, `committed_cost` the sum of their
    maximum costs (wei), `base_fee` the most the base fee of the position's block can be."""
    if account.is_contract:
        return _never(tx, "sender_not_eoa", f"sender not an eoa: address {tx.sender}")
    if tx.nonce < expected_nonce:
        return _never(
            tx,
            "nonce_too_low",
            f"nonce too low: address {tx.sender}, tx: {tx.nonce} state: {expected_nonce}",
        )
    if tx.nonce > expected_nonce:
        return _not_now(
            tx,
            "nonce_too_high",
            f"nonce too high: address {tx.sender}, tx: {tx.nonce} state: {expected_nonce}",
        )
    if tx.fee_cap < base_fee:
        return _not_now(
            tx,
            "fee_cap_too_low",
            f"max fee per gas less than block base fee: address {tx.sender}, "
            f"maxFeePerGas: {tx.fee_cap}, baseFee: {base_fee}",
        )
    cost = tx.max_cost + committed_cost
    if account.balance < cost:
        return _not_now(
            tx,
            "insufficient_funds",
            f"insufficient funds for gas * price + value: balance {account.balance}, "
            f"tx cost {cost}, overshot {cost - account.balance}",
        )
    return Accept(tx)


def judge_pending(
    tx: DecodedTx,
    ledger: SenderLedger,
    base_fee: int,
    nonce_after: int | None = None,
    extra_cost: int = 0,
) -> Verdict:
    """`judge_account` against a ledger that knows the sender: after its pending transactions,
    and after `extra_cost` more of the caller's (a bundle slot's legs), with `nonce_after`
    overriding the next nonce when the caller placed some itself."""
    account = ledger.accounts[tx.sender]
    queue = ledger.pending.get(tx.sender, ())
    expected = nonce_after if nonce_after is not None else account.nonce + len(queue)
    committed = sum(p.max_cost for p in queue) + extra_cost
    return judge_account(tx, account, expected, committed, base_fee)


def judge(tx: DecodedTx, rules: ChainRules, ledger: SenderLedger, base_fee: int) -> Verdict:
    """Every rule, for a decoded transaction whose sender the ledger knows."""
    verdict = judge_static(tx, rules)
    if isinstance(verdict, Reject):
        return verdict
    return judge_pending(tx, ledger, base_fee)


def require(verdict: Verdict) -> DecodedTx:
    """The accepted transaction, or the refusal raised as `TxRejected` (admission's errors)."""
    if isinstance(verdict, Reject):
        raise verdict.error()
    return verdict.tx
