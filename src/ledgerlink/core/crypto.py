"""OAuth tokens at rest: MultiFernet over LEDGERLINK_ENCRYPTION_KEYS (newest key first)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _dev_key() -> bytes:
    digest = hashlib.sha256(("ledgerlink-dev-fernet:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(_dev_key())])
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.LEDGERLINK_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    return fernet().decrypt(ciphertext.encode()).decode()


def decrypt_cached(ciphertext: str) -> str:
    """``decrypt`` remembered in this process per (keys, ciphertext) (a store webhook checks its
    source's secret on every delivery: 0.1 ms each). A changed secret is a new ciphertext and changed
    keys a new entry, so nothing goes stale."""
    return _decrypt_with(tuple(settings.LEDGERLINK_ENCRYPTION_KEYS), ciphertext) if ciphertext else ""


@lru_cache(maxsize=256)
def _decrypt_with(keys: tuple[str, ...], ciphertext: str) -> str:
    return _fernet(keys).decrypt(ciphertext.encode()).decode()


def rotate(ciphertext: str) -> str:
    """Re-encrypt under the newest key."""
    if not ciphertext:
        return ""
    return fernet().rotate(ciphertext.encode()).decode()
