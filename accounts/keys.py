"""The key pair the server signs its own API tokens with (RS256).

The private key comes from ``JOBBERGATE_TOKEN_SIGNING_KEY_FILE``; when that file does not exist it is generated
once, mode 0600. Tokens name the key by ``kid`` (its RFC 7638 thumbprint) like an OIDC provider's JWKS does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from jobbergate.env import read_or_create_secret_file


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    public_key: rsa.RSAPublicKey
    kid: str


def _generate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@lru_cache(maxsize=4)
def _load(path: str) -> SigningKey:
    from pathlib import Path

    pem = read_or_create_secret_file(Path(path), _generate_pem)
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} must hold an RSA private key")
    public_key = private_key.public_key()
    return SigningKey(private_key=private_key, public_key=public_key, kid=_thumbprint(public_key))


def signing_key() -> SigningKey:
    """The server's token signing key, loaded once per process."""
    return _load(str(settings.TOKEN_SIGNING_KEY_FILE))
