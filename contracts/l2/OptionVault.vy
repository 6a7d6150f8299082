# pragma version ~=0.4.3
"""
@title Option vault: an epoch-based market maker for one (underlying, collateral, call|put)
@custom:contract-name OptionVault
@license AGPL-3.0-only
@notice LPs pool collateral; the vault sells (traders `buy`) and buys (traders `sell`) European
        options on one underlying, priced on-chain with Black-Scholes from the oracle's spot and
        implied volatility, for the strikes the keeper lists for the current epoch.

        Units. Option amounts are wad of underlying (1e18 = options on one unit). Spot and
        strikes are wad of the quote asset per unit of underlying. A call vault holds the
        underlying (18 decimals) and pays calls in it: an option pays (S - K) / S underlying at
        most 1. A put vault holds a quote stable (6 decimals) and pays K - S at most K. Token
        amounts (premiums, collateral, LP assets) are in the collateral token's own units.
        Quote values become collateral wad in `_quote_to_collateral`, and collateral wad become
        token units in `_to_tokens`, the only place where decimals are converted. Every rounding
        favours the vault (premiums, locks and posted collateral up; payouts down).

        Epochs. LPs queue deposits and withdrawals during an epoch; the keeper's `roll`, allowed
        only once every option of the epoch is settled, processes them all at one price per
        share, (total assets + 1) / (total shares + 10**6) (a virtual-shares offset against
        the inflation attack), then lists the next epoch's expiry and strikes. LP assets are
        tracked in storage (`total_idle` + `total_locked`), so a donation cannot move the price.
        Shares are a non-transferable ledger; the ERC-4626 views describe them, and, as in the
        asynchronous ERC-7540, `max*` is 0 and `preview*` reverts (there is no synchronous
        deposit or redemption).

        Trades. `buy`: the trader pays BS + spread and receives ERC-1155 longs; the vault locks
        the maximum payout from idle LP assets, within the utilisation cap. `sell`: the vault
        pays BS - spread, the trader posts the maximum payout as collateral and is short. A
        series id packs (expiry, call flag, strike): `expiry << 193 | is_call << 192 | strike`.

        Settlement. After expiry, `settle` reads the oracle's final price; long holders `redeem`,
        short traders `reclaim` their collateral minus their payout. The owner may pause buys,
        sells and deposit requests; settlement, redemption, reclaim, withdrawal requests,
        withdrawals and rolls never pause.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

from snekmate.auth import ownable
from snekmate.utils import pausable

from contracts.lib import black_scholes

initializes: ownable
initializes: pausable

exports: (
    ownable.owner,
    ownable.transfer_ownership,
    pausable.paused,
)


interface IPriceOracle:
    def latest(asset: address) -> (uint256, uint256, uint256): view
    def final_price(asset: address, expiry: uint256) -> uint256: view


interface IOptionToken:
    def mint(to: address, id: uint256, amount: uint256): nonpayable
    def burn(holder: address, id: uint256, amount: uint256): nonpayable
    def total_supply(id: uint256) -> uint256: view


WAD: constant(uint256) = 10 ** 18
MAX_STRIKES: constant(uint256) = 8
# @dev Virtual shares (a decimals offset of 6) and one virtual asset unit.
VIRTUAL_SHARES: constant(uint256) = 10 ** 6
SHARE_DECIMALS_OFFSET: constant(uint8) = 6
MAX_EPOCH_SECONDS: constant(uint256) = 365 * 86_400
MASK_128: constant(uint256) = 2 ** 128 - 1
# @dev At most 1e12 options (wad) per trade, so no product in the premium arithmetic overflows.
MAX_TRADE: constant(uint256) = 10 ** 30


# @notice The collateral token (ERC-4626 `asset`).
ASSET: public(immutable(address))
# @notice The underlying's address, as the oracle knows it.
UNDERLYING: public(immutable(address))
# @notice The price oracle.
ORACLE: public(immutable(address))
# @notice The ERC-1155 token of the longs (OptionToken), minted by this vault only.
OPTION_TOKEN: public(immutable(address))
# @notice True for a call vault (collateral = underlying), False for a put vault (a stable).
IS_CALL: public(immutable(bool))
# @notice The continuously compounded risk-free rate used for pricing, wad per year.
RATE: public(immutable(uint256))
_TOKEN_SCALE: immutable(uint256)  # 10 ** (18 - collateral decimals)
_ASSET_DECIMALS: immutable(uint8)


struct Receipt:
    epoch: uint256  # the epoch it was queued in; processed at that epoch's roll
    amount: uint256  # deposit: assets (token units); withdrawal: shares


struct RollPrice:
    assets: uint256  # total assets + 1 at the roll that ended the epoch (token units)
    shares: uint256  # total shares + VIRTUAL_SHARES at that roll


struct ShortPosition:
    amount: uint256  # options, wad
    collateral: uint256  # posted, token units


# --- parameters ---
# @notice The keeper, who rolls epochs.
keeper: public(address)
# @dev The half-spread (low 128 bits) and the utilisation cap (high 128 bits), both wad, in one
#      slot so that a trade reads them with one SLOAD (see `spread`, `max_utilisation`).
_params: uint256

# --- epoch ---
# @notice The current epoch (0 until the first roll).
epoch: public(uint256)
# @notice The current epoch's expiry, seconds.
expiry: public(uint256)
# @notice Whether the current epoch's options are settled.
settled: public(bool)
_strikes: DynArray[uint256, MAX_STRIKES]
# @notice The epoch a series id was listed in.
listed_epoch: public(HashMap[uint256, uint256])
# @notice The price per share at the roll that ended each epoch.
roll_price: public(HashMap[uint256, RollPrice])

# --- LP accounting (token units) ---
# @dev LP assets not locked (low 128 bits) and LP assets locked against the vault's short
#      options at their maximum payout (high 128 bits), token units, in one slot so that a trade
#      reads and writes both with one SLOAD and one SSTORE (see `total_idle`, `total_locked`).
_pool: uint256
# @notice LP shares outstanding (including processed deposits not yet claimed).
totalSupply: public(uint256)
# @notice Claimed shares per LP.
shares_of: public(HashMap[address, uint256])
# @notice Deposits queued this epoch (not LP assets yet).
queued_deposits: public(uint256)
# @notice Shares queued for withdrawal this epoch (still LP shares until the roll).
queued_withdrawals: public(uint256)
deposit_receipt: public(HashMap[address, Receipt])
withdraw_receipt: public(HashMap[address, Receipt])
# @notice Assets of processed withdrawals, per LP and in total.
withdrawable: public(HashMap[address, uint256])
reserved_for_withdrawals: public(uint256)

# --- trader accounting ---
# @notice Collateral posted by short traders, not yet reclaimed (token units).
trader_collateral: public(uint256)
# @notice Reserved for long holders of settled series (token units).
holder_reserve: public(uint256)
# @notice Options the vault bought (is long) per series, wad.
vault_long: public(HashMap[uint256, uint256])
_shorts: HashMap[address, HashMap[uint256, ShortPosition]]
# @notice Payout per 1e18 options of a settled series, collateral wad.
payout_per_option: public(HashMap[uint256, uint256])
# @notice Whether a series is settled.
series_settled: public(HashMap[uint256, bool])
# @notice The oracle's settlement price of each epoch, wad.
settlement_price: public(HashMap[uint256, uint256])


event Bought:
    trader: indexed(address)
    series: indexed(uint256)
    amount: uint256
    premium: uint256
    locked: uint256
    spot: uint256
    volatility: uint256


event Sold:
    trader: indexed(address)
    series: indexed(uint256)
    amount: uint256
    premium: uint256
    collateral: uint256
    spot: uint256
    volatility: uint256


event Settled:
    epoch: indexed(uint256)
    expiry: uint256
    price: uint256
    owed_to_holders: uint256
    received_from_shorts: uint256


event Redeemed:
    holder: indexed(address)
    series: indexed(uint256)
    amount: uint256
    payout: uint256


event Reclaimed:
    trader: indexed(address)
    series: indexed(uint256)
    amount: uint256
    payout: uint256
    returned: uint256


event EpochRolled:
    epoch: indexed(uint256)
    expiry: uint256
    strikes: DynArray[uint256, MAX_STRIKES]
    assets_before: uint256
    shares_before: uint256
    assets_after: uint256
    shares_after: uint256
    deposited: uint256
    shares_minted: uint256
    shares_burned: uint256
    withdrawn: uint256


event DepositRequested:
    lp: indexed(address)
    epoch: indexed(uint256)
    assets: uint256


event DepositCancelled:
    lp: indexed(address)
    epoch: indexed(uint256)
    assets: uint256


event WithdrawRequested:
    lp: indexed(address)
    epoch: indexed(uint256)
    shares: uint256


event WithdrawCancelled:
    lp: indexed(address)
    epoch: indexed(uint256)
    shares: uint256


event SharesClaimed:
    lp: indexed(address)
    epoch: indexed(uint256)
    shares: uint256


event Withdrawn:
    lp: indexed(address)
    assets: uint256


event KeeperSet:
    keeper: indexed(address)


event ParametersSet:
    spread: uint256
    max_utilisation: uint256


@deploy
def __init__(
    asset_: address,
    underlying_: address,
    oracle_: address,
    is_call_: bool,
    rate_: uint256,
    spread_: uint256,
    max_utilisation_: uint256,
    keeper_: address,
    option_token_: address,
):
    """
    @param asset_ The collateral token: the underlying for a call vault, a stable for a put vault.
    @param underlying_ The underlying's address in the oracle (for a call vault, `asset_`).
    @param oracle_ The PriceOracle.
    @param is_call_ True for a call vault.
    @param rate_ Risk-free rate, wad per year.
    @param spread_ Half-spread, fraction of spot per option, wad.
    @param max_utilisation_ Maximum locked share of LP assets, wad (<= 1e18).
    @param keeper_ The account that rolls epochs.
    @param option_token_ The OptionToken this vault mints (bound to it with `set_vault`).
    """
    decimals: uint8 = staticcall IERC20Detailed(asset_).decimals()
    assert decimals <= 18, "vault: more than 18 decimals"
    assert not is_call_ or asset_ == underlying_, "vault: call collateral must be the underlying"
    assert rate_ <= WAD, "vault: rate above 100%"
    ownable.__init__()
    pausable.__init__()
    OPTION_TOKEN = option_token_
    ASSET = asset_
    UNDERLYING = underlying_
    ORACLE = oracle_
    IS_CALL = is_call_
    RATE = rate_
    _ASSET_DECIMALS = decimals
    _TOKEN_SCALE = 10 ** convert(18 - decimals, uint256)
    self._set_parameters(spread_, max_utilisation_)
    self.keeper = keeper_
    log KeeperSet(keeper=keeper_)


# --- traders ---


@external
@nonreentrant
def buy(series: uint256, amount: uint256, max_premium: uint256, deadline: uint256) -> uint256:
    """
    @notice Buy `amount` options of a listed series; the vault is short and locks the maximum
            payout. Pays Black-Scholes + spread; receive ERC-1155 longs (OptionToken).
    @param series The series id (see `series_id`).
    @param amount Options, wad of underlying.
    @param max_premium The most the trader will pay, collateral token units.
    @param deadline Latest block timestamp, seconds.
    @return uint256 The premium paid, collateral token units.
    """
    pausable._require_not_paused()
    strike: uint256 = self._check_trade(series, amount, deadline)
    spot: uint256 = 0
    volatility: uint256 = 0
    price: uint256 = 0
    spot, volatility, price = self._quote(series, strike)
    spread: uint256 = 0
    cap: uint256 = 0
    spread, cap = self._get_params()
    premium: uint256 = self._to_tokens(
        self._quote_to_collateral(self._mul_up(price + spot * spread // WAD, amount), spot, True), True
    )
    assert premium <= max_premium, "vault: premium above max"
    lock: uint256 = self._max_payout(strike, amount)
    idle: uint256 = 0
    locked: uint256 = 0
    idle, locked = self._get_pool()
    idle += premium
    assert idle >= lock, "vault: insufficient liquidity"
    assert (locked + lock) * WAD <= cap * (idle + locked), "vault: utilisation cap"
    self._set_pool(idle - lock, locked + lock)
    self._pull(msg.sender, premium)
    extcall IOptionToken(OPTION_TOKEN).mint(msg.sender, series, amount)
    log Bought(
        trader=msg.sender, series=series, amount=amount, premium=premium, locked=lock, spot=spot, volatility=volatility
    )
    return premium


@external
@nonreentrant
def sell(series: uint256, amount: uint256, min_premium: uint256, deadline: uint256) -> uint256:
    """
    @notice Sell (write) `amount` options of a listed series to the vault: post the maximum
            payout as collateral and receive Black-Scholes - spread. Only the net amount moves.
    @param series The series id.
    @param amount Options, wad of underlying.
    @param min_premium The least the trader accepts, collateral token units.
    @param deadline Latest block timestamp, seconds.
    @return uint256 The premium received, collateral token units.
    """
    pausable._require_not_paused()
    strike: uint256 = self._check_trade(series, amount, deadline)
    spot: uint256 = 0
    volatility: uint256 = 0
    price: uint256 = 0
    spot, volatility, price = self._quote(series, strike)
    spread: uint256 = 0
    cap: uint256 = 0
    spread, cap = self._get_params()
    half_spread: uint256 = spot * spread // WAD
    bid: uint256 = 0
    if price > half_spread:
        bid = price - half_spread
    premium: uint256 = self._to_tokens(self._quote_to_collateral(bid * amount // WAD, spot, False), False)
    assert premium >= min_premium, "vault: premium below min"
    idle: uint256 = 0
    locked: uint256 = 0
    idle, locked = self._get_pool()
    assert premium <= idle, "vault: insufficient liquidity"
    idle -= premium
    assert locked * WAD <= cap * (idle + locked), "vault: utilisation cap"
    collateral: uint256 = self._max_payout(strike, amount)
    self._set_pool(idle, locked)
    self.trader_collateral += collateral
    self.vault_long[series] += amount
    position: ShortPosition = self._shorts[msg.sender][series]
    self._shorts[msg.sender][series] = ShortPosition(
        amount=position.amount + amount, collateral=position.collateral + collateral
    )
    self._pull(msg.sender, collateral - premium)
    log Sold(
        trader=msg.sender,
        series=series,
        amount=amount,
        premium=premium,
        collateral=collateral,
        spot=spot,
        volatility=volatility,
    )
    return premium


# --- settlement ---


@external
@nonreentrant
def settle():
    """
    @notice Settle every series of the current epoch at the oracle's final price (anyone).
    @dev Reverts with the oracle's reason while the price is not final.
    """
    assert self.epoch != 0 and not self.settled, "vault: nothing to settle"
    expiry: uint256 = self.expiry
    assert block.timestamp >= expiry, "vault: not expired"
    price: uint256 = staticcall IPriceOracle(ORACLE).final_price(UNDERLYING, expiry)
    owed: uint256 = 0
    received: uint256 = 0
    for strike: uint256 in self._strikes:
        series: uint256 = self._series_id(expiry, strike)
        per_option: uint256 = self._payout_per_option(strike, price)
        self.payout_per_option[series] = per_option
        self.series_settled[series] = True
        owed += self._to_tokens(self._mul_up(staticcall IOptionToken(OPTION_TOKEN).total_supply(series), per_option), True)
        received += self._to_tokens(self.vault_long[series] * per_option // WAD, False)
    self.holder_reserve += owed
    idle: uint256 = 0
    locked: uint256 = 0
    idle, locked = self._get_pool()
    self._set_pool(idle + locked + received - owed, 0)
    self.trader_collateral -= received
    self.settled = True
    self.settlement_price[self.epoch] = price
    log Settled(epoch=self.epoch, expiry=expiry, price=price, owed_to_holders=owed, received_from_shorts=received)


@external
@nonreentrant
def redeem(series: uint256, amount: uint256) -> uint256:
    """
    @notice Burn `amount` settled longs of a series and receive their payout (never paused).
    @param amount Options, wad.
    @return uint256 The payout, collateral token units.
    """
    assert self.series_settled[series], "vault: series not settled"
    extcall IOptionToken(OPTION_TOKEN).burn(msg.sender, series, amount)
    payout: uint256 = self._to_tokens(amount * self.payout_per_option[series] // WAD, False)
    self.holder_reserve -= payout
    self._push(msg.sender, payout)
    log Redeemed(holder=msg.sender, series=series, amount=amount, payout=payout)
    return payout


@external
@nonreentrant
def reclaim(series: uint256) -> uint256:
    """
    @notice Take back the collateral of a settled short position minus its payout (never paused).
    @return uint256 The collateral returned, token units.
    """
    assert self.series_settled[series], "vault: series not settled"
    position: ShortPosition = self._shorts[msg.sender][series]
    assert position.amount != 0, "vault: no short position"
    payout: uint256 = self._to_tokens(self._mul_up(position.amount, self.payout_per_option[series]), True)
    returned: uint256 = position.collateral - payout
    self._shorts[msg.sender][series] = empty(ShortPosition)
    self.trader_collateral -= returned
    self._push(msg.sender, returned)
    log Reclaimed(trader=msg.sender, series=series, amount=position.amount, payout=payout, returned=returned)
    return returned


# --- epochs (keeper) ---


@external
@nonreentrant
def roll(expiry_: uint256, strikes: DynArray[uint256, MAX_STRIKES]):
    """
    @notice End the current (settled) epoch: process queued withdrawals and deposits at one price
            per share, then list the next epoch's expiry and strikes (keeper only; never paused).
    @param expiry_ The next expiry, seconds (in the future, within a year).
    @param strikes The next strikes, wad, strictly increasing, 1 to 8 of them.
    """
    assert msg.sender == self.keeper, "vault: not the keeper"
    current: uint256 = self.epoch
    assert current == 0 or self.settled, "vault: epoch not settled"
    assert expiry_ > block.timestamp, "vault: expiry in the past"
    assert expiry_ <= block.timestamp + MAX_EPOCH_SECONDS, "vault: expiry too far"
    assert len(strikes) != 0, "vault: no strikes"

    assets: uint256 = 0
    locked: uint256 = 0
    assets, locked = self._get_pool()  # locked is 0 once settled
    shares: uint256 = self.totalSupply
    price: RollPrice = RollPrice(assets=assets + 1, shares=shares + VIRTUAL_SHARES)
    self.roll_price[current] = price
    burned: uint256 = self.queued_withdrawals
    withdrawn: uint256 = burned * price.assets // price.shares
    deposited: uint256 = self.queued_deposits
    minted: uint256 = deposited * price.shares // price.assets
    self._set_pool(assets - withdrawn + deposited, 0)
    self.totalSupply = shares - burned + minted
    self.reserved_for_withdrawals += withdrawn
    self.queued_withdrawals = 0
    self.queued_deposits = 0

    next_epoch: uint256 = current + 1
    previous: uint256 = 0
    for strike: uint256 in strikes:
        assert strike > previous, "vault: strikes not increasing"
        assert strike < 2 ** 192, "vault: strike too large"
        self.listed_epoch[self._series_id(expiry_, strike)] = next_epoch
        previous = strike
    self.epoch = next_epoch
    self.expiry = expiry_
    self._strikes = strikes
    self.settled = False
    log EpochRolled(
        epoch=next_epoch,
        expiry=expiry_,
        strikes=strikes,
        assets_before=assets,
        shares_before=shares,
        assets_after=assets - withdrawn + deposited,
        shares_after=shares - burned + minted,
        deposited=deposited,
        shares_minted=minted,
        shares_burned=burned,
        withdrawn=withdrawn,
    )


# --- LPs ---


@external
@nonreentrant
def request_deposit(assets: uint256):
    """
    @notice Queue a deposit of `assets` (token units) for the next roll; tokens move now.
    """
    pausable._require_not_paused()
    assert assets != 0, "vault: zero deposit"
    self._claim(msg.sender)
    receipt: Receipt = self.deposit_receipt[msg.sender]
    self.deposit_receipt[msg.sender] = Receipt(epoch=self.epoch, amount=receipt.amount + assets)
    self.queued_deposits += assets
    self._pull(msg.sender, assets)
    log DepositRequested(lp=msg.sender, epoch=self.epoch, assets=assets)


@external
@nonreentrant
def cancel_deposit() -> uint256:
    """
    @notice Take back this epoch's queued deposit (never paused).
    @return uint256 The assets returned, token units.
    """
    self._claim(msg.sender)
    assets: uint256 = self.deposit_receipt[msg.sender].amount
    assert assets != 0, "vault: no queued deposit"
    self.deposit_receipt[msg.sender] = empty(Receipt)
    self.queued_deposits -= assets
    self._push(msg.sender, assets)
    log DepositCancelled(lp=msg.sender, epoch=self.epoch, assets=assets)
    return assets


@external
@nonreentrant
def request_withdraw(shares: uint256):
    """
    @notice Queue `shares` for redemption at the next roll (never paused). They keep earning
            (or losing) with the vault until then.
    """
    assert shares != 0, "vault: zero withdrawal"
    self._claim(msg.sender)
    owned: uint256 = self.shares_of[msg.sender]
    assert owned >= shares, "vault: not enough shares"
    self.shares_of[msg.sender] = owned - shares
    receipt: Receipt = self.withdraw_receipt[msg.sender]
    self.withdraw_receipt[msg.sender] = Receipt(epoch=self.epoch, amount=receipt.amount + shares)
    self.queued_withdrawals += shares
    log WithdrawRequested(lp=msg.sender, epoch=self.epoch, shares=shares)


@external
@nonreentrant
def cancel_withdraw() -> uint256:
    """
    @notice Take back this epoch's queued shares (never paused).
    @return uint256 The shares returned.
    """
    self._claim(msg.sender)
    shares: uint256 = self.withdraw_receipt[msg.sender].amount
    assert shares != 0, "vault: no queued withdrawal"
    self.withdraw_receipt[msg.sender] = empty(Receipt)
    self.queued_withdrawals -= shares
    self.shares_of[msg.sender] += shares
    log WithdrawCancelled(lp=msg.sender, epoch=self.epoch, shares=shares)
    return shares


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @notice Receive the assets of every processed withdrawal (never paused).
    @return uint256 The assets paid, token units.
    """
    self._claim(msg.sender)
    assets: uint256 = self.withdrawable[msg.sender]
    assert assets != 0, "vault: nothing to withdraw"
    self.withdrawable[msg.sender] = 0
    self.reserved_for_withdrawals -= assets
    self._push(msg.sender, assets)
    log Withdrawn(lp=msg.sender, assets=assets)
    return assets


@external
@nonreentrant
def claim():
    """
    @notice Credit the shares of a processed deposit and the assets of a processed withdrawal.
    """
    self._claim(msg.sender)


# --- owner ---


@external
def pause():
    """
    @notice Stop buys, sells and deposit requests (owner only).
    """
    ownable._check_owner()
    pausable._pause()


@external
def unpause():
    """
    @notice Resume trading and deposits (owner only).
    """
    ownable._check_owner()
    pausable._unpause()


@external
def set_keeper(keeper_: address):
    """
    @notice Change the keeper (owner only).
    """
    ownable._check_owner()
    self.keeper = keeper_
    log KeeperSet(keeper=keeper_)


@external
def set_parameters(spread_: uint256, max_utilisation_: uint256):
    """
    @notice Change the half-spread (fraction of spot per option, wad) and the utilisation cap
            (wad, at most 1e18) (owner only).
    """
    ownable._check_owner()
    self._set_parameters(spread_, max_utilisation_)


# --- views: series and quotes ---


@view
@external
def strikes() -> DynArray[uint256, MAX_STRIKES]:
    """
    @notice The current epoch's strikes, wad.
    """
    return self._strikes


@view
@external
def series_id(expiry_: uint256, strike: uint256) -> uint256:
    """
    @notice The ERC-1155 id of (expiry seconds, strike wad) for this vault's option type.
    """
    return self._series_id(expiry_, strike)


@view
@external
def quote(series: uint256, amount: uint256) -> (uint256, uint256):
    """
    @notice What `buy` would charge and `sell` would pay now, collateral token units.
    @return (uint256, uint256) The ask and the bid premiums.
    """
    strike: uint256 = self._check_trade(series, amount, block.timestamp)
    spot: uint256 = 0
    volatility: uint256 = 0
    price: uint256 = 0
    spot, volatility, price = self._quote(series, strike)
    half_spread: uint256 = spot * (self._params & MASK_128) // WAD
    ask: uint256 = self._to_tokens(
        self._quote_to_collateral(self._mul_up(price + half_spread, amount), spot, True), True
    )
    bid: uint256 = 0
    if price > half_spread:
        bid = self._to_tokens(self._quote_to_collateral((price - half_spread) * amount // WAD, spot, False), False)
    return ask, bid


@view
@external
def max_payout(strike: uint256, amount: uint256) -> uint256:
    """
    @notice The most `amount` options of `strike` can pay, collateral token units (rounded up).
    """
    return self._max_payout(strike, amount)


@view
@external
def short_position(trader: address, series: uint256) -> ShortPosition:
    """
    @notice A trader's short position in a series: options (wad) and posted collateral (units).
    """
    return self._shorts[trader][series]


@view
@external
def share_balance(lp: address) -> uint256:
    """
    @notice An LP's shares, including a processed deposit not yet claimed (queued withdrawals
            excluded).
    """
    shares: uint256 = self.shares_of[lp]
    receipt: Receipt = self.deposit_receipt[lp]
    if receipt.amount != 0 and receipt.epoch < self.epoch:
        price: RollPrice = self.roll_price[receipt.epoch]
        shares += receipt.amount * price.shares // price.assets
    return shares


@view
@external
def total_idle() -> uint256:
    """
    @notice LP assets not locked, token units.
    """
    return self._pool & MASK_128


@view
@external
def total_locked() -> uint256:
    """
    @notice LP assets locked at the maximum payout of the vault's short options, token units.
    """
    return self._pool >> 128


@view
@external
def spread() -> uint256:
    """
    @notice Half-spread around Black-Scholes, fraction of spot per option, wad.
    """
    return self._params & MASK_128


@view
@external
def max_utilisation() -> uint256:
    """
    @notice Maximum share of LP assets that may be locked, wad.
    """
    return self._params >> 128


# --- views: ERC-4626 ---


@view
@external
def asset() -> address:
    """
    @notice The collateral token.
    """
    return ASSET


@view
@external
def decimals() -> uint8:
    """
    @notice Share decimals: the asset's plus the virtual-shares offset of 6.
    """
    return _ASSET_DECIMALS + SHARE_DECIMALS_OFFSET


@view
@external
def totalAssets() -> uint256:
    """
    @notice LP assets, token units: idle + locked collateral. Between rolls this is book value
            (collateral locked at the options' maximum payout); it is exact at a roll, the only
            time shares are minted or burned.
    """
    return self._total_assets()


@view
@external
def convertToShares(assets: uint256) -> uint256:
    """
    @notice Shares for `assets` (token units) at the current book price per share.
    """
    return assets * (self.totalSupply + VIRTUAL_SHARES) // (self._total_assets() + 1)


@view
@external
def convertToAssets(shares: uint256) -> uint256:
    """
    @notice Assets (token units) for `shares` at the current book price per share.
    """
    return shares * (self._total_assets() + 1) // (self.totalSupply + VIRTUAL_SHARES)


@view
@external
def maxDeposit(receiver: address) -> uint256:
    """
    @notice 0: deposits are asynchronous (`request_deposit`, processed at the roll).
    """
    return 0


@view
@external
def maxMint(receiver: address) -> uint256:
    """
    @notice 0: deposits are asynchronous.
    """
    return 0


@view
@external
def maxWithdraw(owner: address) -> uint256:
    """
    @notice 0: withdrawals are asynchronous (`request_withdraw`, then `withdraw` after the roll).
    """
    return 0


@view
@external
def maxRedeem(owner: address) -> uint256:
    """
    @notice 0: redemptions are asynchronous.
    """
    return 0


@view
@external
def previewDeposit(assets: uint256) -> uint256:
    """
    @notice Reverts, as ERC-7540 requires of an asynchronous vault.
    """
    raise "vault: asynchronous, use request_deposit"


@view
@external
def previewMint(shares: uint256) -> uint256:
    """
    @notice Reverts, as ERC-7540 requires of an asynchronous vault.
    """
    raise "vault: asynchronous, use request_deposit"


@view
@external
def previewWithdraw(assets: uint256) -> uint256:
    """
    @notice Reverts, as ERC-7540 requires of an asynchronous vault.
    """
    raise "vault: asynchronous, use request_withdraw"


@view
@external
def previewRedeem(shares: uint256) -> uint256:
    """
    @notice Reverts, as ERC-7540 requires of an asynchronous vault.
    """
    raise "vault: asynchronous, use request_withdraw"


# --- internal ---


@internal
@view
def _check_trade(series: uint256, amount: uint256, deadline: uint256) -> uint256:
    """
    @dev Checks a trade and returns the series' strike (wad).
    """
    assert block.timestamp <= deadline, "vault: deadline passed"
    assert amount != 0, "vault: zero amount"
    assert amount <= MAX_TRADE, "vault: amount too large"
    epoch: uint256 = self.epoch
    assert epoch != 0 and self.listed_epoch[series] == epoch, "vault: series not listed"
    assert block.timestamp < series >> 193, "vault: series expired"
    return series & (2 ** 192 - 1)


@internal
@view
def _quote(series: uint256, strike: uint256) -> (uint256, uint256, uint256):
    """
    @dev The oracle's spot (wad), volatility (wad) and the Black-Scholes price (quote wad per
         option); reverts with the oracle's reason if its price is stale.
    """
    spot: uint256 = 0
    volatility: uint256 = 0
    observed_at: uint256 = 0
    spot, volatility, observed_at = staticcall IPriceOracle(ORACLE).latest(UNDERLYING)
    price: uint256 = black_scholes._price(
        spot, strike, (series >> 193) - block.timestamp, volatility, RATE, IS_CALL
    )
    return spot, volatility, price


@internal
@view
def _max_payout(strike: uint256, amount: uint256) -> uint256:
    """
    @dev The maximum payout of `amount` options, token units rounded up: one underlying per
         call, the strike per put.
    """
    if IS_CALL:
        return self._to_tokens(amount, True)
    return self._to_tokens(self._mul_up(amount, strike), True)


@internal
@view
def _payout_per_option(strike: uint256, price: uint256) -> uint256:
    """
    @dev Settlement payout per 1e18 options, collateral wad (rounded down).
    """
    if IS_CALL:
        if price <= strike:
            return 0
        return self._quote_to_collateral(price - strike, price, False)
    if price >= strike:
        return 0
    return strike - price


@internal
@view
def _quote_to_collateral(quote_value: uint256, spot: uint256, round_up: bool) -> uint256:
    """
    @dev A quote-asset value (wad) in collateral wad: divided by spot for a call vault (whose
         collateral is the underlying), unchanged for a put vault.
    """
    if not IS_CALL:
        return quote_value
    if round_up:
        return (quote_value * WAD + spot - 1) // spot
    return quote_value * WAD // spot


@internal
@view
def _to_tokens(collateral_wad: uint256, round_up: bool) -> uint256:
    """
    @dev Collateral wad to token units: the one place where decimals are converted.
    """
    if round_up:
        return (collateral_wad + _TOKEN_SCALE - 1) // _TOKEN_SCALE
    return collateral_wad // _TOKEN_SCALE


@internal
@pure
def _mul_up(amount: uint256, per_option: uint256) -> uint256:
    """
    @dev ceil(amount * per_option / 1e18), both wad.
    """
    return (amount * per_option + WAD - 1) // WAD


@internal
@view
def _series_id(expiry_: uint256, strike: uint256) -> uint256:
    flag: uint256 = 0
    if IS_CALL:
        flag = 1
    return (expiry_ << 193) | (flag << 192) | strike


@internal
def _claim(lp: address):
    """
    @dev Credit the shares of a processed deposit and the assets of a processed withdrawal.
    """
    epoch: uint256 = self.epoch
    receipt: Receipt = self.deposit_receipt[lp]
    if receipt.amount != 0 and receipt.epoch < epoch:
        price: RollPrice = self.roll_price[receipt.epoch]
        shares: uint256 = receipt.amount * price.shares // price.assets
        self.shares_of[lp] += shares
        self.deposit_receipt[lp] = empty(Receipt)
        log SharesClaimed(lp=lp, epoch=receipt.epoch, shares=shares)
    receipt = self.withdraw_receipt[lp]
    if receipt.amount != 0 and receipt.epoch < epoch:
        price: RollPrice = self.roll_price[receipt.epoch]
        self.withdrawable[lp] += receipt.amount * price.assets // price.shares
        self.withdraw_receipt[lp] = empty(Receipt)


@internal
@view
def _get_pool() -> (uint256, uint256):
    """
    @dev (idle, locked) LP assets, token units.
    """
    pool: uint256 = self._pool
    return pool & MASK_128, pool >> 128


@internal
def _set_pool(idle: uint256, locked: uint256):
    assert idle <= MASK_128 and locked <= MASK_128, "vault: amount too large"
    self._pool = idle | (locked << 128)


@internal
@view
def _total_assets() -> uint256:
    pool: uint256 = self._pool
    return (pool & MASK_128) + (pool >> 128)


@internal
@view
def _get_params() -> (uint256, uint256):
    """
    @dev (half-spread, utilisation cap), wad.
    """
    params: uint256 = self._params
    return params & MASK_128, params >> 128


@internal
def _set_parameters(spread_: uint256, max_utilisation_: uint256):
    assert max_utilisation_ <= WAD, "vault: utilisation above 100%"
    assert spread_ <= WAD // 10, "vault: spread above 10%"
    self._params = spread_ | (max_utilisation_ << 128)
    log ParametersSet(spread=spread_, max_utilisation=max_utilisation_)


@internal
def _pull(owner: address, amount: uint256):
    if amount != 0:
        assert extcall IERC20(ASSET).transferFrom(owner, self, amount), "vault: transfer failed"


@internal
def _push(to: address, amount: uint256):
    if amount != 0:
        assert extcall IERC20(ASSET).transfer(to, amount), "vault: transfer failed"
