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


def test_unknown_model_404_names_the_models_of_that_kind_the_key_may_use() -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key("*"), "gpt-4", "chat")
    assert ex.value.status == 404 and ex.value.error.code == "model_not_found"
    assert ex.value.error.param == "model"
    message = ex.value.error.message
    assert "'gpt-4' does not exist" in message
    assert "Chat models this key may use: 'gpt-4o' (GET /v1/models lists them)." in message
    assert "emb" not in message  # an embedding model is no use to /v1/chat/completions


def test_unknown_model_404_never_names_models_the_key_may_not_use() -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key("emb"), "missing", "embedding")
    assert "Embedding models this key may use: 'emb' " in ex.value.error.message
    assert "gpt-4o" not in ex.value.error.message
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key("emb"), "missing", "chat")
    assert ex.value.error.message.endswith("This key may not use any chat model.")
    assert "gpt-4o" not in ex.value.error.message and "'emb'" not in ex.value.error.message


def test_hidden_model_404_on_retrieve_names_only_visible_models() -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).get(key("emb"), "gpt-4o")
    assert "Models this key may use: 'emb' (GET /v1/models lists them)." in ex.value.error.message
    assert ex.value.error.message.count("gpt-4o") == 1  # only as the model asked for


def test_404_names_at_most_twenty_models() -> None:
    many = parse("[providers.echo]\nkind = \"echo\"\n" + "".join(
        f"[[models]]\nid = \"m{i:02}\"\nprovider = \"echo\"\n" for i in range(25)
    ))
    with pytest.raises(APIError) as ex:
        Router(many).resolve(key("*"), "missing", "chat")
    message = ex.value.error.message
    assert "'m00', 'm01'" in message and "'m19' and 5 more (GET /v1/models" in message
    assert "'m20'" not in message


def test_wrong_kind_says_which_endpoint_in_plain_english() -> None:
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key("*"), "emb", "chat")
    assert ex.value.error.message == "The model 'emb' is an embedding model; use /v1/embeddings."
    assert ex.value.error.param == "model"
    with pytest.raises(APIError) as ex:
        Router(CONFIG).resolve(key("*"), "gpt-4o", "embedding")
    assert ex.value.error.message == "The model 'gpt-4o' is a chat model; use /v1/chat/completions."


ALIASED = parse("""
[providers.echo]
kind = "echo"
[[models]]
id = "big"
provider = "echo"
aliases = ["claude-opus-4-8", "claude-opus-*"]
[[models]]
id = "small"
provider = "echo"
aliases = ["claude-sonnet-4-6", "claude-haiku-4-5-*", "claude-*"]
""")


@pytest.mark.parametrize(("asked", "served"), [
    ("claude-opus-4-8", "big"), ("claude-opus-4-7", "big"), ("claude-sonnet-4-6", "small"),
    ("claude-haiku-4-5-20251001", "small"), ("claude-anything", "small"), ("big", "big"),
])
def test_aliases_map_exact_ids_then_patterns_in_config_order(asked: str, served: str) -> None:
    assert Router(ALIASED).resolve(key("*"), asked, "chat").id == served


def test_an_alias_is_allowed_by_the_key_pattern_of_the_model_it_names() -> None:
    router = Router(ALIASED)
    assert router.resolve(key("small"), "claude-sonnet-4-6", "chat").id == "small"
    with pytest.raises(APIError) as ex:
        router.resolve(key("small"), "claude-opus-4-8", "chat")
    assert ex.value.status == 403


def test_an_unmatched_id_is_still_404() -> None:
    with pytest.raises(APIError) as ex:
        Router(ALIASED).resolve(key("*"), "gpt-4o", "chat")
    assert ex.value.status == 404


WILDCARDS = parse("""
[providers.a]
kind = "openai"
base_url = "http://a"
[[models]]
id = "claude-sonnet-4-6"
provider = "a"
upstream = "claude-sonnet-4-6-20261101"
price = { input = 3.0, output = 15.0 }
[[models]]
id = "claude-code-route"
provider = "a"
aliases = ["claude-opus-4-8", "claude-opus-*"]
price = { input = 5.0, output = 25.0 }
[[models]]
id = "claude-*"
provider = "a"
price = { input = 1.0, output = 2.0 }
max_output_tokens = 32000
[[models]]
id = "claude-s*"
provider = "a"
price = { input = 9.0, output = 9.0 }
[[models]]
id = "gpt-*"
provider = "a"
""")


@pytest.mark.parametrize(("asked", "served", "upstream"), [
    ("claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-6-20261101"),  # exact id first
    ("claude-opus-4-8", "claude-code-route", "claude-code-route"),  # then an exact alias
    ("claude-opus-5", "claude-code-route", "claude-code-route"),  # then a glob alias
    ("claude-sonnet-4-7-new", "claude-sonnet-4-7-new", "claude-sonnet-4-7-new"),  # then wildcards, in order
])
def test_exact_ids_then_aliases_then_wildcard_entries_serving_the_id_as_asked(
        asked: str, served: str, upstream: str) -> None:
    model = Router(WILDCARDS).resolve(key("*"), asked, "chat")
    assert (model.id, model.routes()[0].upstream) == (served, upstream)
    if served == asked == "claude-sonnet-4-7-new":
        # The first matching entry (`claude-*`, not `claude-s*`): its price and limit, and the
        # model rules of the concrete id (Claude 4.x: no temperature with top_p).
        assert model.price is not None and (model.price.input, model.max_output_tokens) == (1.0, 32000)
        assert not model.options(upstream).rules.temperature_with_top_p


def test_the_allow_list_applies_to_the_id_asked_of_a_wildcard_and_the_configured_id_of_an_alias() -> None:
    router = Router(WILDCARDS)
    assert router.resolve(key("claude-sonnet-4-7*"), "claude-sonnet-4-7-new", "chat").id == "claude-sonnet-4-7-new"
    with pytest.raises(APIError) as ex:
        router.resolve(key("claude-sonnet-4-7*"), "claude-haiku-5", "chat")
    assert (ex.value.status, ex.value.error.code) == (403, "model_not_allowed")
    with pytest.raises(APIError) as alias:
        router.resolve(key("claude-opus-*"), "claude-opus-4-8", "chat")  # the alias's model is claude-code-route
    assert alias.value.status == 403
    assert router.resolve(key("claude-code-route"), "claude-opus-4-8", "chat").id == "claude-code-route"


def test_an_id_of_a_wildcard_entry_without_a_price_is_refused_naming_it() -> None:
    with pytest.raises(APIError) as ex:
        Router(WILDCARDS).resolve(key("*"), "gpt-6", "chat")
    assert (ex.value.status, ex.value.error.code, ex.value.error.param) == (400, "model_unpriced", "model")
    assert "'gpt-6'" in ex.value.error.message and "'gpt-*'" in ex.value.error.message


def test_the_metrics_label_is_the_configured_entry_an_alias_model_or_a_wildcard_pattern() -> None:
    router = Router(WILDCARDS)
    labels = [router.entry_id(router.resolve(key("*"), asked, "chat"))
              for asked in ("claude-sonnet-4-6", "claude-opus-5", "claude-sonnet-4-7-new", "claude-sx")]
    assert labels == ["claude-sonnet-4-6", "claude-code-route", "claude-*", "claude-*"]


def test_models_lists_concrete_ids_and_wildcard_patterns_and_a_pattern_is_not_served_as_an_id() -> None:
    router = Router(WILDCARDS)
    assert [m.id for m in router.visible_to(key("*"))] == [
        "claude-sonnet-4-6", "claude-code-route", "claude-*", "claude-s*", "gpt-*"]
    with pytest.raises(APIError) as ex:
        router.resolve(key("*"), "claude-x*", "chat")
    assert ex.value.status == 404
    # Each listed id can be retrieved, the pattern as itself, a concrete id as served.
    assert (router.get(key("*"), "claude-*").id, router.get(key("*"), "claude-new").id) == ("claude-*", "claude-new")
