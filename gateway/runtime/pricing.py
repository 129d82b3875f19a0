"""Cost of one UsageEvent in integer micro-dollars, from the configured prices.

Prices are USD per 1M tokens, so `tokens x price` is already in micro-dollars: a token
at $2.50 / 1M costs 2.5 micro-dollars. Each part is computed exactly with `Decimal`
(the config's floats are read through their shortest repr, so `0.15` is exactly 0.15,
never 0.1499999...), the parts are summed, and the sum is rounded once, half-even, to
an integer: no float ever touches money and rounding is unbiased over many events.

Billable parts (OpenAI's convention, which every provider converter follows):
`cached_tokens` is the part of `prompt_tokens` served from the prompt cache, so
uncached prompt = prompt - cached - cache writes is priced as `input`, cached as
`cached_input`, cache writes (`cache_write_tokens`, Anthropic's cache creation) as
`cache_write_input` (each falling back to `input` when the model sets none), completion
as `output`. Cache tokens are
therefore charged once (PITFALLS 12).

The price is the model's price in the config the ledger runs with when it processes the
event (reloaded on SIGHUP); the unit prices used are stored beside the cost on each row.
An id served by a wildcard entry (`claude-*`, README "Wildcard models") takes that
entry's price; exact ids come first. An unknown model (or a wildcard entry's id when the
entry sets no price, which the gateway refuses before it runs) costs 0 and logs
`unpriced_usage`: the row is still stored, so the tokens are never lost and can be priced
by hand.

The gateway's credit holds (gateway/budget.py) price a request's worst case with the same
formula before it runs: every prompt token at the dearer of `input` and
`cache_write_input` (a prompt may all be written to the cache), its output limit at
`output`, rounded up, so a hold is never below the bill of the tokens it holds for.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from msgspec import Struct

from gateway.contracts.bus import UsageEvent
from gateway.contracts.config import ModelConfig, Price, wildcard_for
from gateway.contracts.log import Logger

_ZERO = Decimal(0)


class UnitPrices(Struct, frozen=True):
    """USD per 1M tokens, exact."""

    input: Decimal
    cached_input: Decimal
    output: Decimal
    cache_write_input: Decimal = Decimal(0)


class Cost(Struct, frozen=True):
    """What one event costs, and the unit prices it was computed with (for audits)."""

    micro_usd: int
    priced: bool  # False: unknown model, billed 0
    prices: UnitPrices | None = None


def exact(price: float) -> Decimal:
    """A config price as the decimal the operator wrote (`0.15` -> Decimal("0.15"))."""
    return Decimal(repr(price))


def unit_prices(price: Price) -> UnitPrices:
    """The exact unit prices of a model; cached input falls back to the input price."""
    cached = price.input if price.cached_input is None else price.cached_input
    written = price.input if price.cache_write_input is None else price.cache_write_input
    return UnitPrices(input=exact(price.input), cached_input=exact(cached), output=exact(price.output),
                      cache_write_input=exact(written))


def _exact_cost(prompt: int, cached: int, completion: int, prices: UnitPrices, written: int) -> Decimal:
    cached = min(max(cached, 0), max(prompt, 0))  # never bill a cache token beyond the prompt
    written = min(max(written, 0), max(prompt, 0) - cached)
    uncached = max(prompt, 0) - cached - written
    return (uncached * prices.input + cached * prices.cached_input + written * prices.cache_write_input
            + max(completion, 0) * prices.output)


def cost_micro_usd(prompt: int, cached: int, completion: int, prices: UnitPrices, written: int = 0) -> int:
    """Micro-dollars for these token counts; `cached` (read) and `written` are part of `prompt`."""
    total = _exact_cost(prompt, cached, completion, prices, written)
    return int(total.to_integral_value(rounding=ROUND_HALF_EVEN))


def worst_case_micro_usd(prompt: int, completion: int, prices: UnitPrices) -> int:
    """The most `prompt` and `completion` tokens can be billed: the bill's formula with the
    whole prompt at its dearest (uncached, or all written to the cache), rounded up."""
    if prices.cache_write_input > prices.input:
        total = _exact_cost(prompt, 0, completion, prices, written=prompt)
    else:
        total = _exact_cost(prompt, 0, completion, prices, written=0)
    return int(total.to_integral_value(rounding=ROUND_CEILING))


def format_price(value: Decimal) -> str:
    """A unit price as a plain decimal string (no exponent) for storage."""
    return format(value.normalize(), "f") if value != _ZERO else "0"


class Pricer:
    """Prices events by public model id, from one config's `[[models]]`: an exact entry's
    price, else the first wildcard entry (`claude-*`) matching the id, if it sets one."""

    def __init__(self, models: Iterable[ModelConfig], log: Logger) -> None:
        entries = list(models)
        self._prices = {m.id: unit_prices(m.billed_price()) for m in entries if not m.is_wildcard()}
        self._wildcards = [m for m in entries if m.is_wildcard()]
        self._log = log

    def prices_of(self, model_id: str) -> UnitPrices | None:
        """The unit prices of a public model id, or None when no price is known."""
        prices = self._prices.get(model_id)
        if prices is None and (entry := wildcard_for(self._wildcards, model_id)) and entry.price is not None:
            prices = unit_prices(entry.price)
        return prices

    def entry_id(self, model_id: str) -> str:
        """The configured entry pricing `model_id`: the id itself, or the wildcard pattern
        (a metrics label: callers' made-up ids must not grow the series)."""
        if model_id in self._prices:
            return model_id
        entry = wildcard_for(self._wildcards, model_id)
        return entry.id if entry is not None else model_id

    def worst_case(self, model: ModelConfig, prompt: int, completion: int) -> int:
        """Micro-dollars a request to `model` may be billed at most (a credit hold)."""
        prices = self.prices_of(model.id)
        if prices is None:  # a model this pricer was not built with: its own prices
            prices = unit_prices(model.billed_price())
        return worst_case_micro_usd(prompt, completion, prices)

    def cost(self, event: UsageEvent) -> Cost:
        """The cost of `event`; an unknown model costs 0 and logs a warning."""
        prices = self.prices_of(event.model)
        if prices is None:
            self._log.warning("unpriced_usage", request_id=event.request_id, key_id=event.key_id,
                              model=event.model)
            return Cost(micro_usd=0, priced=False)
        if event.cached_tokens > event.prompt_tokens:
            # NOTE: a converter bug upstream of us; billed as if capped, and said so.
            self._log.warning("usage_inconsistent", request_id=event.request_id, model=event.model,
                              prompt_tokens=event.prompt_tokens, cached_tokens=event.cached_tokens)
        micro = cost_micro_usd(event.prompt_tokens, event.cached_tokens, event.completion_tokens, prices,
                               event.cache_write_tokens)
        return Cost(micro_usd=micro, priced=True, prices=prices)
