"""Models listing per key and embeddings end to end."""

from __future__ import annotations

import math

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.harness.stack import Stack
from workers.providers.echo import echo_vector


def test_models_list_shows_only_what_the_key_may_use(stack: Stack) -> None:
    secret = stack.create_key("e2e-gpt-only", models=["gpt-*"])
    client = openai.OpenAI(base_url=stack.base_url, api_key=secret, max_retries=0)
    assert sorted(m.id for m in client.models.list()) == ["gpt-4o-mini", "gpt-patient", "gpt-same", "gpt-test",
                                                          "gpt-with-fallback"]
    model = client.models.retrieve("gpt-test")
    assert (model.id, model.object, model.owned_by) == ("gpt-test", "model", "openai")
    with pytest.raises(openai.NotFoundError) as ex:
        client.models.retrieve("echo")
    assert ex.value.code == "model_not_found"


def test_models_list_with_a_wildcard_key(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"echo", "echo-embed", "gpt-test", "embed-test", "gpt-patient"} <= ids


def test_echo_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    as_float = client.embeddings.create(model="echo-embed", input=["alpha", "beta"], encoding_format="float")
    as_default = client.embeddings.create(model="echo-embed", input=["alpha", "beta"])  # SDK asks for base64
    assert [d.index for d in as_float.data] == [0, 1]
    assert as_float.data[0].embedding == pytest.approx(echo_vector("alpha", 64), abs=1e-12)
    for f, b in zip(as_float.data, as_default.data):
        assert b.embedding == pytest.approx(f.embedding, abs=1e-6)  # float32 round trip
    assert math.isclose(sum(v * v for v in as_float.data[1].embedding), 1.0, rel_tol=1e-9)
    assert as_float.usage.prompt_tokens == 3 and as_float.model == "echo-embed"


def test_echo_embeddings_dimensions_and_token_inputs(client: openai.OpenAI) -> None:
    reply = client.embeddings.create(model="echo-embed", input=[[1, 2, 3], [4, 5]], dimensions=12, encoding_format="float")
    assert [len(d.embedding) for d in reply.data] == [12, 12]
    assert reply.usage.prompt_tokens == 5


def test_openai_embeddings_pass_through(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    reply = client.embeddings.create(model="embed-test", input="hello", dimensions=4)
    sent = fake_openai.requests_to("/embeddings")[-1].json()
    assert sent == {"model": "embed-upstream", "input": "hello", "dimensions": 4, "encoding_format": "base64"}
    assert reply.model == "embed-test"
    assert reply.data[0].embedding == pytest.approx([0.125, 0.126, 0.127, 0.128], abs=1e-6)
    assert reply.usage.prompt_tokens == 4


def test_embedding_model_on_chat_endpoint_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.chat.completions.create(model="echo-embed", messages=[{"role": "user", "content": "x"}])
    assert ex.value.body["param"] == "model"


def test_empty_embedding_input_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ex:
        client.embeddings.create(model="echo-embed", input=[])
    assert ex.value.body["param"] == "input"
