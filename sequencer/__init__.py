"""Shared sequencer for two rollups: ordering, signed promises, blocks, batches and derivation."""

__version__ = "0.1.0"
