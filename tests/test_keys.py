"""The organisation's key: PEM files read back, signatures that hold only for the signed bytes
and the signing key, and key files that cannot be used refused with their name."""

import pytest

from fairkit.keys import (
    KeyFileError,
    configured_private_key,
    configured_public_key,
    key_id,
    load_private_key,
    load_public_key,
    sign,
    verify_signature,
    write_key_pair,
)


def test_a_signature_holds_for_its_bytes_and_its_key_only(tmp_path):
    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    private, public = load_private_key(tmp_path / "org.pem"), load_public_key(tmp_path / "org.pub")
    assert key_id(private) == key_id(public) != key_id(load_public_key(tmp_path / "other.pub"))
    # A private key file also gives its public half.
    assert key_id(load_public_key(tmp_path / "org.pem")) == key_id(public)
    sig = sign(private, b"head 3")
    assert verify_signature(public, b"head 3", sig)
    assert not verify_signature(public, b"head 4", sig)
    assert not verify_signature(load_public_key(tmp_path / "other.pub"), b"head 3", sig)
    assert not verify_signature(public, b"head 3", "not base64!")
    assert (tmp_path / "org.pem").stat().st_mode & 0o077 == 0


def test_unusable_key_files_are_named(tmp_path):
    with pytest.raises(KeyFileError, match="missing.pem"):
        load_private_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(KeyFileError, match="junk.pem"):
        load_public_key(tmp_path / "junk.pem")
    (tmp_path / "big.pem").write_bytes(b"x" * 100_000)
    with pytest.raises(KeyFileError, match="not a key file"):
        load_private_key(tmp_path / "big.pem")
    write_key_pair(tmp_path / "locked.pem", tmp_path / "locked.pub", password=b"pw")
    with pytest.raises(KeyFileError, match="locked.pem"):
        load_private_key(tmp_path / "locked.pem")
    assert key_id(load_private_key(tmp_path / "locked.pem", password=b"pw")) == key_id(
        load_public_key(tmp_path / "locked.pub"))


def test_the_environment_names_the_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    assert configured_private_key() is None and configured_public_key() is None
    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    monkeypatch.setenv("FAIRKIT_SIGNING_KEY", str(tmp_path / "org.pem"))
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(tmp_path / "org.pub"))
    assert key_id(configured_private_key()) == key_id(configured_public_key())
