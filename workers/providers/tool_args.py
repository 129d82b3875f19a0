"""Tool-call arguments: the JSON string of OpenAI history -> the object upstreams want."""

from __future__ import annotations

from typing import Any

import msgspec

from workers.providers.base import ConversionError

_DECODER = msgspec.json.Decoder(dict[str, Any])


def parse_arguments(arguments: str, param: str) -> dict[str, Any]:
    """The arguments object; a 400 naming `param` when they are not a JSON object.

    An empty string means no arguments (some clients send it for parameterless tools).
    """
    if not arguments.strip():
        return {}
    try:
        return _DECODER.decode(arguments)
    except msgspec.DecodeError as ex:
        raise ConversionError(
            f"'{param}' must be a JSON object encoded as a string: {ex}", param
        ) from ex
