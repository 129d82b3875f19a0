"""Model routing and key patterns."""

from __future__ import annotations

import pytest

from gateway.contracts.bus import KeyRecord
from gateway.contracts.config import parse
from gateway.contracts.errors import APIError
from gateway.routing import Router, key_allows

CONFIG = parse("""
[providers.echo]
kind = "echo"
[[models]]
id = "gpt-4o"
provider = "echo"
[[models]]
id = "emb"
provider = "echo"
kind = "embedding"
""")


def key(*patterns: str) -> KeyRecord:
    return KeyRecord(id="k", name="k", hash="h", models=list(patterns))


def test_patterns() -> None:
    assert key_allows(key("*"), "anything")
    assert key_allows(key("gpt-*"), "gpt-4o") and not key_allows(key("gpt-*"), "claude")
    assert key_allows(key("emb", "x"), "emb") and not key_allows(key("emb"), "emb2")


@pytest.mark.parametrize(("patterns", "model", "kind", "status"), [
    (("*",), "missing", "chat", 404), (("emb",), "gpt-4o", "chat", 403), (("*",), "emb", "chat", 400),
])
def test_resolve_errors(patterns: tuple[str, ...], model: str, kind: str, status: int) -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key(*patterns), model, kind)
    assert ex.value.status == status


def test_hidden_model_is_404_on_retrieve() -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).get(key("emb"), "gpt-4o")
    assert ex.value.status == 404
    assert [m.id for m in Router(CONFIG).visible_to(key("gpt*"))] == ["gpt-4o"]
