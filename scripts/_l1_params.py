"""Parameters of the L1 contracts, shared by scripts/deploy.py, the tests and bench/gas_l1.py.

(A module of its own: ape loads scripts/deploy.py in a way that dataclasses cannot inspect.)
"""

from __future__ import annotations

from dataclasses import dataclass

ETHER = 10**18


@dataclass(frozen=True)
class L1Params:
    """Parameters of the L1 contracts (README "Staking, batches and slashing on L1").

    Devnet values, for an L1 with 1-second blocks. The contracts refuse inconsistent ones:
    evidence_window >= term, unbonding > evidence_window + term, force_delay + term <=
    evidence_window, reporter_bps + victim_bps <= 10,000.
    """

    min_stake: int = ETHER  # wei
    term_blocks: int = 32  # L1 blocks per leader term
    unbonding_blocks: int = 1_000  # L1 blocks from request_exit to withdraw
    evidence_window_blocks: int = 600  # longest promise-to-proof delay (L1 blocks)
    reporter_bps: int = 1_000  # 10% of a slash to whoever proves it
    victim_bps: int = 5_000  # 50% to the victim (treasury when there is none)
    escape_blocks: int = 120  # L1 blocks without a batch before anyone may post
    force_delay_blocks: int = 60  # L1 blocks a forced transaction may wait
    force_fee: int = ETHER // 1_000  # wei per forced-inclusion request
    slash_amount: int = ETHER // 2  # wei per proven violation
    sequencer_stake: int = 2 * ETHER  # what the devnet sequencer role registers with
    rollups: tuple[int, ...] = (901, 902)  # chain ids open for forced inclusion (SharedInbox)
