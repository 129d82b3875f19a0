"""Stream messages -> ledger entries: dated from the event, rejects kept, never dropped."""

from __future__ import annotations

import msgspec

from gateway.contracts.bus import CREDIT_SUBJECT, EVENT_ENCODER, USAGE_METERED_SUBJECT, USAGE_SUBJECT, CreditEvent
from ledger.entries import Credit, PricedUsage, Rejected, to_entry, utc_day
from gateway.runtime.pricing import Pricer
from tests.ledger.conftest import DAY, MODELS, NOON, quiet, usage

PRICER = Pricer(MODELS, quiet())
LATER = NOON + 3 * 86_400


def test_usage_is_priced_and_dated_by_when_it_finished() -> None:
    event = usage("r1", started_at=NOON - 86_400, finished_at=NOON)
    entry = to_entry(USAGE_SUBJECT, EVENT_ENCODER.encode(event), 7, LATER, PRICER)
    assert isinstance(entry, PricedUsage)
    assert entry.event == event and entry.day == DAY and entry.seq == 7
    assert entry.cost.micro_usd == 64


def test_a_metered_keys_usage_is_billed_the_same() -> None:
    event = usage("r1", started_at=NOON - 86_400, finished_at=NOON)
    event.metered = True
    entry = to_entry(USAGE_METERED_SUBJECT, EVENT_ENCODER.encode(event), 8, LATER, PRICER)
    assert isinstance(entry, PricedUsage)
    assert entry.event == event and entry.day == DAY and entry.seq == 8 and entry.cost.micro_usd == 64


def test_usage_without_times_is_dated_by_the_stream() -> None:
    event = usage("r1", started_at=0.0, finished_at=0.0)
    entry = to_entry(USAGE_SUBJECT, EVENT_ENCODER.encode(event), 1, LATER, PRICER)
    assert isinstance(entry, PricedUsage) and entry.day == utc_day(LATER) == "2026-03-07"


def test_credit_is_dated_by_when_it_was_given() -> None:
    event = CreditEvent(event_id="c1", key_id="key_a", key_name="alice", amount_micro_usd=10_000, at=NOON)
    entry = to_entry(CREDIT_SUBJECT, EVENT_ENCODER.encode(event), 2, LATER, PRICER)
    assert isinstance(entry, Credit) and entry.event == event and entry.day == DAY


def test_undecodable_message_is_rejected_with_its_bytes() -> None:
    entry = to_entry(USAGE_SUBJECT, b"{not json", 3, LATER, PRICER)
    assert isinstance(entry, Rejected)
    assert entry.seq == 3 and entry.data == b"{not json" and entry.reason.startswith("undecodable")


def test_wrongly_typed_event_is_rejected() -> None:
    data = msgspec.json.encode({"request_id": "r", "key_id": "k", "model": "m", "provider": "p",
                                "prompt_tokens": "many"})
    entry = to_entry(USAGE_SUBJECT, data, 3, LATER, PRICER)
    assert entry == Rejected(seq=3, subject=USAGE_SUBJECT, data=data,
                             reason="undecodable: Expected `int`, got `str` - at `$.prompt_tokens`")


def test_negative_tokens_are_rejected_not_billed_as_a_refund() -> None:
    entry = to_entry(USAGE_SUBJECT, EVENT_ENCODER.encode(usage("r1", completion_tokens=-5)), 4, LATER, PRICER)
    assert isinstance(entry, Rejected) and entry.reason == "negative token count"


def test_event_without_a_key_is_rejected() -> None:
    data = EVENT_ENCODER.encode(usage("r1", key_id=""))
    entry = to_entry(USAGE_SUBJECT, data, 5, LATER, PRICER)
    assert entry == Rejected(seq=5, subject=USAGE_SUBJECT, data=data, reason="missing request_id or key_id")
    for seq, credit in enumerate([CreditEvent(event_id="", key_id="key_a", amount_micro_usd=1),
                                  CreditEvent(event_id="c1", key_id="", amount_micro_usd=1)], start=6):
        data = EVENT_ENCODER.encode(credit)
        assert to_entry(CREDIT_SUBJECT, data, seq, LATER, PRICER) == Rejected(
            seq=seq, subject=CREDIT_SUBJECT, data=data, reason="missing event_id or key_id")


def test_unknown_subject_is_rejected() -> None:
    entry = to_entry("usage.something_new", b"{}", 8, LATER, PRICER)
    assert isinstance(entry, Rejected) and entry.reason == "unknown subject"
