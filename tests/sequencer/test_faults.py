"""Test fault injection stays outside the builder: hooks from the environment, exit points."""

import pytest

from sequencer import faults
from sequencer.builder import NO_HOOKS


class _Exited(Exception):
    pass


def _exit(code: int) -> None:
    raise _Exited(code)


def test_without_the_variable_the_builder_gets_the_no_op_hooks():
    assert faults.hooks_from_env({}) is NO_HOOKS
    NO_HOOKS.bundle_block_mined(901, 5, left=1)  # nothing happens
    NO_HOOKS.bundle_block_sealed(901, 5, 1, left=1)


def test_an_unknown_fault_point_is_refused_not_ignored():
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.hooks_from_env({faults.FAULT_ENV: "bundle-slot-typo"})


def test_each_point_exits_only_where_it_is_named(monkeypatch):
    """bundle-slot-after-first-block: once a block is mined and another rollup's is still to
    mine; bundle-slot-after-first-seal: once the first block is sealed and others are not."""
    monkeypatch.setattr(faults.os, "_exit", _exit)
    slot = faults.hooks_from_env({faults.FAULT_ENV: faults.FAULT_BUNDLE_SLOT})
    slot.bundle_block_mined(902, 5, left=0)  # the last block of the slot: no exit
    slot.bundle_block_sealed(901, 5, 1, left=1)
    with pytest.raises(_Exited):
        slot.bundle_block_mined(901, 5, left=1)
    seal = faults.hooks_from_env({faults.FAULT_ENV: faults.FAULT_BUNDLE_SEAL})
    seal.bundle_block_mined(901, 5, left=1)
    seal.bundle_block_sealed(901, 5, 1, left=0)  # a slot of one rollup: nothing after it
    seal.bundle_block_sealed(902, 5, 2, left=0)
    with pytest.raises(_Exited):
        seal.bundle_block_sealed(901, 5, 1, left=1)
