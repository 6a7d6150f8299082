"""The service's configuration: one `ServiceConfig` object, built once at start and passed down.

Owns the settings (from arguments, `SEQUENCER_*` environment variables, or defaults) and the
loading of the sequencer's signing key. It must never log, print or serialise a key or a
keystore password: secrets are `SecretStr`, and `ServiceConfig.describe()` omits them.

Keys: on a devnet the sequencer may sign with anvil's well-known account #1, but only when asked
explicitly (`key_source="devnet"`; these keys are public). Anywhere else the key comes from an
encrypted eth-account (V3) keystore file, with its password from `SEQUENCER_KEYSTORE_PASSWORD`
or from a file (`keystore_password_file`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from eth_account import Account
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sequencer.commitments import Domain, Signer
from sequencer.manifest import Manifest, ManifestError, load_manifest

# anvil's well-known account #1 (mnemonic "test test ... junk"): the devnet sequencer.
# PUBLIC KEY MATERIAL, DEVNET ONLY: anyone can sign with it.
DEVNET_SEQUENCER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEVNET_SEQUENCER_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# anvil's well-known account #2: the devnet relayer of cross-rollup messages (the manifest's
# `relayer` role). PUBLIC KEY MATERIAL, DEVNET ONLY.
DEVNET_RELAYER_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"

OrderingPolicy = Literal["fcfs", "priority"]
BATCHER_TERM_MARGIN = 2  # the batcher posts nothing in a term's last 2 L1 blocks


class ConfigError(ValueError):
    """The configuration is incomplete or contradicts itself."""


class ServiceConfig(BaseSettings):
    """Everything the sequencer service needs to run. Units are in the field names."""

    model_config = SettingsConfigDict(env_prefix="SEQUENCER_", extra="forbid")

    manifest: Path = Field(description="Deployment manifest (deployments/<name>.json).")
    host: str = "127.0.0.1"
    port: int = Field(default=8547, ge=0, le=65535)
    slot_ms: int = Field(default=250, gt=0)
    journal: Path = Path(".sequencer/journal.sqlite")
    journal_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL fsyncs every WAL commit: a promise survives a power loss. NORMAL "
        "survives a crash of the process (kill -9) but not of the machine; for measurement.",
    )
    preconf_deadline_l1_blocks: int = Field(
        default=64,
        gt=0,
        description="A pre-confirmation promises that a batch covers its block by the L1 block "
        "current at ingest plus this many L1 blocks.",
    )
    l1_poll_s: float = Field(default=1.0, gt=0)
    forced_deadline_margin_l1_blocks: int = Field(
        default=8,
        ge=0,
        description="Warn (log and metric) when a forced item not yet placed has its L1 deadline "
        "within this many L1 blocks of the L1 head.",
    )
    # --- leaders and followers (sequencer/leader.py) ---
    handoff_l1_blocks: int = Field(
        default=8,
        ge=BATCHER_TERM_MARGIN + 1,
        description="When another sequencer leads the next term, stop promising positions this "
        "many L1 blocks before the term's last block, so that every sealed block is posted "
        "inside the term (the batcher refuses its last 2 blocks).",
    )
    follow_poll_s: float = Field(
        default=1.0, gt=0, description="Seconds between reads of L1 batches while following."
    )
    follow_confirmations: int = Field(
        default=0,
        ge=0,
        description="L1 blocks on top of a batch before a follower replays it; a new leader "
        "starts building once the previous term's batches are this deep.",
    )
    leader_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Sequencer address -> RPC URL, overriding the URL each sequencer publishes "
        "in the registry (SequencerRegistry.endpoint), for forwarding writes to the leader.",
    )
    slasher_address: str | None = Field(
        default=None,
        description="EIP-712 verifying contract; used only when the manifest has no Slasher.",
    )
    # --- deadlines and backpressure (sequencer/deadlines.py) ---
    batcher_interval_l1_blocks: int = Field(
        default=2,
        ge=1,
        description="L1 blocks between two rounds of the batcher (its --interval over the L1 "
        "block time): part of the earliest deadline the service signs.",
    )
    batcher_confirmations: int = Field(
        default=1,
        ge=0,
        description="The batcher's confirmation depth (its --confirmations): a signed deadline "
        "leaves the batch this many L1 blocks more.",
    )
    batcher_max_blocks: int = Field(
        default=64,
        ge=1,
        description="Rollup blocks the batcher takes per rollup per batch (its --max-blocks): "
        "each full batch of unposted blocks ahead of a new one is one more batcher round.",
    )
    batcher_margin_l1_blocks: int = Field(
        default=8,
        ge=0,
        description="The batcher's posting margin (its --margin-blocks): it posts when the "
        "nearest deadline is this many L1 blocks away, so no deadline closer than "
        "2 x margin + 3 L1 blocks is signed (sequencer/posting.py). 0: a batcher that posts "
        "every round (--every-round).",
    )
    deadline_spare_l1_blocks: int = Field(
        default=1,
        ge=0,
        description="L1 blocks added to the earliest deadline the service signs, for the slot's "
        "seal and a fee bump.",
    )
    backpressure_margin_l1_blocks: int = Field(
        default=16,
        ge=1,
        description="Refuse new promises (eth_sendRawTransaction, seq_sendRawTransaction, "
        "seq_sendBundle: -32000 'sequencer busy', with a retry hint) while a promised block not "
        "yet on L1 has its deadline fewer than this many L1 blocks after the L1 head.",
    )
    l1_max_age_s: float = Field(
        default=10.0,
        gt=0,
        description="Refuse new promises while the service's last good read of the L1 head is "
        "older than this (deadlines count from the L1 head).",
    )
    evidence_window_l1_blocks: int = Field(
        default=600,
        ge=1,
        description="Latest bundle deadline accepted, in L1 blocks after the head; the "
        "registry's EVIDENCE_WINDOW_BLOCKS replaces it when the manifest has a registry.",
    )
    engine_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a call to L1 or a rollup engine may take (a pipelined send: "
        "seconds without answer bytes) before it counts as a stall: retried, never waited "
        "for forever.",
    )
    engine_retry_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a slot retries a rollup engine that resets or stalls before the "
        "service halts (a persistent fault).",
    )
    # --- limits (each one's JSON-RPC error is listed in docs/service-and-rpc.md) ---
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        gt=0,
        description="Largest request body; a larger one is answered HTTP 413 without being read.",
    )
    max_batch_len: int = Field(default=1000, gt=0, description="Most calls in one batch.")
    rpc_gas_cap: int = Field(
        default=50_000_000,
        ge=21_000,
        le=2**63 - 1,
        description="Most gas an eth_call, eth_estimateGas or eth_createAccessList runs with on "
        "the engine (geth's --rpc.gascap): a call naming more gets this much (one naming none, the "
        "engine's block gas limit). "
        "An engine runs a call's gas in CPU (about 0.7 s per billion on the development "
        "machine) and mines nothing meanwhile.",
    )
    proxied_in_flight: int = Field(
        default=4,
        ge=1,
        description="Reads proxied to one rollup engine at once; more wait, in order, for one "
        "to finish. The builder's own engine calls never wait behind them.",
    )
    max_json_depth: int = Field(
        default=64,
        ge=2,
        le=512,
        description="Deepest nesting of arrays and objects in a body (a batch of calls with "
        "array params is 3 deep); deeper is a parse error (-32700).",
    )
    max_connections_per_client: int = Field(
        default=512,
        gt=0,
        description="Open connections per client IP address; one more is closed as soon as it "
        "is accepted. Behind a proxy every client has the proxy's address: raise it there.",
    )
    idle_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A kept-alive connection with no complete request this long after it opened "
        "or after its last answer is closed.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must be complete this long after its first byte, or "
        "the connection is closed (slowloris).",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request's body must be complete this long after its headers, or it is "
        "answered HTTP 408 (-32600) and the connection closed.",
    )
    write_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A connection whose client reads nothing of its answers this long (they back "
        "up beyond the write buffer) is aborted.",
    )
    rate_per_client_per_s: float = Field(
        default=20_000.0, gt=0, description="JSON-RPC calls per second per client address."
    )
    rate_burst: int = Field(default=40_000, gt=0)
    admission_per_turn: int = Field(
        default=64,
        gt=0,
        description="JSON-RPC calls the RPC starts in one turn of the event loop (a batch counts "
        "each call); the rest wait for the next turns, so the slot builder's engine calls are "
        "answered between slices of a burst (sequencer/turns.py).",
    )
    seen_keep_blocks: int = Field(
        default=1024,
        ge=1,
        description="Blocks after its block is sealed that a tx hash stays in memory for the "
        "'already known' check (older ones are read from the journal).",
    )
    # --- ordering ---
    ordering: OrderingPolicy = "fcfs"
    # --- key ---
    key_source: Literal["devnet", "keystore"] = "keystore"
    keystore: Path | None = None
    keystore_password: SecretStr | None = None
    keystore_password_file: Path | None = None
    # --- relays ---
    relayer_key: SecretStr | None = Field(
        default=None,
        description="Key of the messengers' relayer (hex). With key_source=devnet it defaults "
        "to anvil's public account #2; without a key, messages are not relayed.",
    )

    @model_validator(mode="after")
    def _check_deadline_covers_handoff(self) -> ServiceConfig:
        if self.preconf_deadline_l1_blocks < self.handoff_l1_blocks:
            raise ValueError(
                "preconf_deadline_l1_blocks must be at least handoff_l1_blocks: a promise made "
                "just before the handoff must still be postable by its deadline"
            )
        return self

    @model_validator(mode="after")
    def _check_deadline_leaves_margin(self) -> ServiceConfig:
        if self.preconf_deadline_l1_blocks <= self.backpressure_margin_l1_blocks:
            raise ValueError(
                "preconf_deadline_l1_blocks must exceed backpressure_margin_l1_blocks: otherwise "
                "every promise would stop the service from promising"
            )
        if self.preconf_deadline_l1_blocks > self.evidence_window_l1_blocks:
            raise ValueError(
                "preconf_deadline_l1_blocks must be within evidence_window_l1_blocks: a promise "
                "past the evidence window could never be proven broken"
            )
        return self

    @model_validator(mode="after")
    def _check_key_source(self) -> ServiceConfig:
        if self.key_source == "keystore" and self.keystore is None:
            raise ValueError(
                "key_source=keystore needs a keystore file (SEQUENCER_KEYSTORE); "
                "on a devnet pass key_source=devnet to use anvil's public key #1"
            )
        return self

    def describe(self) -> dict[str, object]:
        """The configuration for logs and seq_status: no key, no password."""
        out = self.model_dump(
            mode="json", exclude={"keystore_password", "keystore_password_file", "relayer_key"}
        )
        out["keystore"] = str(self.keystore) if self.keystore else None
        return out

    def load_signer(self) -> Signer:
        """The sequencer's signing key. Never logged; the Signer's repr shows only the address."""
        if self.key_source == "devnet":
            return Signer(DEVNET_SEQUENCER_KEY)
        assert self.keystore is not None
        password = self._password()
        try:
            keyfile = json.loads(self.keystore.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read keystore {self.keystore}: {exc}") from None
        try:
            key = Account.decrypt(keyfile, password)
        except ValueError:
            raise ConfigError(f"wrong password for keystore {self.keystore}") from None
        return Signer(bytes(key))

    def load_relayer_key(self) -> str | None:
        """The relayer's key (never logged), or None: the service then relays nothing."""
        if self.relayer_key is not None:
            return self.relayer_key.get_secret_value()
        return DEVNET_RELAYER_KEY if self.key_source == "devnet" else None

    def _password(self) -> str:
        if self.keystore_password is not None:
            return self.keystore_password.get_secret_value()
        if self.keystore_password_file is not None:
            try:
                return self.keystore_password_file.read_text().rstrip("\n")
            except OSError as exc:
                raise ConfigError(f"cannot read keystore password file: {exc}") from None
        raise ConfigError(
            "keystore password missing: set SEQUENCER_KEYSTORE_PASSWORD or "
            "SEQUENCER_KEYSTORE_PASSWORD_FILE"
        )

    def signing_domain(self, manifest: Manifest) -> Domain:
        """EIP-712 domain: the L1's chain id and the Slasher (manifest first, then config)."""
        slasher = manifest.l1.contracts.get("Slasher")
        if slasher is not None:
            return Domain(manifest.l1.chain_id, slasher.address)
        if self.slasher_address is None:
            raise ConfigError(
                "the manifest has no Slasher on the L1: set slasher_address "
                "(SEQUENCER_SLASHER_ADDRESS) to the verifying contract of signed promises"
            )
        return Domain(manifest.l1.chain_id, self.slasher_address)


def load_manifest_checked(config: ServiceConfig) -> Manifest:
    """The manifest, with at least an L1 and one rollup."""
    manifest = load_manifest(config.manifest)
    if "l1" not in manifest.chains:
        raise ManifestError(f"manifest {config.manifest} has no l1 chain")
    if not manifest.rollups:
        raise ManifestError(f"manifest {config.manifest} has no rollup")
    return manifest
