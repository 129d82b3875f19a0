"""Pricing: exact integer micro-dollars from the configured prices, never floats."""

from __future__ import annotations

import json
from decimal import Decimal

from gateway.contracts.config import ModelConfig, Price
from gateway.runtime.pricing import Pricer, UnitPrices, cost_micro_usd, exact, format_price, unit_prices
from tests.ledger.conftest import MODELS, quiet, usage


def prices(input: str, cached: str, output: str, written: str | None = None) -> UnitPrices:
    return UnitPrices(input=Decimal(input), cached_input=Decimal(cached), output=Decimal(output),
                      cache_write_input=Decimal(written or input))


def test_uncached_cached_and_completion_tokens_each_get_their_price() -> None:
    # 8 uncached x 2.5 + 3 cached x 1.25 + 4 completion x 10 = 20 + 3.75 + 40 = 63.75 micro-USD
    cost = Pricer(MODELS, quiet()).cost(usage("r1", model="gpt-a", prompt_tokens=11, cached_tokens=3,
                                              completion_tokens=4))
    assert cost.micro_usd == 64
    assert cost.priced
    assert cost.prices == prices("2.5", "1.25", "10.0")


def test_cached_tokens_are_priced_as_input_when_the_model_sets_no_cached_price() -> None:
    # gpt-b: input 0.15, output 0.60, no cached_input -> 11 x 0.15 + 4 x 0.6 = 1.65 + 2.4 = 4.05
    cost = Pricer(MODELS, quiet()).cost(usage("r1", model="gpt-b", prompt_tokens=11, cached_tokens=3,
                                              completion_tokens=4))
    assert cost.micro_usd == 4
    assert cost.prices is not None and cost.prices.cached_input == Decimal("0.15")


def test_a_million_tokens_cost_exactly_the_configured_price() -> None:
    p = unit_prices(Price(input=0.15, output=0.6, cached_input=0.075))
    assert cost_micro_usd(1_000_000, 0, 0, p) == 150_000  # $0.15
    assert cost_micro_usd(1_000_000, 1_000_000, 0, p) == 75_000
    assert cost_micro_usd(0, 0, 1_000_000, p) == 600_000
    assert cost_micro_usd(10**12, 0, 10**12, p) == 750_000_000_000  # no float precision loss at scale


def test_config_floats_are_read_as_the_decimals_the_operator_wrote() -> None:
    assert exact(0.1) == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert exact(0.075) == Decimal("0.075")
    assert exact(1e-7) == Decimal("1E-7")


def test_rounding_is_once_half_even_on_the_exact_sum() -> None:
    # float arithmetic gets these wrong: 90 x 0.35 = 31.499999999999996, 150 x 0.07 = 10.500000000000002
    assert cost_micro_usd(90, 0, 0, prices("0.35", "0.35", "0")) == 32  # exact 31.5 -> even 32
    assert cost_micro_usd(150, 0, 0, prices("0.07", "0.07", "0")) == 10  # exact 10.5 -> even 10
    # three parts of 0.5 each are summed before rounding: 1.5 -> 2, never 0 + 0 + 0
    assert cost_micro_usd(2, 1, 1, prices("0.5", "0.5", "0.5")) == 2


def test_unknown_model_costs_nothing_and_logs_a_warning() -> None:
    log = quiet()
    cost = Pricer(MODELS, log).cost(usage("req-9", key_id="key_z", model="no-such-model"))
    assert cost.micro_usd == 0 and not cost.priced and cost.prices is None
    line = json.loads(log.stream.getvalue())  # type: ignore[union-attr]
    assert line["level"] == "warning" and line["event"] == "unpriced_usage"
    assert line["request_id"] == "req-9" and line["model"] == "no-such-model" and line["key_id"] == "key_z"


def test_cached_tokens_beyond_the_prompt_are_never_billed_twice() -> None:
    log = quiet()
    cost = Pricer(MODELS, log).cost(usage("r1", model="gpt-a", prompt_tokens=10, cached_tokens=50,
                                          completion_tokens=0))
    assert cost.micro_usd == 12  # 10 cached x 1.25 = 12.5 -> 12: capped at the prompt
    assert "usage_inconsistent" in log.stream.getvalue()  # type: ignore[union-attr]


def test_free_model_costs_zero_but_is_priced() -> None:
    cost = Pricer(MODELS, quiet()).cost(usage("r1", model="free"))
    assert cost.micro_usd == 0 and cost.priced


def test_prices_follow_the_config_they_were_built_from() -> None:
    event = usage("r1", model="m", prompt_tokens=1000, cached_tokens=0, completion_tokens=0)
    old = Pricer([ModelConfig(id="m", provider="p", price=Price(input=1.0))], quiet())
    new = Pricer([ModelConfig(id="m", provider="p", price=Price(input=3.0))], quiet())
    assert (old.cost(event).micro_usd, new.cost(event).micro_usd) == (1000, 3000)


def test_stored_unit_prices_are_plain_decimal_strings() -> None:
    assert format_price(Decimal("10.0")) == "10"
    assert format_price(Decimal("1E-7")) == "0.0000001"
    assert format_price(Decimal("0.0")) == "0"


def test_cache_writes_are_priced_at_their_own_rate_and_never_twice() -> None:
    # 1000 prompt tokens: 600 read from the cache, 300 written to it, 100 plain
    unit = prices("3", "0.3", "15", written="3.75")
    assert cost_micro_usd(1000, 600, 10, unit, written=300) == 300 + 180 + 1125 + 150
    # without a cache-write price the writes cost plain input
    assert cost_micro_usd(1000, 600, 10, prices("3", "0.3", "15"), written=300) == 1200 + 180 + 150
    # writes beyond what the prompt holds are capped
    assert cost_micro_usd(100, 50, 0, unit, written=500) == 202  # 15 + 187.5, half-even


def test_config_cache_write_price_reaches_the_unit_prices() -> None:
    from gateway.contracts.config import Price
    from gateway.runtime.pricing import unit_prices

    assert unit_prices(Price(input=3.0, output=15.0, cache_write_input=3.75)).cache_write_input == Decimal("3.75")
    assert unit_prices(Price(input=3.0, output=15.0)).cache_write_input == Decimal("3.0")


def test_a_credit_hold_is_the_bills_formula_at_its_worst_rounded_up() -> None:
    from gateway.runtime.pricing import worst_case_micro_usd

    # the gateway's hold (gateway/budget.py) and the ledger's bill share one formula
    unit = prices("0.35", "0.035", "1")
    assert worst_case_micro_usd(90, 0, unit) == 32  # exact 31.5: a hold rounds up
    assert worst_case_micro_usd(150, 0, prices("0.07", "0.07", "0")) == 11  # 10.5 up, the bill's is 10
    assert worst_case_micro_usd(10, 3, unit) >= cost_micro_usd(10, 9, 3, unit)  # cached reads cost less
    # a prompt may all be written to the cache: the dearer price holds
    written = prices("3", "0.3", "15", written="3.75")
    assert worst_case_micro_usd(1000, 10, written) == 3750 + 150
    assert worst_case_micro_usd(1000, 10, written) == cost_micro_usd(1000, 0, 10, written, written=1000)


def test_the_pricer_holds_a_model_at_its_configured_prices() -> None:
    model = ModelConfig(id="m", provider="p", price=Price(input=0.15, output=0.6))
    assert Pricer([model], quiet()).worst_case(model, 1_000_000, 1_000_000) == 750_000
    assert Pricer([], quiet()).worst_case(model, 3, 1) == 2  # 0.45 + 0.6, rounded up


def test_an_id_served_by_a_wildcard_entry_is_priced_from_the_entry_exact_ids_first() -> None:
    # Issue 21: `claude-*` serves claude-sonnet-4-7-new; the ledger prices that concrete id.
    models = [ModelConfig(id="claude-sonnet-4-6", provider="p", price=Price(input=3.0, output=15.0)),
              ModelConfig(id="claude-*", provider="p", price=Price(input=1.0, output=2.0)),
              ModelConfig(id="claude-s*", provider="p", price=Price(input=9.0, output=9.0)),
              ModelConfig(id="gpt-*", provider="p")]
    pricer = Pricer(models, quiet())
    wild = pricer.cost(usage("r1", model="claude-sonnet-4-7-new", prompt_tokens=1000, completion_tokens=100))
    assert (wild.micro_usd, wild.priced) == (1000 + 200, True)
    exact_id = pricer.cost(usage("r2", model="claude-sonnet-4-6", prompt_tokens=1000, completion_tokens=100))
    assert exact_id.micro_usd == 3000 + 1500
    # A wildcard entry with no price prices nothing: unpriced (and logged), never a $0 "priced" row.
    unpriced = pricer.cost(usage("r3", model="gpt-6", prompt_tokens=1000, completion_tokens=100))
    assert (unpriced.micro_usd, unpriced.priced) == (0, False)
    # A credit hold for it prices the same way.
    assert pricer.worst_case(models[1].serving("claude-sonnet-4-7-new"), 1000, 100) == 1000 + 200
    # Its metrics label: the entry, so made-up ids do not grow the series.
    assert [pricer.entry_id(m) for m in ("claude-sonnet-4-7-new", "claude-sonnet-4-6", "gpt-6", "other")] == [
        "claude-*", "claude-sonnet-4-6", "gpt-*", "other"]
