"""Secrets at rest: a model field that stores Fernet ciphertext.

Keys come from PODHUB_ENCRYPTION_KEYS (newest first; older keys still decrypt,
so keys can rotate). Decrypted values are wrapped in `Secret`, whose repr and
str never show the value, so they cannot leak into logs or admin lists.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class Secret:
    """A decrypted secret. `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt secret: wrong PODHUB_ENCRYPTION_KEYS?") from exc


class EncryptedTextField(models.TextField):
    """Stores `Secret` values encrypted; empty string stays empty."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return Secret("") if value == "" else None
        return Secret(decrypt(value))

    def to_python(self, value):
        if value is None or isinstance(value, Secret):
            return value
        return Secret(str(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        plain = value.reveal() if isinstance(value, Secret) else str(value)
        return encrypt(plain) if plain else ""

    def value_to_string(self, obj):
        return "********"
