"""Atomic cross-rollup bundles: the structure, its EIP-712 hash and signature, the leg calldata.

Owns the off-chain mirror of `contracts/l2/BundleSettlement.vy` (byte-identical hashes and digests,
tested for parity on random bundles) and the owner's signature over a whole bundle. Pure: it never
talks to a chain or sends anything; keys are passed in by the caller and never stored or logged.

EIP-712 (types listed primary first, then referenced types in alphabetical order):
    Call(address target,uint256 value,bytes data)
    Pull(address token,uint256 amount)
    Leg(uint256 chainId,uint256 targetBlock,Pull[] pulls,Call[] calls)
    Bundle(address owner,address beneficiary,uint256 deadline,uint256 nonce,Leg[] legs)
Domain: name "SharedSequencer BundleSettlement", version "1", chainId = the L1 chain id (the same
for every rollup, so one signature verifies on each), verifyingContract = BundleSettlement (the
same address on every rollup).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import coincurve
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from sequencer.commitments import EIP712_DOMAIN_FIELDS, eip712_domain_separator

MAX_LEGS = 4
MAX_PULLS = 4
MAX_CALLS = 6
MAX_CALL_BYTES = 512

EIP712_NAME = "SharedSequencer BundleSettlement"
EIP712_VERSION = "1"

_CALL_TYPE = "Call(address target,uint256 value,bytes data)"
_PULL_TYPE = "Pull(address token,uint256 amount)"
_LEG_TYPE = "Leg(uint256 chainId,uint256 targetBlock,Pull[] pulls,Call[] calls)"
_BUNDLE_TYPE = "Bundle(address owner,address beneficiary,uint256 deadline,uint256 nonce,Leg[] legs)"
CALL_TYPE_HASH = keccak(text=_CALL_TYPE)
PULL_TYPE_HASH = keccak(text=_PULL_TYPE)
LEG_TYPE_HASH = keccak(text=_LEG_TYPE + _CALL_TYPE + _PULL_TYPE)
BUNDLE_TYPE_HASH = keccak(text=_BUNDLE_TYPE + _CALL_TYPE + _LEG_TYPE + _PULL_TYPE)

# ABI of the `bundle` argument of execute_leg and of the hash views.
CALL_ABI = "(address,uint256,bytes)"
PULL_ABI = "(address,uint256)"
LEG_ABI = f"(uint256,uint256,{PULL_ABI}[],{CALL_ABI}[])"
BUNDLE_ABI = f"(address,address,uint256,uint256,{LEG_ABI}[])"
EXECUTE_LEG_SELECTOR = function_signature_to_4byte_selector(
    f"execute_leg({BUNDLE_ABI},uint256,bytes)"
)

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class BundleError(ValueError):
    """A bundle that BundleSettlement would refuse to hash or run."""


@dataclass(frozen=True)
class Call:
    """One call of a leg, run from the owner's agent: `value` in wei, `data` with its selector."""

    target: str
    value: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", to_checksum_address(self.target))
        if len(self.data) > MAX_CALL_BYTES:
            raise BundleError(f"call data is {len(self.data)} bytes, max {MAX_CALL_BYTES}")
        if self.value < 0:
            raise BundleError("negative call value")


@dataclass(frozen=True)
class Pull:
    """`amount` (the token's base units) of `token` moved from the owner to the owner's agent."""

    token: str
    amount: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", to_checksum_address(self.token))
        if self.amount < 0:
            raise BundleError("negative pull amount")


@dataclass(frozen=True)
class Leg:
    """The part of a bundle that runs on rollup `chain_id`, in L2 block `target_block` only."""

    chain_id: int
    target_block: int
    pulls: tuple[Pull, ...] = ()
    calls: tuple[Call, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "pulls", tuple(self.pulls))
        object.__setattr__(self, "calls", tuple(self.calls))
        if len(self.pulls) > MAX_PULLS:
            raise BundleError(f"{len(self.pulls)} pulls in a leg, max {MAX_PULLS}")
        if len(self.calls) > MAX_CALLS:
            raise BundleError(f"{len(self.calls)} calls in a leg, max {MAX_CALLS}")

    @property
    def value(self) -> int:
        """The wei that `execute_leg` must carry for this leg (sum of its call values)."""
        return sum(c.value for c in self.calls)


@dataclass(frozen=True)
class Bundle:
    """A whole bundle: every leg on every chain; `deadline` is an L2 timestamp in seconds."""

    owner: str
    beneficiary: str
    deadline: int
    nonce: int
    legs: tuple[Leg, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "owner", to_checksum_address(self.owner))
        object.__setattr__(self, "beneficiary", to_checksum_address(self.beneficiary))
        object.__setattr__(self, "legs", tuple(self.legs))
        if len(self.legs) > MAX_LEGS:
            raise BundleError(f"{len(self.legs)} legs in a bundle, max {MAX_LEGS}")

    @property
    def hash(self) -> bytes:
        return bundle_hash(self)


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain: the L1 chain id and the BundleSettlement address (same on rollups)."""

    chain_id: int
    verifying_contract: str
    name: str = EIP712_NAME
    version: str = EIP712_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifying_contract", to_checksum_address(self.verifying_contract))

    @property
    def separator(self) -> bytes:
        return domain_separator(self)


# --- hashing (pure; byte-identical to BundleSettlement's views) ---


def _packed_hash(hashes: list[bytes]) -> bytes:
    return keccak(b"".join(hashes))


def call_hash(call: Call) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "address", "uint256", "bytes32"],
            [CALL_TYPE_HASH, call.target, call.value, keccak(call.data)],
        )
    )


def pull_hash(pull: Pull) -> bytes:
    return keccak(
        abi_encode(["bytes32", "address", "uint256"], [PULL_TYPE_HASH, pull.token, pull.amount])
    )


def leg_hash(leg: Leg) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "uint256", "bytes32", "bytes32"],
            [
                LEG_TYPE_HASH,
                leg.chain_id,
                leg.target_block,
                _packed_hash([pull_hash(p) for p in leg.pulls]),
                _packed_hash([call_hash(c) for c in leg.calls]),
            ],
        )
    )


def legs_hash(bundle: Bundle) -> bytes:
    """EIP-712 encoding of the `legs` array (the `legsHash` of a BundleReceipt)."""
    return _packed_hash([leg_hash(leg) for leg in bundle.legs])


def bundle_hash(bundle: Bundle) -> bytes:
    """The bundle hash: the EIP-712 struct hash of the bundle (its identity on every rollup)."""
    return keccak(
        abi_encode(
            ["bytes32", "address", "address", "uint256", "uint256", "bytes32"],
            [
                BUNDLE_TYPE_HASH,
                bundle.owner,
                bundle.beneficiary,
                bundle.deadline,
                bundle.nonce,
                legs_hash(bundle),
            ],
        )
    )


def domain_separator(domain: Domain) -> bytes:
    return eip712_domain_separator(
        domain.name, domain.version, domain.chain_id, domain.verifying_contract
    )


def bundle_digest(bundle: Bundle, domain: Domain) -> bytes:
    """The 32-byte EIP-712 digest the owner signs."""
    return keccak(b"\x19\x01" + domain_separator(domain) + bundle_hash(bundle))


# --- signing ---


def sign_bundle(bundle: Bundle, domain: Domain, private_key: bytes) -> bytes:
    """The owner's 65-byte signature r ‖ s ‖ v (v = 27 or 28) over the bundle's digest."""
    key = coincurve.PrivateKey(private_key)
    if to_checksum_address(keccak(key.public_key.format(compressed=False)[1:])[-20:]) != (
        bundle.owner
    ):
        raise BundleError("the signing key is not the bundle owner's")
    rsv = key.sign_recoverable(bundle_digest(bundle, domain), hasher=None)
    return rsv[:64] + bytes([rsv[64] + 27])


def recover_signer(bundle: Bundle, domain: Domain, signature: bytes) -> str:
    """The checksummed address that produced `signature` over this bundle."""
    if len(signature) != 65:
        raise BundleError(f"signature is {len(signature)} bytes, expected 65")
    s = int.from_bytes(signature[32:64], "big")
    if s > _SECP256K1_N // 2:
        raise BundleError("high-s signature (BundleSettlement refuses it)")
    v = signature[64]
    if v not in (27, 28):
        raise BundleError(f"signature v is {v}, expected 27 or 28")
    public = coincurve.PublicKey.from_signature_and_message(
        signature[:64] + bytes([v - 27]), bundle_digest(bundle, domain), hasher=None
    )
    return to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


# --- ABI values and leg transactions ---


def call_abi(call: Call) -> tuple[str, int, bytes]:
    return (call.target, call.value, call.data)


def leg_abi(leg: Leg) -> tuple[int, int, list[tuple[str, int]], list[tuple[str, int, bytes]]]:
    return (
        leg.chain_id,
        leg.target_block,
        [(p.token, p.amount) for p in leg.pulls],
        [call_abi(c) for c in leg.calls],
    )


def bundle_abi(bundle: Bundle) -> tuple[Any, ...]:
    """The bundle as the ABI tuple that `execute_leg` and the hash views take."""
    return (
        bundle.owner,
        bundle.beneficiary,
        bundle.deadline,
        bundle.nonce,
        [leg_abi(leg) for leg in bundle.legs],
    )


def execute_leg_calldata(bundle: Bundle, leg_index: int, signature: bytes) -> bytes:
    """Calldata of `BundleSettlement.execute_leg(bundle, leg_index, signature)`."""
    if not 0 <= leg_index < len(bundle.legs):
        raise BundleError(f"no leg {leg_index} in a bundle of {len(bundle.legs)}")
    return EXECUTE_LEG_SELECTOR + abi_encode(
        [BUNDLE_ABI, "uint256", "bytes"], [bundle_abi(bundle), leg_index, signature]
    )


def bundle_from_abi(value: tuple[Any, ...]) -> Bundle:
    """The inverse of `bundle_abi` (e.g. on what eth_abi decodes from a transaction)."""
    owner, beneficiary, deadline, nonce, legs = value
    return Bundle(
        owner,
        beneficiary,
        deadline,
        nonce,
        tuple(
            Leg(
                chain_id,
                target_block,
                tuple(Pull(token, amount) for token, amount in pulls),
                tuple(Call(target, v, bytes(data)) for target, v, data in calls),
            )
            for chain_id, target_block, pulls, calls in legs
        ),
    )


def decode_execute_leg(calldata: bytes) -> tuple[Bundle, int, bytes]:
    """(bundle, leg_index, signature) from `execute_leg` calldata, e.g. a leg transaction in the
    sequencer's pool. Raises BundleError if it is not an `execute_leg` call."""
    if calldata[:4] != EXECUTE_LEG_SELECTOR:
        raise BundleError("not an execute_leg call")
    try:
        value, leg_index, signature = abi_decode(
            [BUNDLE_ABI, "uint256", "bytes"], bytes(calldata[4:])
        )
    except Exception as exc:  # eth_abi raises several decoding error types
        raise BundleError(f"malformed execute_leg calldata: {exc}") from exc
    bundle = bundle_from_abi(value)
    if leg_index >= len(bundle.legs):
        raise BundleError(f"no leg {leg_index} in a bundle of {len(bundle.legs)}")
    return bundle, leg_index, bytes(signature)


def leg_transaction(
    bundle: Bundle,
    leg_index: int,
    signature: bytes,
    settlement: str,
) -> dict[str, Any]:
    """The unsigned-transaction fields of one leg: to, data, value and chainId.

    The executor adds nonce, gas and fees, signs and hands it to the block builder, which must
    place it in the leg's target block.
    """
    leg = bundle.legs[leg_index] if 0 <= leg_index < len(bundle.legs) else None
    if leg is None:
        raise BundleError(f"no leg {leg_index} in a bundle of {len(bundle.legs)}")
    return {
        "to": to_checksum_address(settlement),
        "data": execute_leg_calldata(bundle, leg_index, signature),
        "value": leg.value,
        "chainId": leg.chain_id,
    }


def typed_data(bundle: Bundle, domain: Domain) -> dict[str, Any]:
    """The bundle as EIP-712 typed data (for `eth_signTypedData_v4` wallets and eth-account)."""
    return {
        "types": {
            "EIP712Domain": list(EIP712_DOMAIN_FIELDS),
            "Call": [
                {"name": "target", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "data", "type": "bytes"},
            ],
            "Pull": [
                {"name": "token", "type": "address"},
                {"name": "amount", "type": "uint256"},
            ],
            "Leg": [
                {"name": "chainId", "type": "uint256"},
                {"name": "targetBlock", "type": "uint256"},
                {"name": "pulls", "type": "Pull[]"},
                {"name": "calls", "type": "Call[]"},
            ],
            "Bundle": [
                {"name": "owner", "type": "address"},
                {"name": "beneficiary", "type": "address"},
                {"name": "deadline", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "legs", "type": "Leg[]"},
            ],
        },
        "primaryType": "Bundle",
        "domain": {
            "name": domain.name,
            "version": domain.version,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": {
            "owner": bundle.owner,
            "beneficiary": bundle.beneficiary,
            "deadline": bundle.deadline,
            "nonce": bundle.nonce,
            "legs": [
                {
                    "chainId": leg.chain_id,
                    "targetBlock": leg.target_block,
                    "pulls": [{"token": p.token, "amount": p.amount} for p in leg.pulls],
                    "calls": [
                        {"target": c.target, "value": c.value, "data": c.data} for c in leg.calls
                    ],
                }
                for leg in bundle.legs
            ],
        },
    }
