"""The sequencer's compiled request path (Rust, PyO3; source in native/src)."""

MAX_TX_SIZE: int

def decode_tx(
    raw: bytes,
) -> (
    tuple[
        bytes,  # tx_hash
        int,  # tx_type: 0, 1 or 2
        int,  # chain_id
        int,  # nonce
        int,  # gas
        int,  # fee_cap
        int,  # tip_cap
        bytes | None,  # to (None: contract creation)
        int,  # value
        bytes,  # data
        int,  # access_addresses
        int,  # access_keys
        str,  # sender, checksummed
    ]
    | None
):
    """The fields of `sequencer.mempool.DecodedTx` after `raw`, or None when the fast path does
    not take the transaction (the Python decoder then gives the verdict and its words)."""

def checksum_address(address: bytes) -> str:
    """The EIP-55 checksummed hex of a 20-byte address; ValueError for another length."""
