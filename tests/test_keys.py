"""The organisation's key: PEM files read back, signatures that hold only for the signed bytes
and the signing key, and key files that cannot be used refused with their name."""

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fairkit.keys import (
    KeyFileError,
    key_id,
    load_private_key,
    load_public_key,
    resolve_private,
    resolve_public,
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


def test_a_valid_signature_is_checked_once_and_anything_changed_is_checked_again(tmp_path, monkeypatch):
    """A long history audit: the Review page re-checked every signed head of the audit log on
    each interaction (1.0 of 1.3 s at 9,475 heads). A valid signature is remembered by what was
    checked; a changed byte, signature or key is a new check, and a failure is never remembered."""
    from fairkit import keys

    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    private, public = load_private_key(tmp_path / "org.pem"), load_public_key(tmp_path / "org.pub")
    other = load_public_key(tmp_path / "other.pub")

    class Counted:
        """The key, counting the Ed25519 checks made with it."""

        def __init__(self, key):
            self.key, self.checks = key, 0

        def public_bytes(self, *args):
            return self.key.public_bytes(*args)

        def verify(self, signature, data):
            self.checks += 1
            return self.key.verify(signature, data)

    monkeypatch.setattr(keys, "_verified", {})
    sig = sign(private, b"head 3")
    org, stranger = Counted(public), Counted(other)
    assert verify_signature(org, b"head 3", sig) and verify_signature(org, b"head 3", sig)
    assert org.checks == 1
    assert not verify_signature(org, b"head 4", sig) and not verify_signature(org, b"head 4", sig)
    assert org.checks == 3  # a failure is checked again each time
    assert not verify_signature(stranger, b"head 3", sig) and stranger.checks == 1
    forged = sig[:-4] + ("AAA=" if not sig.endswith("AAA=") else "BBB=")
    assert not verify_signature(org, b"head 3", forged) and org.checks == 4
    # The memory is bounded: the oldest valid check is forgotten first.
    monkeypatch.setattr(keys, "VERIFIED_MEMORY", 2)
    for i in range(3):
        assert verify_signature(org, b"head %d" % i, sign(private, b"head %d" % i))
    assert len(keys._verified) == 2


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
    assert resolve_private() is None and resolve_public() is None
    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    monkeypatch.setenv("FAIRKIT_SIGNING_KEY", str(tmp_path / "org.pem"))
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(tmp_path / "org.pub"))
    assert key_id(resolve_private()) == key_id(resolve_public())


def test_a_key_is_resolved_from_the_argument_then_the_environment_then_the_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    pair = {}
    for name in ("arg", "env", "fallback"):
        write_key_pair(tmp_path / f"{name}.pem", tmp_path / f"{name}.pub")
        pair[name] = key_id(load_public_key(tmp_path / f"{name}.pub"))
    given = load_private_key(tmp_path / "arg.pem")
    for resolve, suffix, env in ((resolve_private, "pem", "FAIRKIT_SIGNING_KEY"),
                                 (resolve_public, "pub", "FAIRKIT_TRUST_KEY")):
        fallback = tmp_path / f"fallback.{suffix}"
        assert key_id(resolve(fallback=fallback)) == pair["fallback"]
        monkeypatch.setenv(env, str(tmp_path / f"env.{suffix}"))
        assert key_id(resolve(fallback=fallback)) == pair["env"]  # the environment wins
        assert key_id(resolve(str(tmp_path / f"arg.{suffix}"), fallback=fallback)) == pair["arg"]
        assert key_id(resolve(tmp_path / f"arg.{suffix}")) == pair["arg"]  # a Path too
        assert key_id(resolve(" ")) == pair["env"]  # an empty argument gives none
        assert resolve(False, fallback=fallback) is None  # False: no key, whatever is configured
        monkeypatch.delenv(env)
    assert resolve_private(given) is given
    # A private key trusted gives its public half, which checks what it signs.
    public = resolve_public(given)
    assert verify_signature(public, b"x", sign(given, b"x"))
    with pytest.raises(TypeError, match="bytes"):
        resolve_private(b"not a key")


def test_an_unusable_configured_key_names_the_variable(tmp_path, monkeypatch):
    (tmp_path / "junk.pem").write_text("hello")
    monkeypatch.setenv("FAIRKIT_SIGNING_KEY", str(tmp_path / "junk.pem"))
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(tmp_path / "gone.pub"))
    with pytest.raises(KeyFileError, match=r"junk\.pem.*named by \$FAIRKIT_SIGNING_KEY"):
        resolve_private()
    with pytest.raises(KeyFileError, match=r"gone\.pub.*named by \$FAIRKIT_TRUST_KEY"):
        resolve_public()
    # A file the caller names is its own: its message does not blame the environment.
    with pytest.raises(KeyFileError, match="junk.pem") as caught:
        resolve_public(tmp_path / "junk.pem")
    assert "FAIRKIT" not in str(caught.value)


def test_the_command_line_refuses_an_unusable_key_with_exit_2(tmp_path, monkeypatch, capsys):
    from fairkit.__main__ import main
    from fairkit.audit import AuditLog

    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    log = tmp_path / "audit.sqlite"
    AuditLog(log).append("upload", actor="a", subject="x")
    assert main(["audit", "verify", "--audit", str(log)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--audit", str(log), "--trust", str(tmp_path / "missing.pub")]) == 2
    err = capsys.readouterr().err
    assert "The trusted key: Cannot read the key file missing.pub" in err and "Traceback" not in err
    (tmp_path / "junk.pub").write_text("hello")
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(tmp_path / "junk.pub"))
    assert main(["audit", "verify", "--audit", str(log)]) == 2
    err = capsys.readouterr().err
    assert "The trusted key: junk.pub is not a usable" in err and "$FAIRKIT_TRUST_KEY" in err


_LOAD_EACH = """
import json, sys
from fairkit.keys import KeyFileError, load_private_key, load_public_key, resolve_public
for path in sys.argv[1:]:
    for load in (load_private_key, load_public_key):
        try:
            load(path)
            print(json.dumps([path, "read"]), flush=True)
        except KeyFileError as exc:
            print(json.dumps([path, str(exc)]), flush=True)
try:
    resolve_public()  # the file $FAIRKIT_TRUST_KEY names
except KeyFileError as exc:
    print(json.dumps(["$FAIRKIT_TRUST_KEY", str(exc)]), flush=True)
"""


def test_a_device_fifo_or_folder_is_refused_unread(tmp_path):
    """A key path that is a FIFO (nobody writes to it), a device (st_size 0, endless) or a folder
    is refused by name without being read. Run in a child held to 2 GB and 60 s, so the old
    behaviour (read until memory runs out, or wait for ever) fails the test, not the machine."""
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo)
    paths = [str(fifo), "/dev/zero", "/dev/urandom", str(tmp_path)]

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    proc = subprocess.run([sys.executable, "-c", _LOAD_EACH, *paths], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FAIRKIT_TRUST_KEY": str(fifo)}, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [path for path, _ in results] == [p for p in paths for _ in (1, 2)] + ["$FAIRKIT_TRUST_KEY"]
    for path, message in results[:-3]:
        assert f"{path} is not a regular file (a device, FIFO or socket), so not a key file" in message
    assert all(f"{tmp_path} is a folder, not a key file" in message for _, message in results[-3:-1])
    assert results[-1][1] == (f"{fifo} is not a regular file (a device, FIFO or socket), so not a key file; give the "
                              "path of a PEM key file. (It is named by $FAIRKIT_TRUST_KEY.)")


def test_a_key_file_is_read_no_further_than_the_limit_whatever_its_size_says(tmp_path, monkeypatch):
    """A file whose reported size is small (a file still growing, a file system that does not say)
    is still read only up to the limit and refused past it."""
    import fairkit.keys as keys

    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * 100_000)
    ino = big.stat().st_ino
    real_stat, real_fstat = os.stat, os.fstat

    def told_small(st):
        if st.st_ino != ino:
            return st
        fields = list(st[:10])
        fields[6] = 10  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", lambda *a, **k: told_small(real_stat(*a, **k)))
    monkeypatch.setattr(os, "fstat", lambda fd: told_small(real_fstat(fd)))
    with pytest.raises(KeyFileError, match=f"big.pem is over {keys.MAX_KEY_BYTES:,} bytes: not a key file"):
        load_private_key(big)


def test_a_new_private_key_is_never_readable_by_others_nor_written_through_a_link(tmp_path, monkeypatch):
    """keygen wrote the key with the umask's mode (0644) and chmodded it after, and followed a
    dangling link to wherever its maker pointed it (round 3, finding 10). The key is created
    0600 (no chmod is relied on), and an existing file or link, dangling or not, is refused."""
    import stat
    from pathlib import Path

    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)  # nothing fixes the mode afterwards
    monkeypatch.setattr(os, "chmod", lambda *args, **kwargs: None)
    old = os.umask(0o022)
    try:
        write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k.pub").stat().st_mode) == 0o644

    stolen = tmp_path / "elsewhere" / "stolen.pem"
    stolen.parent.mkdir()
    (tmp_path / "link.pem").symlink_to(stolen)  # dangling
    with pytest.raises(KeyFileError, match=r"link.pem already exists \(a file or a link\); a new key is never "
                                           "written over one. Choose another folder."):
        write_key_pair(tmp_path / "link.pem", tmp_path / "link.pub")
    assert not stolen.exists() and not (tmp_path / "link.pub").exists()
    with pytest.raises(KeyFileError, match="k.pub already exists"):
        write_key_pair(tmp_path / "new.pem", tmp_path / "k.pub")
    assert not (tmp_path / "new.pem").exists()


def test_a_key_pair_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """Concurrency audit, session 46 (F8): a keygen killed after the private key and before the
    public one left a private key no command could pair, and nothing was fsynced. Both files are
    written durably under temporary names and linked into place, the public key first; a failure
    in between leaves neither, no temporary (a private key among them) stays behind, and a killed
    writer's temporaries are removed by the next keygen."""
    import fairkit.keys as keys_module

    calls = []
    real_link = os.link

    def link_then_fail(src, dst, *args, **kwargs):
        calls.append(Path(dst).name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed between the two links
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(keys_module.os, "link", link_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    assert calls == ["k.pub", "k.pem"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setattr(keys_module.os, "link", real_link)

    synced = []
    monkeypatch.setattr(keys_module.os, "fsync", lambda fd: synced.append(fd))
    # A temporary a killed keygen left (its writer's pid gone, older than a minute).
    left = tmp_path / ".k.pem.999999999.ab12.tmp"
    left.write_text("a private key")
    os.utime(left, (time.time() - 120, time.time() - 120))
    write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem", "k.pub"]
    assert len(synced) >= 3  # both files and the folder
    assert isinstance(load_private_key(tmp_path / "k.pem"), Ed25519PrivateKey)


def test_a_signing_key_alone_is_the_key_every_checker_trusts(tmp_path, monkeypatch):
    """Hostile-input audit and review of session 53: given only a signing key, the dashboard
    checked nothing; then the dashboard checked with its public half and score did not. One
    resolution (resolve_public) for both; a trusted key configured wins, False means none."""
    from fairkit.keys import key_id, load_private_key, load_public_key, resolve_public, write_key_pair

    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    monkeypatch.setenv("FAIRKIT_SIGNING_KEY", str(tmp_path / "org.pem"))
    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    assert key_id(resolve_public()) == key_id(load_private_key(tmp_path / "org.pem"))
    assert resolve_public(False) is None
    monkeypatch.setenv("FAIRKIT_TRUST_KEY", str(tmp_path / "other.pub"))
    assert key_id(resolve_public()) == key_id(load_public_key(tmp_path / "other.pub"))
