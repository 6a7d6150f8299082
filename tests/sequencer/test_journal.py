"""The journal: durable before acknowledged, group commit, and what a restart gets back."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_utils import keccak

from sequencer.journal import (
    SCHEMA_VERSION,
    BundleRequest,
    Journal,
    JournalError,
    MarkReason,
    PreconfRecord,
    RewindMark,
    SealedBlock,
    TxKind,
)


def _record(n: int, chain_id: int = 901, block: int = 1) -> PreconfRecord:
    return PreconfRecord(
        chain_id=chain_id,
        block_number=block,
        index=n,
        tx_hash=(block * 1_000_000 + n).to_bytes(32, "big"),
        raw=b"\x02" + n.to_bytes(4, "big"),
        sender="0x" + "ab" * 20,
        nonce=n,
        max_cost=10**30 + n,
        deadline=100,
        signature=b"\x01" * 65,
        received_ns=n,
    )


def test_concurrent_appends_share_commits_and_survive_reopen(tmp_path):
    path = tmp_path / "j.sqlite"

    async def main():
        journal = Journal(path)
        journal.start()
        await asyncio.gather(*(journal.append([_record(n)]) for n in range(200)))
        commits = journal.commits
        journal.close()
        return commits

    commits = asyncio.run(main())
    assert 1 <= commits < 200  # group commit: many requests per fsync'd commit
    state = Journal(path).load()
    assert [r.index for r in state.pending] == list(range(200))
    assert state.pending[7] == _record(7)  # big ints and bytes round-trip


def test_queued_appends_are_answered_once_durable_one_wakeup_per_commit_group(tmp_path):
    path = tmp_path / "j.sqlite"
    stages: list[tuple[float, float, float]] = []

    async def main():
        journal = Journal(path, on_commit=lambda *times: stages.append(times))
        journal.start()
        loop = asyncio.get_running_loop()
        answered: list[tuple[int, BaseException | None, int]] = []
        every = loop.create_future()

        def done(n: int, error: BaseException | None) -> None:
            # Durable when called: a fresh connection already reads the row.
            answered.append((n, error, len(Journal(path).load().pending)))
            if len(answered) == 100:
                every.set_result(None)

        for n in range(100):  # queued in one loop turn: they share commits
            journal.append_nowait([_record(n)], lambda error, n=n: done(n, error))
        await every
        commits = journal.commits
        journal.close()
        return answered, commits

    answered, commits = asyncio.run(main())
    assert [n for n, _, _ in answered] == list(range(100))  # in queue order
    assert all(error is None and seen >= n + 1 for n, error, seen in answered)
    assert 1 <= commits < 100
    assert len(stages) == commits  # one wake-up of the loop per commit group
    assert all(min(times) >= 0 for times in stages)
    assert [r.index for r in Journal(path).load().pending] == list(range(100))


def test_a_failed_commit_is_handed_to_every_waiter_and_stops_later_writes(tmp_path):
    async def main():
        journal = Journal(tmp_path / "j.sqlite")
        journal.start()
        await journal.append([_record(0)])
        errors: list[BaseException | None] = []
        failed = asyncio.get_running_loop().create_future()
        clash = PreconfRecord(**{**_record(1).__dict__, "index": 0})  # position taken
        journal.append_nowait([clash], lambda error: (errors.append(error), failed.set_result(0)))
        await failed
        with pytest.raises(JournalError, match="failed earlier"):
            journal.append_nowait([_record(2)], errors.append)
        journal.close()
        return errors

    errors = asyncio.run(main())
    assert len(errors) == 1 and "UNIQUE" in str(errors[0])


def test_sealed_blocks_leave_pending_and_keep_statuses(tmp_path):
    path = tmp_path / "j.sqlite"

    async def main():
        journal = Journal(path)
        journal.start()
        await journal.append([_record(0), _record(1), _record(0, block=2)])
        block = SealedBlock(
            901,
            1,
            b"\x11" * 32,
            b"\x22" * 32,
            1234,
            (_record(0).tx_hash, _record(1).tx_hash),
            (1, 0),
            b"\x03" * 65,
        )
        await journal.seal(block)
        assert journal.block(901, 1) == block
        assert journal.preconf(_record(1).tx_hash).status == 0
        journal.close()

    asyncio.run(main())
    state = Journal(path).load()
    assert state.last_sealed == {901: 1}
    assert [(r.block_number, r.index) for r in state.pending] == [(2, 0)]


def test_a_position_is_promised_once(tmp_path):
    async def main():
        journal = Journal(tmp_path / "j.sqlite")
        journal.start()
        await journal.append([_record(0)])
        clash = _record(1)
        clash = PreconfRecord(**{**clash.__dict__, "index": 0})
        with pytest.raises(JournalError):
            await journal.append([clash])
        journal.close()

    asyncio.run(main())


def test_journal_of_another_signer_is_refused(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    journal.check_meta({"signer": "0xA"})
    journal.check_meta({"signer": "0xA"})
    with pytest.raises(JournalError, match="signer=0xA"):
        journal.check_meta({"signer": "0xB"})


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from tests.sequencer.test_journal import _record
    from sequencer.journal import Journal

    async def main():
        journal = Journal(Path(sys.argv[1]))
        journal.start()
        n = 0
        while True:
            batch = [_record(n + i) for i in range(5)]
            await asyncio.gather(*(journal.append([r]) for r in batch))
            for r in batch:
                print(r.index, flush=True)
            n += 5

    asyncio.run(main())
    """
)


def test_every_acknowledged_record_survives_sigkill(tmp_path):
    path = tmp_path / "j.sqlite"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), root], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= 300:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = {r.index for r in Journal(path).load().pending}
    assert set(acknowledged) <= stored


def test_a_bundle_slot_mark_survives_reopen_until_unmarked(tmp_path):
    path = tmp_path / "j.sqlite"

    async def mark(end: bool):
        journal = Journal(path)
        journal.start()
        await journal.begin_bundle_slot({901: 12, 902: 7})
        if end:
            await journal.end_bundle_slot()
        journal.close()

    asyncio.run(mark(end=False))
    slot = MarkReason.BUNDLE_SLOT
    assert Journal(path).load().rewind_marks == {
        901: RewindMark(901, 12, slot),
        902: RewindMark(902, 7, slot),
    }
    asyncio.run(mark(end=True))
    assert Journal(path).load().rewind_marks == {}


def test_abandoned_blocks_are_forgotten_with_a_rewind_mark_in_the_same_commit(tmp_path):
    """A follower abandons its blocks L1 never got: the journal forgets them and, in the same
    commit, marks the engine for rollback, so a stop before the engine is rolled back never
    leaves the journal sealing a block the engine lost, nor the engine holding blocks the
    journal forgot without a mark."""
    path = tmp_path / "j.sqlite"

    async def main(end: bool):
        journal = Journal(path)
        journal.start()
        if not end:
            await journal.append([_record(0, block=1), _record(0, block=2), _record(1, block=2)])
            for number in (1, 2):
                await journal.seal(
                    SealedBlock(901, number, bytes([number]) * 32, b"\x00" * 32, 1, (), (), b"")
                )
            await journal.abandon_after(901, 1, rewind_engine=True)
        else:
            await journal.end_abandon()
        journal.close()

    asyncio.run(main(end=False))
    state = Journal(path).load()
    assert state.last_sealed == {901: 1}
    assert state.pending == []
    # the restart rolls the engine back below block 2
    assert state.rewind_marks == {901: RewindMark(901, 2, MarkReason.ABANDON)}
    asyncio.run(main(end=True))
    assert Journal(path).load().rewind_marks == {}


def test_bundle_requests_survive_reopen_with_what_became_of_them(tmp_path):
    path = tmp_path / "j.sqlite"
    first = BundleRequest(b"\x01" * 32, ((901, b"\x02aa"), (902, b"\x02bb")), "0x" + "ab" * 20, 9)
    second = BundleRequest(b"\x02" * 32, ((902, b"\x02cc"),), "0x" + "cd" * 20, 12)

    async def main():
        journal = Journal(path)
        journal.start()
        await journal.store_bundle_request(first)
        await journal.store_bundle_request(second)
        await journal.store_bundle_request(first)  # the same bundle again changes nothing
        await journal.settle_bundle_requests([(second.bundle_hash, "dropped", "deadline passed")])
        journal.close()

    asyncio.run(main())
    journal = Journal(path)
    assert journal.bundle_requests("pending") == [first]
    assert journal.bundle_request(second.bundle_hash).status == "dropped"
    assert journal.bundle_request(second.bundle_hash).reason == "deadline passed"
    assert [r.bundle_hash for r in journal.bundle_requests()] == [b"\x01" * 32, b"\x02" * 32]
    journal.close()


def test_a_second_different_header_for_a_block_is_refused_even_after_it_was_abandoned(tmp_path):
    """Issue #13: after a fresh engine the service signed a second, different header for blocks
    it had signed (equivocation). The journal keeps every header it ever signed, through
    `abandon_after` and reopening, and refuses another hash for the same (chain, block); the
    same header again is fine (a block resealed after a crash)."""
    path = tmp_path / "j.sqlite"

    def header(number: int, fill: int) -> SealedBlock:
        return SealedBlock(901, number, bytes([fill]) * 32, b"\x00" * 32, 1, (), (), b"")

    async def first():
        journal = Journal(path)
        journal.start()
        await journal.seal(header(1, 1))
        await journal.seal(header(2, 2))
        await journal.abandon_after(901, 1, rewind_engine=False)
        journal.close()

    async def second():
        journal = Journal(path)
        journal.start()
        assert journal.signed_hash(901, 2) == bytes([2]) * 32
        assert journal.block(901, 2) is None  # forgotten as a sealed block, not as signed
        await journal.seal(header(2, 2))  # the same header again
        with pytest.raises(JournalError, match="different header"):
            await journal.seal(header(2, 9))
        journal.close()

    asyncio.run(first())
    asyncio.run(second())
    assert Journal(path).block(901, 2).block_hash == bytes([2]) * 32


SCHEMA0 = Path(__file__).parent / "fixtures" / "journal_schema0.sql"


def _schema0_journal(path: Path) -> None:
    """A journal file as the schema-0 code left it: block 1 of 901 (a promise, a relay, a bundle
    leg) and of 902 (a forced transaction, the other leg) sealed with the bundle's receipt;
    block 2 of 901 (a promise, a relay) unsealed, under a bundle-slot mark."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA0.read_text())
    db.close()


def _h(tag: int) -> bytes:
    return keccak(b"\x02" + bytes([tag]) * 4)


def test_a_journal_written_by_the_old_schema_opens_and_replays_every_row_as_what_it_is(tmp_path):
    """Upgrading must lose nothing answered: the old `leg` column (0 promise, 1 bundle leg or
    relay, 2 forced) becomes `kind`, a leg-1 row is a bundle leg when a received bundle holds it
    and a relay otherwise, the old `bundle_slot` mark becomes a rewind mark, and every field of
    every row survives; the migrated journal then works as a new one."""
    path = tmp_path / "old.sqlite"
    _schema0_journal(path)
    every_field = (
        "SELECT tx_hash, chain_id, block_number, idx, raw, sender, nonce, max_cost, deadline,"
        " signature, received_ns, status FROM txs ORDER BY tx_hash"
    )
    old = sqlite3.connect(path)
    before = old.execute(every_field).fetchall()
    old.close()
    assert len(before) == 7

    journal = Journal(path)
    kinds = {r.tx_hash: r.kind for r in journal.all_preconfs()}
    assert kinds == {
        _h(0x11): TxKind.PROMISED,
        _h(0x22): TxKind.RELAY,
        _h(0x33): TxKind.BUNDLE_LEG,
        _h(0x44): TxKind.FORCED,
        _h(0x55): TxKind.BUNDLE_LEG,
        _h(0x66): TxKind.PROMISED,
        _h(0x77): TxKind.RELAY,
    }
    migrated = sqlite3.connect(path)
    assert migrated.execute(every_field).fetchall() == before
    migrated.close()
    state = journal.load()
    assert state.meta == {"signer": "0x" + "ab" * 20, "rollups": "901,902"}
    assert state.last_sealed == {901: 1, 902: 1}
    assert [(r.index, r.kind) for r in state.pending] == [(0, TxKind.PROMISED), (1, TxKind.RELAY)]
    assert state.pending[0].deadline == 45 and state.pending[0].signature == b"\x01" * 65
    assert state.rewind_marks == {
        901: RewindMark(901, 2, MarkReason.LEGACY),
        902: RewindMark(902, 2, MarkReason.LEGACY),
    }
    assert journal.block(901, 1).tx_hashes == (_h(0x11), _h(0x22), _h(0x33))
    assert journal.signed_hash(902, 1) == b"\xc1" * 32
    assert journal.forced_for_block(902, 1) == ((0,), ())
    assert journal.bundle(b"\xb1" * 32).legs[1] == (902, 1, 1, _h(0x55))
    assert journal.deadlines_after(901, 0) == {1: 40, 2: 45}  # promises only
    journal.close()

    async def use():  # the migrated journal works as a new one
        journal = Journal(path)
        journal.start()
        await journal.drop_slot_txs(901, 2)  # the relay of the unsealed block, not the promise
        await journal.clear_rewind_marks()
        await journal.append([_record(1, block=2)])
        journal.close()

    asyncio.run(use())
    state = Journal(path).load()  # and opening it again changes nothing
    assert [(r.tx_hash, r.kind) for r in state.pending] == [
        (_h(0x66), TxKind.PROMISED),
        (_record(1, block=2).tx_hash, TxKind.PROMISED),
    ]
    assert state.rewind_marks == {}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "leg" not in {row[1] for row in db.execute("PRAGMA table_info(txs)")}
    db.close()


def test_a_migration_that_fails_leaves_the_old_journal_whole(tmp_path):
    """A row the migration cannot name (an unknown `leg`) stops it with an error, and the old
    journal is left exactly as it was (one transaction: a kill -9 inside it does the same)."""
    path = tmp_path / "old.sqlite"
    _schema0_journal(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE txs SET leg = 7 WHERE idx = 1 AND block_number = 2")
    db.commit()
    dump = list(db.iterdump())
    db.close()
    with pytest.raises(sqlite3.IntegrityError):
        Journal(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert [line for line in db.iterdump() if "rewind_marks" not in line] == dump
    db.close()


def test_a_journal_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(JournalError, match="newer than this version"):
        Journal(path)


def test_forced_placements_come_in_pages_that_join_up_exactly(tmp_path):
    """`seq_getForcedPlacements` is bounded: a page of `limit` blocks in queue order of their
    last index, and the next page from that index + 1 starts right after it (blocks of two
    rollups interleave in the one L1 queue)."""
    path = tmp_path / "j.sqlite"
    blocks = [(901, 3, [0, 2]), (902, 2, [1, 3]), (901, 4, [4]), (902, 3, [5, 6, 8]), (901, 5, [7])]

    async def write():
        journal = Journal(path)
        journal.start()
        for chain, number, indexes in blocks:
            journal.record_forced_nowait(chain, number, [], indexes, [])
        await journal.barrier()
        journal.close()

    asyncio.run(write())
    journal = Journal(path)
    everything = journal.forced_placed_from(0)
    assert [(c, n) for c, n, _ in everything] == [(901, 3), (902, 2), (901, 4), (901, 5), (902, 3)]
    for limit in (1, 2, 3):
        pages, first = [], 0
        while True:
            page = journal.forced_placed_from(first, limit)
            assert len(page) <= limit
            pages += page
            if len(page) < limit:
                break
            first = max(page[-1][2]) + 1
        assert pages == everything
    assert journal.forced_placed_from(4, 2) == [(901, 4, (4,)), (901, 5, (7,))]
    journal.close()


MIGRATOR = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    import sequencer.journal as journal

    rebuild = journal._migrate_txs_from_leg

    def rebuilt_then_stalled(db):
        rebuild(db)  # txs rebuilt with kinds, the old table dropped: not yet committed
        print("inside", flush=True)
        time.sleep(600)

    journal._migrate_txs_from_leg = rebuilt_then_stalled
    journal.Journal(Path(sys.argv[1]))
    """
)


def test_a_kill_during_the_upgrade_loses_nothing(tmp_path):
    """kill -9 inside the migration of a schema-0 journal (its `txs` rebuilt and the old table
    dropped, not yet committed): the journal is still the old one, and the next open migrates
    it with every row, each named as what it is."""
    path = tmp_path / "old.sqlite"
    _schema0_journal(path)
    db = sqlite3.connect(path)
    many = 5_000
    db.executemany(
        "INSERT INTO txs (tx_hash, chain_id, block_number, idx, raw, sender, nonce, max_cost,"
        " deadline, signature, received_ns, leg) VALUES (?, 903, ?, 0, x'02', 's', 0, '1', 9,"
        " x'01', 0, ?)",
        [(n.to_bytes(32, "big"), 10 + n, 2 if n % 3 == 0 else 0) for n in range(many)],
    )
    db.commit()
    db.close()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-c", MIGRATOR, str(path), root], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "inside"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0  # the old journal, whole
    assert db.execute("SELECT COUNT(*) FROM txs WHERE leg >= 0").fetchone()[0] == many + 7
    db.close()
    journal = Journal(path)
    records = journal.all_preconfs()
    assert len(records) == many + 7
    extra = [r for r in records if r.chain_id == 903]
    assert sum(r.kind == TxKind.FORCED for r in extra) == len(range(0, many, 3))
    assert sum(r.kind == TxKind.PROMISED for r in extra) == many - len(range(0, many, 3))
    assert journal.preconf(_h(0x33)).kind == TxKind.BUNDLE_LEG
    assert set(journal.load().rewind_marks) == {901, 902}
    journal.close()


def test_raw_transactions_of_a_block_range_in_position_order_cut_at_a_byte_budget(tmp_path):
    """`raws_in_range` (seq_getBlockTransactions): per block in position order, blocks without
    transactions left out, and an answer that stops after the block reaching the byte budget
    says which block it covers through, so the caller continues after it."""

    async def main():
        journal = Journal(tmp_path / "j.sqlite")
        journal.start()
        # blocks 1, 2 and 4 of rollup 901 (3 has none), appended out of order; one on 902
        await journal.append([_record(n, block=b) for b, n in ((2, 1), (1, 0), (2, 0), (4, 0))])
        await journal.append([_record(5, chain_id=902, block=1)])
        try:
            return [
                journal.raws_in_range(901, 1, 4, 1 << 20),
                journal.raws_in_range(901, 1, 4, 1),  # each answer stops after one block
                journal.raws_in_range(901, 2, 4, 1),
                journal.raws_in_range(901, 3, 3, 1),
                journal.raws_in_range(901, 5, 9, 1),
            ]
        finally:
            journal.close()

    every, first, second, third, beyond = asyncio.run(main())
    raw = lambda n, b: _record(n, block=b).raw  # noqa: E731
    assert every == ([(1, [raw(0, 1)]), (2, [raw(0, 2), raw(1, 2)]), (4, [raw(0, 4)])], 4)
    assert first == ([(1, [raw(0, 1)])], 1)
    assert second == ([(2, [raw(0, 2), raw(1, 2)])], 2)
    assert third == ([], 3)
    assert beyond == ([], 9)
