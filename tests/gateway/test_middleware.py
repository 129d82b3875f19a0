"""Request ids: unique, subject-safe, distinct per process."""

from __future__ import annotations

import os
import re

import pytest

from gateway.middleware import _RequestIds


def test_request_ids_are_unique_and_safe_as_nats_subject_tokens() -> None:
    ids = _RequestIds()
    made = [ids() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"req_[0-9a-f]{28}", i) for i in made)


def test_a_new_process_gets_a_new_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _RequestIds()
    first = ids()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    after_fork = ids()
    assert first[:20] != after_fork[:20]
    assert after_fork.endswith("000000000001")
