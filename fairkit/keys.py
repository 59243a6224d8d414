"""The organisation's Ed25519 signing key: reading key files, signing, checking signatures.

One module for every signature fairkit makes or checks (bundle manifests, the audit log's chain
heads), so there is one key format and one way to refer to a key. Keys are PEM files: the private
key as PKCS#8 (optionally encrypted with a passphrase), the public key as SubjectPublicKeyInfo,
as ``openssl genpkey -algorithm ed25519`` and ``openssl pkey -pubout`` write them, or as
:func:`write_key_pair` writes them.

Where no path is passed, the environment names the organisation's keys:
``FAIRKIT_SIGNING_KEY`` (the private key file, for whoever exports and signs off) and
``FAIRKIT_TRUST_KEY`` (the public key file, for whoever checks). :func:`resolve_private` and
:func:`resolve_public` are the one way the command line, the engine and the dashboard find a key
(an argument, else the environment, else a deployment's fallback such as the dashboard's secrets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNING_KEY_ENV = "FAIRKIT_SIGNING_KEY"
TRUST_KEY_ENV = "FAIRKIT_TRUST_KEY"
#: Key files are small; anything larger is not a key and is not read whole.
MAX_KEY_BYTES = 16_384


class KeyFileError(ValueError):
    """A key file that cannot be used, with a message that names it and says why."""


def _read(path) -> bytes:
    """The bytes of the key file ``path``: a regular file of at most :data:`MAX_KEY_BYTES`,
    read by :func:`fairkit.store.read_regular_file` (a device or a FIFO is refused, never read)."""
    from .store import FileRefused, read_regular_file

    path = Path(path)
    try:
        data = read_regular_file(path, MAX_KEY_BYTES)
    except FileRefused as exc:
        if exc.kind == "unreadable":  # missing or unreadable: the name says which file
            raise KeyFileError(f"Cannot read the key file {path.name}: "
                               f"{exc.__cause__.strerror or exc.__cause__}.") from exc
        said = {"folder": ", not a key file", "special": ", so not a key file"}[exc.kind]
        raise KeyFileError(f"{exc}{said}; give the path of a PEM key file.") from exc
    if len(data) > MAX_KEY_BYTES:
        raise KeyFileError(f"{path.name} is over {MAX_KEY_BYTES:,} bytes: not a key file (Ed25519 PEM keys "
                           "are a few hundred bytes).")
    return data


def load_private_key(path, password: bytes | None = None) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PEM file.

    Parameters
    ----------
    path : path
        PKCS#8 PEM file.
    password : bytes, optional
        Its passphrase, if it is encrypted.

    Returns
    -------
    Ed25519PrivateKey

    Raises
    ------
    KeyFileError
        The file is missing, too large, not PEM, encrypted without a passphrase, or not Ed25519.
    """
    return _private_key(_read(path), Path(path).name, password)


def _private_key(data: bytes, name: str, password: bytes | None) -> Ed25519PrivateKey:
    # The file is read (and a file that is no key refused, KeyFileError) before this parses it.
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{name} is not a usable private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{name} holds a {type(key).__name__}; fairkit signs with "
                        "Ed25519 keys (openssl genpkey -algorithm ed25519).")
    return key


def load_public_key(path) -> Ed25519PublicKey:
    """Read an Ed25519 public key from a PEM file (a private key file is also accepted: its
    public half is returned).

    Raises
    ------
    KeyFileError
        The file is missing, too large, not PEM, or not Ed25519.
    """
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as public_error:
        try:
            key = _private_key(data, Path(path).name, None).public_key()
        except KeyFileError:
            # Said as the public key asked for (it read "not a usable private key" of a
            # trusted key: hostile-input audit, session 53).
            raise KeyFileError(f"{Path(path).name} is not a usable public key (nor a private key whose public half "
                               f"could be used): {public_error}") from public_error
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{Path(path).name} holds a {type(key).__name__}; fairkit checks "
                        "Ed25519 signatures.")
    return key


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short, stable name for a key pair: the first 16 hex digits of the SHA-256 of the raw
    public key. The same for the private key and its public half."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def same_key(a: Ed25519PublicKey | Ed25519PrivateKey, b: Ed25519PublicKey | Ed25519PrivateKey) -> bool:
    """Whether two keys are one key pair, by their whole raw public keys.

    :func:`key_id` names a key in 64 bits, enough to tell a few keys apart but not to decide
    trust: a key made to share the organisation's id (a 2**64 search, far below Ed25519's
    strength) must not pass for it.
    """
    raw = [(k.public_key() if isinstance(k, Ed25519PrivateKey) else k).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) for k in (a, b)]
    return hmac.compare_digest(raw[0], raw[1])


def sign(private_key: Ed25519PrivateKey, data: bytes) -> str:
    """Ed25519 signature of ``data``, base64 text (to store in JSON or SQLite)."""
    return base64.b64encode(private_key.sign(data)).decode("ascii")


def raw_hex(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The whole raw public key in hexadecimal (64 digits): what a hand-over names, since a
    :func:`key_id` is too short to decide trust (:func:`same_key`)."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_from_hex(text: str) -> Ed25519PublicKey:
    """The public key :func:`raw_hex` wrote; ValueError when ``text`` is not one."""
    raw = bytes.fromhex(str(text))
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def handover_message(old: Ed25519PublicKey | Ed25519PrivateKey, new: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """What the outgoing key signs to hand the organisation's trust to the incoming one (the
    whole keys, not their ids)."""
    return f"fairkit key hand-over\nfrom {raw_hex(old)}\nto {raw_hex(new)}\n".encode()


@dataclass(frozen=True)
class KeyRing:
    """The organisation's trusted key and the keys a signed hand-over in its audit log links to
    it (:meth:`fairkit.audit.AuditLog.key_ring`), each trusted for the entries up to the one
    that handed it over (``until``; None: not handed over, still the organisation's).

    After a key rotation one key is trusted, yet the decisions and bundles of the earlier key's
    time are the organisation's too: with one key only, every bundle signed before the rotation
    read "cannot be trusted ... Do not deploy it" and every earlier sign-off stopped counting
    (lifecycle audit, session 45). A handed-over key's later signatures are not trusted (a key
    retired because it leaked must not sign new decisions).

    Attributes
    ----------
    anchor : Ed25519PublicKey
        The key the caller trusts.
    members : tuple of (Ed25519PublicKey, int or None)
        Every trusted key (the anchor included) and the last audit entry it may sign.
    """

    anchor: Ed25519PublicKey
    members: tuple = ()
    #: Manifest SHA-256 -> the audit entry that first logged its export, read when a member was
    #: handed over: a bundle it signed counts only when exported before its hand-over.
    exports: dict = field(default_factory=dict)

    @property
    def key_id(self) -> str:
        return key_id(self.anchor)

    def active(self) -> frozenset:
        """The ids of the members not handed over: the keys a new decision may be signed with."""
        return frozenset(key_id(k) for k, until in self.members if until is None)

    def refusal(self, key, manifest_sha256: str) -> str | None:
        """Why a bundle ``key`` signed (``manifest_sha256``) is not trusted though ``key`` is a
        member: it was handed over before the bundle's export was logged, or no export of it is
        logged. None when it is trusted, or ``key`` was not handed over."""
        member = self.find(key)
        if member is None or member[1] is None:
            return None
        kid, until = key_id(key), member[1]
        exported_at = self.exports.get(str(manifest_sha256))
        if exported_at is None:
            return (f"it is signed by key {kid}, which was handed over at audit entry {until}, and the audit log holds "
                    "no export of it: a handed-over key's bundle is trusted only when its export is logged before the "
                    "hand-over")
        if exported_at > until:
            return (f"it is signed by key {kid}, which was handed over at audit entry {until}, and exported after that "
                    f"(entry {exported_at}): a key signs nothing after its hand-over")
        return None

    def find(self, key: Ed25519PublicKey | Ed25519PrivateKey):
        """``(key, until)`` of the member that is ``key`` (by the whole key), or None."""
        return next(((k, until) for k, until in self.members if same_key(k, key)), None)

    def by_id(self, kid: str):
        """``(key, until)`` of the member whose :func:`key_id` is ``kid``, or None."""
        return next(((k, until) for k, until in self.members if key_id(k) == kid), None)

    def handed_over(self) -> dict:
        """Key id -> the entry at which it was handed over, for the members that were."""
        return {key_id(k): until for k, until in self.members if until is not None}


def trusted_public(key) -> Ed25519PublicKey | None:
    """The one public key behind a trust argument: a :class:`KeyRing`'s anchor, or the key."""
    return key.anchor if isinstance(key, KeyRing) else key


#: Signatures already found valid this process, by a digest of (key, data, signature); at most
#: this many are remembered (about 10 MB), the oldest forgotten first.
VERIFIED_MEMORY = 100_000
_verified: dict = {}
_verified_lock = threading.Lock()  # the dashboard's sessions check signatures in threads


def verify_signature(public_key: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (as :func:`sign` returns it) is the key's signature of ``data``.

    Malformed signatures are simply not valid: the caller decides what to say.

    A valid signature is remembered by a digest of exactly what was checked (the key's bytes, the
    data and the signature), so checking it again costs a hash: the audit log's every head is
    checked on each check of the log, and a Review page re-checks the log on every interaction
    (a long history audit: 1.0 of 1.3 s at 18,440 entries and 9,475 signed heads). A signature is
    a pure function of those three, so anything changed is a different digest and is checked
    in full; a signature that fails is never remembered.
    """
    text = str(signature)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    memo = hashlib.sha256(b"%d:%b%d:%b%s" % (len(raw), raw, len(data), bytes(data),
                                            text.encode("utf-8", "surrogatepass"))).digest()
    if memo in _verified:
        return True
    try:
        public_key.verify(base64.b64decode(text, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    with _verified_lock:
        if len(_verified) >= VERIFIED_MEMORY:
            del _verified[next(iter(_verified))]  # the oldest (dicts keep insertion order)
        _verified[memo] = None
    return True


def _taken(path: Path) -> KeyFileError:
    return KeyFileError(f"{path} already exists (a file or a link); a new key is never written over one. "
                        "Choose another folder.")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file ``path`` created with ``mode``, durably: never through a link
    (one left dangling there would send the key where whoever made it chose) and never over a
    file, and never readable by others, not even for the moment before a chmod."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError:
        raise _taken(path) from None
    with open(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        # A power cut after keygen returned left an empty key file (concurrency audit, session 46).
        os.fsync(fh.fileno())


def write_key_pair(private_path, public_path, password: bytes | None = None) -> Ed25519PrivateKey:
    """Create a new Ed25519 key pair and write it as PEM files (the private one readable by its
    owner only). Returns the private key.

    Both files are written in full under temporary names first and then linked into place, the
    public key first: a keygen killed midway left a private key without its public key, which a
    rerun refused to replace and nothing could rebuild (concurrency audit, session 46). Now the
    worst a kill can leave is a public key alone, in the instant between the two links. (On a
    file system without hard links each file is written in place instead, public key first.)

    Raises
    ------
    KeyFileError
        Either path already exists, as a file or a link (dangling or not); nothing is written.
    """
    from .store import _fsync_folder, stale_temporaries

    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise _taken(path)
        # A killed keygen's temporary (a private key among them): its writer is gone.
        for tmp, _ in stale_temporaries(path):
            tmp.unlink(missing_ok=True)
    key = Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    files = ((public_path, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo), 0o644),
             (private_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              encryption), 0o600))
    temps, linked = [], []
    try:
        for path, data, mode in files:
            # The store's temporary names, so a killed writer's are recognised (and removed above).
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
            _write_new(tmp, data, mode)
            temps.append((tmp, path))
        for tmp, path in temps:
            try:
                os.link(tmp, path)  # fails on any file or link there, dangling ones included
            except FileExistsError:
                raise _taken(path) from None
            except OSError:
                # A file system without hard links (FAT, some network shares): written in place.
                _write_new(path, Path(tmp).read_bytes(), os.stat(tmp).st_mode & 0o777)
            linked.append(path)
    except BaseException:
        for path in linked:  # ours: the pair is written whole or not at all
            path.unlink(missing_ok=True)
        raise
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    for folder in {private_path.parent, public_path.parent}:
        _fsync_folder(folder)
    return key


def _resolve(key, fallback, env: str, kind: type, loader):
    if key is False:
        return None
    if isinstance(key, kind):
        return key
    if key is not None and not isinstance(key, (str, os.PathLike)):
        raise TypeError(f"A key is a path, an {kind.__name__}, None or False, not a {type(key).__name__}.")
    path, source = _key_path(key, env, fallback)
    if path is None:
        return None
    try:
        return loader(path)
    except KeyFileError as exc:
        if source != env:
            raise
        # A file the caller never named: say where it came from.
        raise KeyFileError(f"{exc} (It is named by ${env}.)") from exc


def _key_path(key, env: str, fallback) -> tuple[str | None, str | None]:
    """The key file meant, and where it was named ("key", ``env`` or "fallback"): the one order
    of precedence, the argument, then the environment, then the deployment's setting."""
    for path, source in ((key, "key"), (os.environ.get(env), env), (fallback, "fallback")):
        text = str(path).strip() if path is not None else ""
        if text:
            return text, source
        if source == env and path is not None:
            # Set but empty (a deployment's variable that expanded to nothing): no key would mean
            # unsigned exports, or no signature check, without a word (CLI audit, session 44).
            raise KeyFileError(f"${env} is set but empty: name the key file in it, or unset it for none.")
    return None, None


def private_key_path(key=None, *, fallback=None) -> str | None:
    """The file :func:`resolve_private` would read the private key from (the same precedence:
    ``key``, then ``FAIRKIT_SIGNING_KEY``, then ``fallback``), or None when none is named or the
    file named is a public key."""
    if key is False or isinstance(key, Ed25519PrivateKey):
        return None
    try:
        path = _key_path(key, SIGNING_KEY_ENV, fallback)[0]
    except KeyFileError:  # a variable set but empty names no file; resolve_private says so
        return None
    # A public key given in its place holds no private key (resolve_private refuses it): it was
    # first warned of as an exposed signing key, which a public key is meant to be (CLI audit).
    return None if path is None or _begins_as_public_key(Path(path)) else path


def private_trust_key_path(key=None, *, fallback=None) -> str | None:
    """The file :func:`resolve_public` would read when it holds a private key rather than a
    public one (accepted: its public half is used), else None. Whoever was handed it to check
    bundles can sign them too, and sign-offs (lifecycle audit, session 45): callers warn."""
    if key is False or not (key is None or isinstance(key, (str, os.PathLike))):
        return None
    try:
        path = _key_path(key, TRUST_KEY_ENV, fallback)[0]
    except KeyFileError:
        return None
    return None if path is None or not Path(path).is_file() or _begins_as_public_key(Path(path)) else path


def _begins_as_public_key(path: Path) -> bool:
    """Whether ``path`` is a regular file that begins as a PEM public key (its first bytes only:
    a FIFO or device is not opened, which could wait for ever)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(64).lstrip().startswith(b"-----BEGIN PUBLIC KEY-----")
    except OSError:
        return False


def resolve_private(key=None, *, fallback=None) -> Ed25519PrivateKey | None:
    """The private key a caller means, the one way every signer finds it.

    Parameters
    ----------
    key : path, Ed25519PrivateKey, None or False
        A key (returned as is), a PEM file to read, False for none (unsigned), or None (or an
        empty path) for the organisation's configured key: the file ``FAIRKIT_SIGNING_KEY``
        names, else ``fallback``.
    fallback : path, optional
        Where a deployment configures the key besides the environment (the dashboard's
        secrets); the environment wins.

    Returns
    -------
    Ed25519PrivateKey or None
        None when no key is given or configured (or ``key`` is False).

    Raises
    ------
    KeyFileError
        The key file named (or configured) cannot be used; the message names it, and the
        environment variable when that named it.
    """
    return _resolve(key, fallback, SIGNING_KEY_ENV, Ed25519PrivateKey, load_private_key)


def resolve_public(key=None, *, fallback=None, signing_fallback=None) -> Ed25519PublicKey | None:
    """The public key a caller trusts, the one way every checker finds it.

    As :func:`resolve_private`, with ``FAIRKIT_TRUST_KEY``: a key (a private key gives its
    public half), a PEM file (public, or private: its public half), False for none, or None for
    the configured key (the environment, else ``fallback``). With no trusted key configured, the
    organisation's signing key (:func:`resolve_private` with ``signing_fallback``) gives its
    public half: given a signing key alone, the dashboard signed every export and verdict and
    checked none (hostile-input audit, session 53), and the dashboard and the command line must
    find one key (review of session 53).

    Returns
    -------
    Ed25519PublicKey, KeyRing or None
        A :class:`KeyRing` given is returned as it is.

    Raises
    ------
    KeyFileError
    """
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, KeyRing):  # a key with those handed over to or from it: as it is
        return key
    public = _resolve(key, fallback, TRUST_KEY_ENV, Ed25519PublicKey, load_public_key)
    if public is None and (key is None or (isinstance(key, (str, os.PathLike)) and not str(key).strip())):
        private = resolve_private(None, fallback=signing_fallback)
        public = None if private is None else private.public_key()
    return public

