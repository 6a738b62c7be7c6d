"""The store-platform registry: every kind of store PodHub takes orders from, built from
settings.

`settings.PODHUB_STORE_PLATFORMS` lists the platform modules, one line each; each
declares `PLATFORM = <a base.StorePlatform>`. The generic services ask here for
everything a store does (`platform_for(connection)`): no platform is a default or an
exception. Adding one is one new module and one line in that list (docs/architecture.md,
"Adding a store platform: one module, one line"). Mirrors fulfillment/providers/registry.py.
The list is checked when the app starts (IntegrationsConfig.ready): a wrong line stops
PodHub with the reason instead of failing the first order.
"""

from __future__ import annotations

import functools
import importlib

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.platforms.base import StorePlatform


def _paths() -> tuple[str, ...]:
    paths = getattr(settings, "PODHUB_STORE_PLATFORMS", None)
    if not paths:
        raise ImproperlyConfigured("settings.PODHUB_STORE_PLATFORMS lists no store platform "
                                   "module (podhub/settings/base.py has the built-in ones)")
    return tuple(paths)


@functools.lru_cache(maxsize=8)
def _load(paths: tuple[str, ...]) -> dict[str, StorePlatform]:
    found: dict[str, StorePlatform] = {}
    for path in paths:
        try:
            platform = importlib.import_module(path).PLATFORM
        except (ImportError, AttributeError) as exc:
            raise ImproperlyConfigured(
                f"PODHUB_STORE_PLATFORMS: {path!r} is not a store platform module with a "
                f"PLATFORM declaration ({exc})") from exc
        if not isinstance(platform, StorePlatform):
            raise ImproperlyConfigured(f"PODHUB_STORE_PLATFORMS: {path}.PLATFORM is not a "
                                       "integrations.platforms.base.StorePlatform")
        if platform.code in found:
            raise ImproperlyConfigured(
                f"PODHUB_STORE_PLATFORMS: two modules declare {platform.code!r}")
        if not platform.code or len(platform.code) > 16:
            raise ImproperlyConfigured(f"store platform code {platform.code!r} must be 1 "
                                       "to 16 characters")
        found[platform.code] = platform
    return found


def platforms() -> dict[str, StorePlatform]:
    """Every registered platform, by code, in the settings' order."""
    return _load(_paths())


def find(code: str) -> StorePlatform | None:
    """The platform of that code, or None (a manual store, a platform no longer listed)."""
    return platforms().get(code)


def get(code: str) -> StorePlatform:
    platform = find(code)
    if platform is None:
        raise LookupError(f"no store platform {code!r} is registered "
                          "(settings.PODHUB_STORE_PLATFORMS)")
    return platform


def platform_for(connection) -> StorePlatform:
    """The platform a StoreConnection (or a Store) belongs to."""
    return get(connection.platform)


def taking(kind: str) -> list[str]:
    """Codes of the platforms that take this outbox kind."""
    return [code for code, platform in platforms().items() if platform.takes(kind)]


__all__ = ["find", "get", "platform_for", "platforms", "taking"]
