"""Scrubbing secrets out of text that may echo them (issue 12, section 3).

An upstream, or a proxy in front of it, may echo our request back in an error message:
its `Authorization: Bearer <provider key>`, `x-api-key`, `x-goog-api-key` or a `?key=`
query. Every upstream-derived text passes through a `Redactor` before it leaves a worker
(error frames, the `retry-after` value passed on, log lines), so the only place a secret
is ever printed is the demo key banner of `scripts/run`.

Two nets, both cheap on the short texts they see (error messages and log fields):
- the configured provider keys themselves, as whole tokens (also URL-encoded): a key is
  never cut out of a longer word, and a "key" under `MIN_SECRET_CHARS` characters (a
  local server's `ollama`, a one-letter placeholder) is no secret at all: scrubbing it
  would garble every message and log line that happens to contain those letters (issue
  22, item 3), so workers say at start which providers have one instead;
- the shapes a secret travels in, whoever's it is: a `Bearer` token, the value of an
  auth header (`authorization`, `x-api-key`, `x-goog-api-key`, `api-key`, ...) written as
  `name: value`, `"name": "value"` or `name=value`, and `key=`-style query values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

import msgspec

from gateway.contracts.errors import APIError, relayed

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8  # shorter provider keys are placeholders, not secrets (see above)
# A secret is replaced only where it stands as a whole token: not inside a longer run of
# the characters keys are made of.
_TOKEN_CHARS = "A-Za-z0-9_\\-"

# NOTE: a value runs until whitespace, a quote, a JSON/URL delimiter or a backslash
# (the escape of a quote inside JSON-encoded text, which the header form also allows:
# an upstream may quote our request as a JSON string).
_VALUE = r"""[^\s"'<>,;&#\\)\]}]+"""
_PATTERN = re.compile(
    r"(?P<header>\b(?:x-goog-api-key|x-api-key|api-key|proxy-authorization|authorization)"
    r"""(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?(?:(?:bearer|basic|token)\s+)?)""" + _VALUE
    + r"|(?P<bearer>\bbearer\s+)[A-Za-z0-9\-._~+/]{8,}=*"
    + r"|(?P<query>\b(?:key|api_key|apikey|access_token|token)=)" + _VALUE,
    re.IGNORECASE,
)


def _keep_name(match: re.Match[str]) -> str:
    prefix = match.group("header") or match.group("bearer") or match.group("query") or ""
    return prefix + REDACTED


class Redactor:
    """Removes the given secrets, and anything shaped like a credential, from text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        literal: set[str] = set()
        for secret in secrets:
            if secret and len(secret.strip()) >= MIN_SECRET_CHARS:
                literal.add(secret)
                literal.add(quote(secret, safe=""))
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted(literal, key=len, reverse=True)
        alternatives = "|".join(re.escape(secret) for secret in self._secrets)
        self._whole = (re.compile(f"(?<![{_TOKEN_CHARS}])(?:{alternatives})(?![{_TOKEN_CHARS}])")
                       if alternatives else None)

    def text(self, value: str) -> str:
        """`value` with every secret replaced by `[redacted]`."""
        if self._whole is not None and any(secret in value for secret in self._secrets):
            value = self._whole.sub(REDACTED, value)
        return _PATTERN.sub(_keep_name, value)

    def optional(self, value: str | None) -> str | None:
        """`text` for a value that may be absent."""
        return None if value is None else self.text(value)

    def error(self, ex: APIError) -> APIError:
        """The same error with every caller-visible text scrubbed (message, param,
        `retry-after` and any headers passed on). `type` and `code` are the error table's
        names, which clients branch on: never rewritten."""
        inner = ex.error
        scrubbed = relayed(
            ex.status,
            msgspec.structs.replace(inner, message=self.text(inner.message), param=self.optional(inner.param)),
            self.optional(ex.retry_after),
            {name: self.text(value) for name, value in ex.headers.items()},
        )
        return scrubbed
