"""`data:` URLs of image and file parts: media type and base64 payload."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DataUrl:
    """A decoded-enough `data:<media type>;base64,<data>` URL."""

    media_type: str
    data: str  # still base64, as both Anthropic and Gemini want it


def parse_data_url(url: str) -> DataUrl | None:
    """The parts of a base64 data URL; None if `url` is not one (or is malformed)."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep:
        return None
    params = head.split(";")
    if "base64" not in params[1:]:
        return None
    media_type = params[0].strip().lower() or "application/octet-stream"
    if not payload.strip():
        return None  # an empty image or file is malformed, not a part to send
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return DataUrl(media_type=media_type, data=payload)
