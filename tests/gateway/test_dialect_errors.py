"""Issue 21: the retry semantics of errors, in every dialect's shape.

`insufficient_quota` (429) carries `x-should-retry: false` (the SDKs and Claude Code
retry a 429 up to 10 times otherwise); an overloaded Anthropic upstream stays Anthropic's
529 `overloaded_error` on /v1/messages (Claude Code's overload handling keys on it) and is
a retryable 502 elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.contracts.errors import APIError, insufficient_quota, upstream_overloaded
from gateway.dialects import DialectSpec, ShapedError, shaped_errors
from gateway.dialects.table import DIALECTS
from gateway.errors import headers_of


def shaped(spec: DialectSpec[Any], ex: APIError) -> APIError:
    with pytest.raises(APIError) as caught, shaped_errors(spec.error_shape, spec.error_status):
        raise ex
    return caught.value


@pytest.mark.parametrize("spec", DIALECTS, ids=[d.name for d in DIALECTS])
def test_a_spent_balance_is_never_retried_in_any_dialect(spec: DialectSpec[Any]) -> None:
    error = shaped(spec, insufficient_quota("The key's balance is used up."))
    assert error.status == 429 and headers_of(error)["x-should-retry"] == "false"
    body = json.loads(error.body())
    if spec.name == "messages":
        assert body == {"type": "error", "error": {"type": "billing_error", "message": "The key's balance is used up."}}
    else:
        assert body["error"]["code"] == "insufficient_quota"


@pytest.mark.parametrize("spec", DIALECTS, ids=[d.name for d in DIALECTS])
def test_an_overloaded_upstream_is_529_on_messages_and_a_502_elsewhere_both_retryable(spec: DialectSpec[Any]) -> None:
    error = shaped(spec, upstream_overloaded("anthropic upstream error (529): overloaded_error: Overloaded", "3"))
    assert headers_of(error)["x-should-retry"] == "true" and headers_of(error)["retry-after"] == "3"
    if spec.name == "messages":
        assert isinstance(error, ShapedError) and error.status == 529
        assert json.loads(error.body())["error"]["type"] == "overloaded_error"
    else:
        assert error.status == 502 and json.loads(error.body())["error"]["code"] == "upstream_overloaded"
