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

class PreconfSigner:
    """Signs `Preconf` promises of one EIP-712 domain with one key: the same 65 bytes (r || s ||
    v, RFC 6979, low s, v 27/28) as `commitments.Signer.sign_digest` of the promise's digest."""

    def __init__(self, key: bytes, separator: bytes, typehash: bytes) -> None:
        """ValueError for a key that is not a secp256k1 private key, or a length other than 32."""
    def digest(
        self, chain_id: int, block_number: int, index: int, tx_hash: bytes, deadline: int
    ) -> bytes:
        """The promise's EIP-712 digest (numbers 64-bit: OverflowError above)."""
    def sign(
        self, chain_id: int, block_number: int, index: int, tx_hash: bytes, deadline: int
    ) -> bytes:
        """The signature of the promise's digest."""
    def sign_digest(self, digest: bytes) -> bytes:
        """The signature of any 32-byte digest."""
