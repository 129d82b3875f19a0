"""Provider kinds, loaded by name: `kind = "x"` in the config loads `workers.providers.x`.

This module names no provider; adding one is adding a module that exports `PROVIDER`.
"""

from __future__ import annotations

import importlib
import re

from workers.providers.base import Provider

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownProviderKindError(Exception):
    """No provider module exists for a configured kind."""


def load(kind: str) -> Provider:
    """The provider for `kind`; raises UnknownProviderKindError if there is none."""
    if not _KIND.match(kind) or kind in ("base",):
        raise UnknownProviderKindError(f"invalid provider kind '{kind}'")
    try:
        module = importlib.import_module(f"workers.providers.{kind}")
    except ModuleNotFoundError as ex:
        if ex.name and ex.name.startswith(f"workers.providers.{kind}"):
            raise UnknownProviderKindError(f"no provider module for kind '{kind}'") from ex
        raise
    provider = getattr(module, "PROVIDER", None)
    if provider is None:
        raise UnknownProviderKindError(f"module for kind '{kind}' exports no PROVIDER")
    return provider  # type: ignore[no-any-return]
