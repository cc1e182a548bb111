"""The issuing unit's SM2 seal key: generate, publish (04||X||Y hex), sign/verify with SM3, keep encrypted.

Signatures are SM2 over SM3 as GB/T 32918.2 defines them: e = SM3(Z_A || M) with Z_A over the signer's
identity, default user id "1234567812345678" (GB/T 35276 / GM/T 0009), encoded as the DER
``SEQUENCE { r INTEGER, s INTEGER }`` that OFD seals (GB/T 38540) and X.509 carry.

Library choice (compared here, 2026-12; the reasons matter more than the winner):

- ``gmssl-pyx`` 2.1.0 (chosen): a C extension with GmSSL 3.2.0 (Guan Zhi's reference implementation of the
  national algorithms) linked in statically, shipped as manylinux wheels for CPython 3.8-3.14, so no
  system library and no compiler. Nonces come from GmSSL's system RNG, keys and points are checked
  (a zero private key or an off-curve public key is refused), and it signs the GB/T 32918.5 Annex A
  vector's key so that the published (r, s) verifies (tests/bills/test_seal.py). It cannot derive a
  public key from a private one, so the keystore blob carries the public key and loading checks the pair.
  On a failed verification GmSSL prints its C call trace to stderr: noisy, not wrong.
- ``gmssl`` 3.2.2 (pure Python, the most downloaded): refused. It draws the signing nonce k with
  ``random.choice`` (Mersenne Twister, predictable: two signatures can reveal the private key) unless
  the caller passes k; it strips a public key with ``str.lstrip("04")``, which also eats leading 0/4
  digits of X for about one key in eight; it checks neither r, s ranges nor that the key is on the curve;
  last release 2023-02.
- ``gmssl-python`` 2.2.2: ctypes over a system ``libgmssl.so`` (GmSSL 3.1) that neither Debian nor the
  wheel provides; it would need a native build on every machine.
- ``cryptography`` (OpenSSL) is not in the venv, and exposes SM3/SM4 but no SM2 signatures anyway.

The private key is stored as a small JSON keystore in the spirit of eth-account's V3 files: scrypt
(n=2^17, r=8, p=1 by default) derives a 256-bit key that AES-256-GCM uses to seal the 32 private-key
bytes, with the format version and the public key as associated data so neither can be swapped. Both
primitives come from pycryptodome, already installed as eth-account's keystore backend.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import gmssl_pyx
from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt

from app.bills.errors import SealKeyError

SM2_DEFAULT_USER_ID = b"1234567812345678"
"""GB/T 35276's default signer id: what OFD readers assume when a seal names none."""

OID_SM3 = "1.2.156.10197.1.401"
OID_SM2_SIGN_WITH_SM3 = "1.2.156.10197.1.501"
OID_SM2_CURVE = "1.2.156.10197.1.301"

KEYSTORE_VERSION = "billchain/sm2-key/v1"
SCRYPT_N = 2**17
SCRYPT_N_MAX = 2**20
"""Blobs asking for more scrypt work than this are refused (a forged blob must not stall a worker)."""

_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
"""DER SubjectPublicKeyInfo header for an uncompressed SM2 key: id-ecPublicKey, curve sm2p256v1."""

_PROBE = b"billchain:sm2-key-pair-probe"


# ---------------------------------------------------------------- hashing and public keys


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest (GB/T 32905)."""
    return bytes(gmssl_pyx.sm3_hash(bytes(data)))


def parse_public_key(value: str | bytes) -> bytes:
    """65 bytes 04||X||Y from hex (with or without 0x / 04) or bytes, refusing any point off the curve."""
    if isinstance(value, str):
        text = value.strip().removeprefix("0x").removeprefix("0X")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise SealKeyError("an SM2 public key is hex: 04 followed by 128 hex digits") from None
    else:
        raw = bytes(value)
    if len(raw) not in (64, 65) or (len(raw) == 65 and raw[0] != 4):
        raise SealKeyError(f"an SM2 public key is 65 bytes 04||X||Y (got {len(raw)} bytes)")
    try:
        xy = bytes(gmssl_pyx.normalize_sm2_public_key(raw))
    except gmssl_pyx.InvalidValueError:
        raise SealKeyError("not a point on the SM2 curve") from None
    return b"\x04" + xy


def public_key_hex(public_key: bytes) -> str:
    """How an organisation publishes its seal key: 130 lower-case hex digits, 04||X||Y."""
    return parse_public_key(public_key).hex()


def public_key_to_spki(public_key: bytes) -> bytes:
    """X.509 SubjectPublicKeyInfo DER (what Java's KeyFactory and OpenSSL read)."""
    return _SPKI_PREFIX + parse_public_key(public_key)


def public_key_from_spki(der: bytes) -> bytes:
    """The 65-byte key from SubjectPublicKeyInfo DER; only the exact SM2 form is accepted."""
    if len(der) != len(_SPKI_PREFIX) + 65 or not der.startswith(_SPKI_PREFIX):
        raise SealKeyError("not an SM2 SubjectPublicKeyInfo (id-ecPublicKey on sm2p256v1, uncompressed)")
    return parse_public_key(der[len(_SPKI_PREFIX) :])


def same_public_key(a: str | bytes, b: str | bytes) -> bool:
    """Whether two spellings (hex/bytes, with or without 04) name the same key."""
    return hmac.compare_digest(parse_public_key(a), parse_public_key(b))


# ---------------------------------------------------------------- the private key


@dataclass(frozen=True)
class SealKey:
    """An SM2 key pair; ``repr`` never shows the private half."""

    private_key: bytes = field(repr=False)
    public_key: bytes

    def __post_init__(self) -> None:
        if len(self.private_key) != 32:
            raise SealKeyError(f"an SM2 private key is 32 bytes (got {len(self.private_key)})")
        object.__setattr__(self, "public_key", parse_public_key(self.public_key))

    @classmethod
    def generate(cls) -> SealKey:
        """A fresh key pair from GmSSL's system RNG."""
        xy, private = gmssl_pyx.sm2_key_generate()
        return cls(private_key=bytes(private), public_key=b"\x04" + bytes(xy))

    @classmethod
    def from_pair(cls, private_key: bytes, public_key: str | bytes) -> SealKey:
        """Load a pair from elsewhere, checking that the halves belong together (by a probe signature)."""
        key = cls(private_key=bytes(private_key), public_key=parse_public_key(public_key))
        if not verify(key.public_key, _PROBE, key.sign(_PROBE)):
            raise SealKeyError("the private and public key are not a pair")
        return key

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def sign(self, message: bytes, *, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
        """DER SM2 signature over SM3(Z_A || message)."""
        try:
            return bytes(gmssl_pyx.sm2_sign(self.private_key, self.public_key[1:], bytes(message), user_id))
        except gmssl_pyx.GmsslInnerError as exc:
            raise SealKeyError(f"SM2 signing failed: {exc}") from None


def generate_key() -> SealKey:
    """Shorthand for ``SealKey.generate()``."""
    return SealKey.generate()


def sign(key: SealKey, message: bytes, *, user_id: bytes = SM2_DEFAULT_USER_ID) -> bytes:
    """DER SM2 signature of ``message`` (hashed with SM3 and the signer's Z_A) by ``key``."""
    return key.sign(message, user_id=user_id)


def verify(public_key: str | bytes, message: bytes, signature: bytes, *, user_id: bytes = SM2_DEFAULT_USER_ID) -> bool:
    """Whether ``signature`` (DER r, s) is ``public_key``'s SM2 signature of ``message``; never raises on junk."""
    try:
        xy = parse_public_key(public_key)[1:]
    except SealKeyError:
        return False
    if not signature or len(signature) > 80:  # DER of two 256-bit integers is at most 72 bytes
        return False
    try:
        return bool(gmssl_pyx.sm2_verify(xy, bytes(message), bytes(signature), user_id))
    except gmssl_pyx.GmsslInnerError:
        return False


# ---------------------------------------------------------------- keystore


def _aad(public_key: bytes) -> bytes:
    return f"{KEYSTORE_VERSION}:{public_key.hex()}".encode()


def encrypt_private_key(key: SealKey, password: str | bytes, *, scrypt_n: int = SCRYPT_N) -> str:
    """The key as a JSON keystore text (scrypt + AES-256-GCM); the public key stays readable in it."""
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1) or scrypt_n > SCRYPT_N_MAX:
        raise ValueError(f"scrypt_n must be a power of two ≤ {SCRYPT_N_MAX}")
    secret = password.encode() if isinstance(password, str) else bytes(password)
    salt = secrets.token_bytes(16)
    derived = scrypt(secret, salt, 32, N=scrypt_n, r=8, p=1)  # type: ignore[arg-type]
    assert isinstance(derived, bytes)
    cipher = AES.new(derived, AES.MODE_GCM, nonce=secrets.token_bytes(12))
    cipher.update(_aad(key.public_key))
    ciphertext, tag = cipher.encrypt_and_digest(key.private_key)
    blob = {
        "version": KEYSTORE_VERSION,
        "curve": "sm2p256v1",
        "public_key": key.public_key_hex,
        "crypto": {
            "kdf": "scrypt",
            "kdfparams": {"n": scrypt_n, "r": 8, "p": 1, "dklen": 32, "salt": salt.hex()},
            "cipher": "aes-256-gcm",
            "nonce": cipher.nonce.hex(),
            "ciphertext": ciphertext.hex(),
            "tag": tag.hex(),
        },
    }
    return json.dumps(blob, indent=2)


def decrypt_private_key(blob: str | bytes | dict[str, Any], password: str | bytes) -> SealKey:
    """The key back from ``encrypt_private_key``'s text; SealKeyError for a wrong password or a bad blob."""
    try:
        data = json.loads(blob) if isinstance(blob, str | bytes) else blob
        if data["version"] != KEYSTORE_VERSION or data["curve"] != "sm2p256v1":
            raise SealKeyError(f"not a {KEYSTORE_VERSION} keystore")
        crypto = data["crypto"]
        params = crypto["kdfparams"]
        if crypto["kdf"] != "scrypt" or crypto["cipher"] != "aes-256-gcm":
            raise SealKeyError("keystore must use scrypt and aes-256-gcm")
        n, r, p, dklen = int(params["n"]), int(params["r"]), int(params["p"]), int(params["dklen"])
        if not (2 <= n <= SCRYPT_N_MAX and n & (n - 1) == 0 and r == 8 and p == 1 and dklen == 32):
            raise SealKeyError("keystore scrypt parameters are out of range")
        public_key = parse_public_key(data["public_key"])
        salt = bytes.fromhex(params["salt"])
        nonce = bytes.fromhex(crypto["nonce"])
        ciphertext = bytes.fromhex(crypto["ciphertext"])
        tag = bytes.fromhex(crypto["tag"])
    except SealKeyError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SealKeyError(f"not a readable SM2 keystore: {exc}") from None
    secret = password.encode() if isinstance(password, str) else bytes(password)
    derived = scrypt(secret, salt, 32, N=n, r=8, p=1)  # type: ignore[arg-type]
    assert isinstance(derived, bytes)
    cipher = AES.new(derived, AES.MODE_GCM, nonce=nonce)
    cipher.update(_aad(public_key))
    try:
        private = cipher.decrypt_and_verify(ciphertext, tag)
    except ValueError:
        raise SealKeyError("wrong password, or the keystore was altered") from None
    return SealKey.from_pair(private, public_key)
