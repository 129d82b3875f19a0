"""The route table: every inbound dialect the gateway serves (create_app registers them).

A new dialect is one line here and its own module beside these (see gateway/dialects/).
"""

from __future__ import annotations

from typing import Any

from gateway.dialects import DialectSpec
from gateway.dialects.chat import CHAT
from gateway.dialects.embeddings import EMBEDDINGS
from gateway.dialects.messages import MESSAGES
from gateway.dialects.responses import RESPONSES

DIALECTS: tuple[DialectSpec[Any], ...] = (CHAT, EMBEDDINGS, RESPONSES, MESSAGES)
