"""Two of ape's costs that `ape test` pays for nothing here: eager debugging work on every revert
(`lean_reverts`) and a scan of every dead node ever recorded at the end (`forget_dead_nodes`).
`SEQ_TEST_APE_AS_IS=1` leaves ape's reverts as they are (e.g. to debug a failing test with ape's
full revert report).

Reverts: the same `ContractLogicError` with the same revert message, without ape's eager
debugging work.

ape-foundry 0.8.12 handles each reverted transaction or call by tracing it (debug_traceCall),
mapping the trace onto the Vyper source (ape-vyper's pc map walk), asking the compiler to
"enrich" the error from the source line's dev comment, and printing the whole call tree to stdout
(shown by pytest only for a failing test). That is about a second of CPU per revert, most of
the time of the contract tests, which check ~250 reverts with `ape.reverts("<exact reason>")`.

`lean_reverts()` replaces `FoundryProvider._handle_execution_reverted` with the same construction
minus that work: the error keeps its revert message, transaction and (lazy) trace and source
traceback, so `ape.reverts(...)` compares exactly the same string, and a failure report can still
compute the source traceback on demand. Compiler enrichment (Vyper's built-in errors such as
integer overflow, recognised by their dev message) still runs for reverts without a reason
string, the only ones it can apply to. The call-tree print is the only thing dropped.
"""

from __future__ import annotations

import os
from importlib.metadata import version

PINNED = {"ape-foundry": "0.8.12", "eth-ape": "0.8.51"}


def lean_reverts() -> bool:
    """Install the lean handler; False (ape's own handler stays) when disabled or when the
    installed ape differs from the versions this copy of the handler was written against."""
    if os.environ.get("SEQ_TEST_APE_AS_IS") == "1":
        return False
    if any(version(name) != pinned for name, pinned in PINNED.items()):
        return False

    from ape.exceptions import ContractLogicError, TransactionError
    from ape_foundry.provider import FoundryProvider

    def handle_execution_reverted(self, exception, revert_message=None, **kwargs):
        # ape-foundry's message normalisation, unchanged
        if revert_message == "0x":
            revert_message = TransactionError.DEFAULT_MESSAGE
        else:
            revert_message = revert_message or TransactionError.DEFAULT_MESSAGE
        if revert_message.startswith("revert: "):
            revert_message = revert_message[8:]
        # the source traceback stays lazy (ContractLogicError.source_traceback computes it on
        # first access from the failed transaction)
        kwargs["set_ape_traceback"] = False
        error = ContractLogicError(base_err=exception, revert_message=revert_message, **kwargs)
        if revert_message == TransactionError.DEFAULT_MESSAGE:
            return self.compiler_manager.enrich_error(error)
        return error

    FoundryProvider._handle_execution_reverted = handle_execution_reverted
    return True


def forget_dead_nodes() -> int:
    """Drop the entries of processes that no longer exist from ape's record of the node processes
    it started (DATA_FOLDER/processes/nodes.json); return how many.

    ape adds an entry for every anvil it starts and removes it only on a clean exit, so every
    interrupted `ape test` leaves one behind; at the end of a session ape compares each entry
    with each provider it disconnects, rebuilding the provider's settings for every entry (about
    15 ms each, measured): with a few hundred dead entries, seconds per provider. Live entries
    are kept.
    """
    from ape import networks

    from sequencer.devnet import process_alive

    nodes = networks.running_nodes
    dead = [pid for pid in nodes.process_ids if not process_alive(pid)]
    if dead:
        nodes.remove_processes(*dead)
    return len(dead)
