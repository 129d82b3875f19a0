"""/v1/embeddings <-> batchEmbedContents."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from gateway.contracts.errors import APIError
from gateway.contracts.openai import EMBEDDING_REQUEST_DECODER, EmbeddingRequest
from tests.workers.providers.gemini.conftest import as_json, fixture_bytes
from workers.providers.base import ConversionError, ReplyContext, UpstreamError
from workers.providers.embedding_format import decode_base64
from workers.providers.gemini.embed import to_batch_embed_request, to_embed_result, unit_length


def embedding_request(**body: Any) -> EmbeddingRequest:
    return EMBEDDING_REQUEST_DECODER.decode(json.dumps({"model": "embed-public", **body}))


def test_each_input_is_one_request_in_order() -> None:
    batch = to_batch_embed_request(
        embedding_request(input=["first", "second"], dimensions=256), "gemini-embedding-001"
    )
    assert as_json(batch) == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "first"}]},
                "outputDimensionality": 256,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "second"}]},
                "outputDimensionality": 256,
            },
        ]
    }


def test_a_single_string_is_one_request_without_dimensions() -> None:
    batch = to_batch_embed_request(embedding_request(input="hello"), "text-embedding-004")
    assert as_json(batch) == {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello"}]}}
        ]
    }


@pytest.mark.parametrize("tokens", [[1212, 318], [[1212, 318], [257]]])
def test_token_inputs_are_refused_naming_input(tokens: Any) -> None:
    with pytest.raises(ConversionError) as info:
        to_batch_embed_request(embedding_request(input=tokens), "m")
    assert info.value.error.param == "input"


def test_more_than_a_batch_is_refused() -> None:
    with pytest.raises(ConversionError) as info:
        to_batch_embed_request(embedding_request(input=["x"] * 101), "m")
    assert info.value.error.param == "input"
    assert (
        info.value.error.message == "'input' has 101 items; Gemini embeds at most 100 per request."
    )


def test_empty_string_input_is_refused() -> None:
    with pytest.raises(APIError) as info:
        to_batch_embed_request(embedding_request(input=["ok", ""]), "m")
    assert info.value.error.param == "input[1]"


def test_vectors_come_back_in_order_with_estimated_usage(ctx: ReplyContext) -> None:
    req = embedding_request(input=["a b c d", "efgh"], encoding_format="float")
    result = to_embed_result(fixture_bytes("batch_embed_contents.json"), req, ctx)
    assert as_json(result.body) == {
        "data": [
            {"index": 0, "embedding": [0.6, 0.0, 0.8], "object": "embedding"},
            {"index": 1, "embedding": [-0.0028, 0.0171, -0.0051], "object": "embedding"},
        ],
        "model": "gemini-public",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
        "object": "list",
    }
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)
    assert result.estimated is True


def test_reported_usage_is_not_estimated(ctx: ReplyContext) -> None:
    body = b'{"embeddings": [{"values": [1.0, 0.0]}], "usageMetadata": {"promptTokenCount": 11}}'
    result = to_embed_result(body, embedding_request(input="hi"), ctx)
    assert (result.usage.prompt_tokens, result.estimated) == (11, False)


def test_base64_output_is_little_endian_float32(ctx: ReplyContext) -> None:
    req = embedding_request(input=["a", "b"], encoding_format="base64")
    body = as_json(to_embed_result(fixture_bytes("batch_embed_contents.json"), req, ctx).body)
    assert body["data"][0]["embedding"] == "mpkZPwAAAADNzEw/"
    assert decode_base64(body["data"][0]["embedding"]) == pytest.approx([0.6, 0.0, 0.8])


def test_reduced_dimensions_are_scaled_to_unit_length(ctx: ReplyContext) -> None:
    body = b'{"embeddings": [{"values": [3.0, 4.0]}]}'
    result = to_embed_result(body, embedding_request(input="x", dimensions=2), ctx)
    assert as_json(result.body)["data"][0]["embedding"] == [0.6, 0.8]


def test_unit_length_keeps_zero_vectors() -> None:
    assert unit_length([0.0, 0.0]) == [0.0, 0.0]
    assert math.isclose(math.fsum(v * v for v in unit_length([1.0, 2.0, 2.0])), 1.0)


def test_vector_count_mismatch_is_a_502(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError) as info:
        to_embed_result(
            b'{"embeddings": [{"values": [1.0]}]}', embedding_request(input=["a", "b"]), ctx
        )
    assert info.value.status == 502


def test_unreadable_body_is_a_502(ctx: ReplyContext) -> None:
    with pytest.raises(UpstreamError):
        to_embed_result(b"nope", embedding_request(input="a"), ctx)


def test_null_dimensions_sends_no_output_dimensionality() -> None:
    batch = to_batch_embed_request(embedding_request(input=["a"], dimensions=None), "gemini-embedding-001")
    assert as_json(batch) == {
        "requests": [{"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}}]
    }
