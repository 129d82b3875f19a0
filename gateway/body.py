"""Bounded body reads and typed decoding of request bodies."""

from __future__ import annotations

from typing import TypeVar

import falcon
import msgspec

from gateway.contracts.errors import (
    from_decode_error,
    from_validation_error,
    invalid_request,
    request_too_large,
)

T = TypeVar("T")


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes: 413 from Content-Length before reading."""
    length = req.content_length
    if length is not None and length > limit:
        raise request_too_large(limit)
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise request_too_large(limit)
    if not data:
        raise invalid_request("The request body is empty; a JSON object is required.", None, "invalid_json")
    return data


def decode(decoder: msgspec.json.Decoder[T], raw: bytes) -> T:
    """Decode with a typed decoder; 400 naming the param on any failure."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as ex:  # NOTE: a subclass of DecodeError: catch it first
        raise from_validation_error(ex) from ex
    except msgspec.DecodeError as ex:
        raise from_decode_error(ex) from ex
