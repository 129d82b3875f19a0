"""Bounded body reads and typed decoding of request bodies.

What reaches the upstream is what was admitted: OpenAI-kind routes forward the caller's
bytes, so a body whose top level names a key twice (`{"model":"nope","model":"echo"}`,
admitted as the last value, read by some upstreams as the first) is refused with a 400
naming the key (issue 12, section 4).
"""

from __future__ import annotations

import re
from typing import Protocol, TypeVar

import falcon
import msgspec
from gunicorn.http.errors import NoMoreData, ParseException

from gateway.connection import BodyTimeoutError, TimedSocket
from gateway.contracts.errors import (
    bad_http_request,
    from_decode_error,
    from_validation_error,
    invalid_request,
    request_timeout,
    request_too_large,
)

T = TypeVar("T")

# NOTE: msgspec counts nesting against Python's recursion limit (1,000 frames, less the
# frames below the decoder), so JSON nested about 950 levels deep, in any field, known or
# not, cannot be decoded by any of our processes: a 400, never a 500 (issue 12, section
# 5). An explicit scan for a lower limit would cost a pass over every body in Python;
# what we promise (README, tests) is that up to NESTING_ACCEPTED levels always pass.
NESTING_ACCEPTED = 512

_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_KEY = msgspec.json.Decoder(str)
_WS = rb"[ \t\n\r]*"
_STRING = rb'"([^"\\]*(?:\\.[^"\\]*)*)"'
_FIRST_MEMBER = re.compile(_WS + rb"\{" + _WS + _STRING + _WS + b":" + _WS)
_NEXT_MEMBER = re.compile(_WS + b"," + _WS + _STRING + _WS + b":" + _WS)
_VALUE_END = re.compile(_WS + rb"[,}]")
_DELIMITERS = (b",", b"}")
READ_PIECE = 64 * 1024


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes: 413 from Content-Length before reading, or as
    soon as a chunked body passes the limit (never more than `limit` + 1 bytes read)."""
    length = req.content_length
    if length is not None and length > limit:
        _abandon(req)
        raise request_too_large(limit)
    try:
        if length is None and "chunked" in (req.get_header("transfer-encoding") or "").lower():
            data = _read_up_to(req.stream, limit + 1)  # NOTE: gunicorn decodes the chunks
        else:
            data = req.bounded_stream.read(limit + 1)
    except BodyTimeoutError as ex:  # NOTE: raised by gateway/connection.py's read deadline
        raise request_timeout(str(ex)) from ex
    except (ParseException, NoMoreData) as ex:  # a malformed chunk, or a body cut short
        _abandon(req)
        raise bad_http_request(f"Bad request: the body is malformed or ended early ({ex}).") from ex
    if len(data) > limit:
        _abandon(req)
        raise request_too_large(limit)
    if not data:
        raise invalid_request("The request body is empty; a JSON object is required.", None, "invalid_json")
    return data


def _abandon(req: falcon.Request) -> None:
    """Close the connection after the answer instead of draining a body we refused."""
    sock = req.env.get("gunicorn.socket")
    if isinstance(sock, TimedSocket):
        sock.abandon()


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_up_to(stream: _Readable, size: int) -> bytes:
    """Up to `size` bytes of a stream whose length is not known in advance."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = stream.read(min(left, READ_PIECE))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def decode(decoder: msgspec.json.Decoder[T], raw: bytes) -> T:
    """Decode with a typed decoder; 400 naming the param on any failure, 400 naming a
    top-level key that occurs twice, 400 for nesting too deep to decode."""
    try:
        body = decoder.decode(raw)
        duplicate = duplicate_top_level_key(raw)
    except msgspec.ValidationError as ex:  # NOTE: a subclass of DecodeError: catch it first
        raise from_validation_error(ex) from ex
    except msgspec.DecodeError as ex:
        raise from_decode_error(ex) from ex
    except RecursionError as ex:
        raise invalid_request(
            "The request body is nested too deeply for the JSON decoder (about 950 levels); "
            f"keep any field's nesting within {NESTING_ACCEPTED} levels."
        ) from ex
    if duplicate is not None:
        shown = duplicate if len(duplicate) <= 100 else duplicate[:100] + "..."
        raise invalid_request(
            f"The key '{shown}' appears more than once at the top level of the request body; "
            "send each parameter once.",
            shown,
        )
    return body


def _key(spelled: bytes) -> str:
    """A key as the caller spelled it (between the quotes) -> its text."""
    if b"\\" in spelled:
        return _KEY.decode(b'"' + spelled + b'"')
    return spelled.decode()


def duplicate_top_level_key(raw: bytes) -> str | None:
    """The first key that occurs twice at the top level of the JSON object `raw`, or None.

    PERF: msgspec decodes the top level into key -> Raw value (a C pass that skips
    nested values; a duplicate keeps its last value), then one walk over the top-level
    members only: each key must hold, at its own position, exactly the bytes of its
    decoded (last) value, followed by `,` or `}`. A member where it does not is an earlier
    occurrence of a key that occurs again, and a key met twice is one too. Nested values
    are compared with one memcmp each, never scanned in Python. `raw` must be valid JSON.
    """
    members = _MEMBERS.decode(raw)
    seen: set[str] = set()
    pos = 0
    pattern = _FIRST_MEMBER
    while (match := pattern.match(raw, pos)) is not None:
        key = _key(match.group(1))
        value = members.get(key)
        pos = match.end()
        if value is None or key in seen or not raw.startswith(value, pos):
            return key
        pos += len(value)
        if raw[pos : pos + 1] not in _DELIMITERS and _VALUE_END.match(raw, pos) is None:
            return key  # only the start of a longer value (a number) matched
        seen.add(key)
        pattern = _NEXT_MEMBER
    return None
