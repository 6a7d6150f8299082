"""Configuration: defaults, key sources, and that secrets never show."""

import json

import pytest
from eth_account import Account

from sequencer.commitments import Domain
from sequencer.config import DEVNET_SEQUENCER_ADDRESS, ConfigError, ServiceConfig
from sequencer.manifest import ChainEntry, ContractEntry, Manifest


def _manifest(with_slasher: bool) -> Manifest:
    contracts = {}
    if with_slasher:
        contracts["Slasher"] = ContractEntry(
            "Slasher", "0x5FbDB2315678afecb367f032d93F642f64180aa3", []
        )
    chains = {
        "l1": ChainEntry("l1", "l1", 31337, "http://127.0.0.1:1", contracts),
        "rollup_a": ChainEntry("rollup_a", "rollup", 901, "http://127.0.0.1:2"),
    }
    return Manifest(name="t", chains=chains)


def test_defaults_and_devnet_key(tmp_path):
    config = ServiceConfig(manifest=tmp_path / "m.json", key_source="devnet")
    assert config.host == "127.0.0.1"
    assert config.slot_ms == 250
    assert config.ordering == "fcfs"
    assert config.load_signer().address == DEVNET_SEQUENCER_ADDRESS


def test_keystore_is_required_off_devnet(tmp_path):
    with pytest.raises(ValueError, match="keystore"):
        ServiceConfig(manifest=tmp_path / "m.json")


def test_keystore_key_with_password_from_env_and_no_secret_in_description(tmp_path, monkeypatch):
    account = Account.create()
    keyfile = Account.encrypt(account.key, "s3cret-pw", kdf="pbkdf2", iterations=2)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(keyfile))
    monkeypatch.setenv("SEQUENCER_KEYSTORE_PASSWORD", "s3cret-pw")
    config = ServiceConfig(manifest=tmp_path / "m.json", keystore=path)
    signer = config.load_signer()
    assert signer.address == account.address
    shown = json.dumps(config.describe()) + repr(config) + repr(signer)
    assert "s3cret-pw" not in shown
    assert account.key.hex().removeprefix("0x") not in shown


def test_wrong_keystore_password_is_refused(tmp_path):
    keyfile = Account.encrypt(Account.create().key, "right", kdf="pbkdf2", iterations=2)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(keyfile))
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    config = ServiceConfig(manifest=tmp_path / "m.json", keystore=path, keystore_password_file=pw)
    with pytest.raises(ConfigError, match="wrong password"):
        config.load_signer()


def test_signing_domain_prefers_the_manifest_slasher(tmp_path):
    explicit = "0x000000000000000000000000000000000000dEaD"
    config = ServiceConfig(
        manifest=tmp_path / "m.json", key_source="devnet", slasher_address=explicit
    )
    assert config.signing_domain(_manifest(True)) == Domain(
        31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    )
    assert config.signing_domain(_manifest(False)) == Domain(31337, explicit)
    bare = ServiceConfig(manifest=tmp_path / "m.json", key_source="devnet")
    with pytest.raises(ConfigError, match="Slasher"):
        bare.signing_domain(_manifest(False))
