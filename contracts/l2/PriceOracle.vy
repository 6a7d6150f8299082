# pragma version ~=0.4.3
"""
@title Price oracle: spot and implied volatility per asset, with settlement prices
@custom:contract-name PriceOracle
@license AGPL-3.0-only
@notice Keeps, per asset (the underlying token's address), a history of observations
        (spot in wad of the quote asset per unit, implied volatility in wad per year,
        timestamp in seconds). An observation arrives either
        - signed: an EIP-712 `PriceUpdate(address asset,uint256 spot,uint256 volatility,
          uint256 timestamp)` by an authorised signer, relayed by anyone (`submit_signed`), or
        - pushed: by an account with the reporter role (`push`), stamped `block.timestamp`.
        Timestamps strictly increase per asset (so a signed update cannot be replayed) and are
        never in the future. A new spot may differ from the previous one by at most the asset's
        deviation bound, unless the previous observation is stale (older than `MAX_AGE`), so a
        feed can recover after an outage. `latest` refuses a stale price.

        Settlement: the settlement price of an expiry is the spot of the first observation at
        or after it. Anyone records it with `settle(asset, expiry, index)` (the index is a hint
        that the contract checks). It becomes final `DISPUTE_WINDOW` seconds after it was
        recorded; until then only the owner may correct it (`correct_settlement`).

        Outage fallback: if no observation at or after an expiry exists `FALLBACK_DELAY` seconds
        after it (the signers stopped posting), anyone may record instead the spot of the last
        observation before the expiry, provided it is at most `MAX_AGE` older than the expiry
        (`settle_fallback`). If even that does not exist, the owner may record a price
        (`settle_by_owner`). Either is marked by its `source` and goes through the same dispute
        window, so the vaults settle and pay out whatever happens to the feed.
        The EIP-712 domain binds the chain id and this contract's address, so a signature is
        valid on one rollup only.
"""

from snekmate.auth import ownable
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator

initializes: ownable
initializes: eip712_domain_separator

exports: (
    ownable.owner,
    ownable.transfer_ownership,
    ownable.renounce_ownership,
    eip712_domain_separator.eip712Domain,
)


# @dev The EIP-712 type hash of a signed price update.
PRICE_UPDATE_TYPEHASH: constant(bytes32) = keccak256(
    "PriceUpdate(address asset,uint256 spot,uint256 volatility,uint256 timestamp)"
)
# @dev Implied volatility is accepted up to 500 % (the Black-Scholes module's domain).
MAX_VOLATILITY: constant(uint256) = 5 * 10 ** 18
WAD: constant(uint256) = 10 ** 18
MASK_64: constant(uint256) = 2 ** 64 - 1
MASK_128: constant(uint256) = 2 ** 128 - 1
# @notice How long after an expiry (seconds) the normal path alone may settle it. One day covers a
#         feed outage and the owner's response to it (restarting the feed, or `set_signer` for a
#         new key whose update at or after the expiry, relayed late, still settles normally), yet
#         keeps the vaults' collateral (weekly epochs on the devnet) locked at most one extra day.
FALLBACK_DELAY: public(constant(uint256)) = 86_400
# @notice `Settlement.source`: the first observation at or after the expiry (`settle`).
SOURCE_AT_EXPIRY: public(constant(uint8)) = 0
# @notice `Settlement.source`: the last observation before the expiry (`settle_fallback`).
SOURCE_FALLBACK: public(constant(uint8)) = 1
# @notice `Settlement.source`: a price set by the owner, no usable observation (`settle_by_owner`).
SOURCE_OWNER: public(constant(uint8)) = 2


# @notice An observation older than this (seconds) is stale.
MAX_AGE: public(immutable(uint256))
# @notice A recorded settlement price may be corrected by the owner for this long (seconds).
DISPUTE_WINDOW: public(immutable(uint256))


struct Observation:
    spot: uint256  # wad
    volatility: uint256  # wad per year
    timestamp: uint256  # seconds


struct Settlement:
    price: uint256  # wad
    observed_at: uint256  # seconds: timestamp of the observation it came from
    recorded_at: uint256  # seconds: when it was recorded; final DISPUTE_WINDOW later
    corrected: bool
    source: uint8  # SOURCE_AT_EXPIRY, SOURCE_FALLBACK or SOURCE_OWNER


# @notice Maximum relative spot move per update, wad (0 means the asset is not configured).
max_deviation: public(HashMap[address, uint256])
# @notice Accounts whose EIP-712 signatures are accepted.
is_signer: public(HashMap[address, bool])
# @notice Accounts that may push updates.
is_reporter: public(HashMap[address, bool])
# @notice The number of observations of an asset.
observation_count: public(HashMap[address, uint256])
# @dev Observations packed in one slot each (one SLOAD per read): spot in the low 128 bits,
#      volatility in the next 64, timestamp in the high 64.
_observations: HashMap[address, HashMap[uint256, uint256]]
_settlements: HashMap[address, HashMap[uint256, Settlement]]


event AssetConfigured:
    asset: indexed(address)
    max_deviation: uint256


event SignerSet:
    signer: indexed(address)
    allowed: bool


event ReporterSet:
    reporter: indexed(address)
    allowed: bool


event PriceUpdated:
    asset: indexed(address)
    source: indexed(address)
    index: uint256
    spot: uint256
    volatility: uint256
    timestamp: uint256


event SettlementRecorded:
    asset: indexed(address)
    expiry: indexed(uint256)
    price: uint256
    observed_at: uint256
    final_at: uint256
    source: uint8


event SettlementCorrected:
    asset: indexed(address)
    expiry: indexed(uint256)
    previous_price: uint256
    price: uint256


@deploy
def __init__(max_age_: uint256, dispute_window_: uint256):
    """
    @dev The deployer becomes the owner.
    @param max_age_ Staleness bound, seconds.
    @param dispute_window_ Correction window after a settlement is recorded, seconds.
    """
    assert max_age_ != 0, "oracle: zero max age"
    ownable.__init__()
    eip712_domain_separator.__init__("PriceOracle", "1")
    MAX_AGE = max_age_
    DISPUTE_WINDOW = dispute_window_


# --- administration (owner) ---


@external
def configure_asset(asset: address, max_deviation_: uint256):
    """
    @notice Enable an asset, or change its deviation bound.
    @param asset The underlying token's address.
    @param max_deviation_ Maximum relative spot move per update, wad (1e17 = 10 %), non-zero.
    """
    ownable._check_owner()
    assert max_deviation_ != 0, "oracle: zero deviation bound"
    self.max_deviation[asset] = max_deviation_
    log AssetConfigured(asset=asset, max_deviation=max_deviation_)


@external
def set_signer(signer: address, allowed: bool):
    """
    @notice Authorise (or revoke) an EIP-712 price signer.
    """
    ownable._check_owner()
    self.is_signer[signer] = allowed
    log SignerSet(signer=signer, allowed=allowed)


@external
def set_reporter(reporter: address, allowed: bool):
    """
    @notice Grant (or revoke) the reporter role, which pushes updates directly.
    """
    ownable._check_owner()
    self.is_reporter[reporter] = allowed
    log ReporterSet(reporter=reporter, allowed=allowed)


# --- updates ---


@external
def push(asset: address, spot: uint256, volatility: uint256):
    """
    @notice Record an observation now (reporter role only).
    @param asset The underlying token's address.
    @param spot Spot price, wad of the quote asset per unit of the underlying.
    @param volatility Implied volatility, wad per year (1e18 = 100 %).
    """
    assert self.is_reporter[msg.sender], "oracle: not a reporter"
    self._record(asset, spot, volatility, block.timestamp, msg.sender)


@external
def submit_signed(asset: address, spot: uint256, volatility: uint256, timestamp: uint256, signature: Bytes[65]):
    """
    @notice Relay an update signed (EIP-712) by an authorised signer; anyone may call.
    @param asset The underlying token's address.
    @param spot Spot price, wad.
    @param volatility Implied volatility, wad per year.
    @param timestamp The observation's time, seconds; after the last one, not in the future.
    @param signature The signer's 65-byte signature over the typed `PriceUpdate`.
    """
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(
        keccak256(abi_encode(PRICE_UPDATE_TYPEHASH, asset, spot, volatility, timestamp))
    )
    signer: address = ecdsa._recover_sig(digest, signature)
    assert self.is_signer[signer], "oracle: not an authorised signer"
    self._record(asset, spot, volatility, timestamp, signer)


# --- settlement ---


@external
def settle(asset: address, expiry: uint256, index: uint256) -> uint256:
    """
    @notice Record the settlement price of an expiry: the first observation at or after it.
    @param asset The underlying token's address.
    @param expiry The expiry, seconds.
    @param index The index of that first observation (checked).
    @return uint256 The settlement price, wad.
    """
    assert self._settlements[asset][expiry].recorded_at == 0, "oracle: already settled"
    assert index < self.observation_count[asset], "oracle: no such observation"
    observation: Observation = self._unpack(self._observations[asset][index])
    assert observation.timestamp >= expiry, "oracle: observation before expiry"
    if index != 0:
        assert self._observations[asset][index - 1] >> 192 < expiry, "oracle: not the first at expiry"
    self._record_settlement(asset, expiry, observation.spot, observation.timestamp, SOURCE_AT_EXPIRY)
    return observation.spot


@external
def settle_fallback(asset: address, expiry: uint256, index: uint256) -> uint256:
    """
    @notice Record the settlement price of an expiry that no observation reached (anyone): the
            spot of the last observation before it, once `FALLBACK_DELAY` has passed.
    @dev Refused while an observation at or after the expiry exists (then `settle` applies) and
         when the last observation is more than `MAX_AGE` before the expiry (then only
         `settle_by_owner` can settle). Marked `SOURCE_FALLBACK`; the dispute window applies.
    @param asset The underlying token's address.
    @param expiry The expiry, seconds.
    @param index The index of the last observation, which is the last one before the expiry
           (checked).
    @return uint256 The settlement price, wad.
    """
    assert self._settlements[asset][expiry].recorded_at == 0, "oracle: already settled"
    self._check_fallback_delay(expiry)
    count: uint256 = self.observation_count[asset]
    assert index < count, "oracle: no such observation"
    assert self._observations[asset][count - 1] >> 192 < expiry, "oracle: observed at expiry, use settle"
    assert index == count - 1, "oracle: not the last before expiry"
    observation: Observation = self._unpack(self._observations[asset][index])
    assert expiry - observation.timestamp <= MAX_AGE, "oracle: last observation too old"
    self._record_settlement(asset, expiry, observation.spot, observation.timestamp, SOURCE_FALLBACK)
    return observation.spot


@external
def settle_by_owner(asset: address, expiry: uint256, price: uint256):
    """
    @notice Record the settlement price of an expiry for which no observation can settle (owner
            only): none at or after it, and none before it within `MAX_AGE`, `FALLBACK_DELAY`
            after it. Marked `SOURCE_OWNER` (`observed_at` 0); the dispute window applies.
    @dev Whenever an observation can settle, the permissionless paths must be used. If ownership
         was renounced this path is closed and such an expiry stays unsettled.
    @param asset The underlying token's address (a configured asset).
    @param expiry The expiry, seconds.
    @param price The settlement price, wad.
    """
    ownable._check_owner()
    assert self.max_deviation[asset] != 0, "oracle: unknown asset"
    assert self._settlements[asset][expiry].recorded_at == 0, "oracle: already settled"
    self._check_fallback_delay(expiry)
    assert price != 0, "oracle: zero spot"
    count: uint256 = self.observation_count[asset]
    if count != 0:
        last: uint256 = self._observations[asset][count - 1] >> 192
        assert last < expiry, "oracle: observed at expiry, use settle"
        assert expiry - last > MAX_AGE, "oracle: observation usable, use settle_fallback"
    self._record_settlement(asset, expiry, price, 0, SOURCE_OWNER)


@external
def correct_settlement(asset: address, expiry: uint256, price: uint256):
    """
    @notice Correct a recorded settlement price during its dispute window (owner only).
    @param price The corrected price, wad.
    """
    ownable._check_owner()
    settlement: Settlement = self._settlements[asset][expiry]
    assert settlement.recorded_at != 0, "oracle: not settled"
    assert block.timestamp < settlement.recorded_at + DISPUTE_WINDOW, "oracle: settlement is final"
    assert price != 0, "oracle: zero spot"
    self._settlements[asset][expiry].price = price
    self._settlements[asset][expiry].corrected = True
    log SettlementCorrected(asset=asset, expiry=expiry, previous_price=settlement.price, price=price)


# --- views ---


@view
@external
def latest(asset: address) -> (uint256, uint256, uint256):
    """
    @notice The latest spot (wad), volatility (wad per year) and timestamp (seconds).
    @dev Reverts if there is none or it is older than `MAX_AGE`.
    """
    count: uint256 = self.observation_count[asset]
    assert count != 0, "oracle: no price"
    observation: Observation = self._unpack(self._observations[asset][count - 1])
    assert block.timestamp <= observation.timestamp + MAX_AGE, "oracle: stale price"
    return observation.spot, observation.volatility, observation.timestamp


@view
@external
def observation(asset: address, index: uint256) -> Observation:
    """
    @notice One observation of the history (index from 0).
    """
    assert index < self.observation_count[asset], "oracle: no such observation"
    return self._unpack(self._observations[asset][index])


@view
@external
def settlement(asset: address, expiry: uint256) -> Settlement:
    """
    @notice The recorded settlement of an expiry (zeros if none yet): price (wad), observed_at,
            recorded_at (seconds), corrected, source (`SOURCE_AT_EXPIRY`, `SOURCE_FALLBACK`,
            `SOURCE_OWNER`).
    """
    return self._settlements[asset][expiry]


@view
@external
def is_final(asset: address, expiry: uint256) -> bool:
    """
    @notice Whether the settlement price of an expiry is recorded and past its dispute window.
    """
    recorded_at: uint256 = self._settlements[asset][expiry].recorded_at
    return recorded_at != 0 and block.timestamp >= recorded_at + DISPUTE_WINDOW


@view
@external
def final_price(asset: address, expiry: uint256) -> uint256:
    """
    @notice The final settlement price of an expiry, wad; reverts until it is final.
    """
    settlement: Settlement = self._settlements[asset][expiry]
    assert settlement.recorded_at != 0, "oracle: not settled"
    assert block.timestamp >= settlement.recorded_at + DISPUTE_WINDOW, "oracle: in dispute window"
    return settlement.price


# --- internal ---


@internal
def _record(asset: address, spot: uint256, volatility: uint256, timestamp: uint256, source: address):
    bound: uint256 = self.max_deviation[asset]
    assert bound != 0, "oracle: unknown asset"
    assert spot != 0, "oracle: zero spot"
    assert spot <= MASK_128, "oracle: spot too large"
    assert volatility != 0 and volatility <= MAX_VOLATILITY, "oracle: volatility out of range"
    assert timestamp <= block.timestamp, "oracle: timestamp in the future"
    count: uint256 = self.observation_count[asset]
    if count != 0:
        last: Observation = self._unpack(self._observations[asset][count - 1])
        assert timestamp > last.timestamp, "oracle: timestamp not increasing"
        if block.timestamp <= last.timestamp + MAX_AGE:
            move: uint256 = spot - last.spot if spot > last.spot else last.spot - spot
            assert move * WAD <= bound * last.spot, "oracle: deviation too large"
    self._observations[asset][count] = spot | (volatility << 128) | (timestamp << 192)
    self.observation_count[asset] = count + 1
    log PriceUpdated(
        asset=asset, source=source, index=count, spot=spot, volatility=volatility, timestamp=timestamp
    )


@internal
def _record_settlement(asset: address, expiry: uint256, price: uint256, observed_at: uint256, source: uint8):
    self._settlements[asset][expiry] = Settlement(
        price=price, observed_at=observed_at, recorded_at=block.timestamp, corrected=False, source=source
    )
    log SettlementRecorded(
        asset=asset,
        expiry=expiry,
        price=price,
        observed_at=observed_at,
        final_at=block.timestamp + DISPUTE_WINDOW,
        source=source,
    )


@internal
@view
def _check_fallback_delay(expiry: uint256):
    # Written without `expiry + FALLBACK_DELAY`, which would overflow without a reason.
    elapsed: uint256 = block.timestamp - min(expiry, block.timestamp)
    assert elapsed >= FALLBACK_DELAY, "oracle: fallback delay not over"


@internal
@pure
def _unpack(packed: uint256) -> Observation:
    return Observation(spot=packed & MASK_128, volatility=(packed >> 128) & MASK_64, timestamp=packed >> 192)
