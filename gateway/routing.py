"""Public model id -> where it goes, and which keys may use it.

A model id is looked up as an exact entry's id, then an alias (exact aliases, then glob
aliases in config order), then a wildcard entry (`id = "claude-*"`, config order), which
serves the id itself: sent upstream as asked, priced from the entry (README "Wildcard
models"). A key's allow-list applies to the configured id an alias names, and to the id
asked of a wildcard entry.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from gateway.contracts.bus import KeyRecord
from gateway.contracts.config import Config, ModelConfig, is_pattern, wildcard_for
from gateway.contracts.errors import invalid_request, model_not_allowed, model_not_found, model_unpriced


def key_allows(key: KeyRecord, model_id: str) -> bool:
    """Whether one of the key's patterns (`*`, `gpt-*`, exact ids) matches the model."""
    return any(fnmatchcase(model_id, pattern) for pattern in key.models)


class Router:
    """The configured models, by id."""

    def __init__(self, config: Config) -> None:
        self._models = {m.id: m for m in config.models if not m.is_wildcard()}
        self._wildcards = [m for m in config.models if m.is_wildcard()]
        self.models = list(config.models)
        # Aliases: exact ids first, then glob patterns in config order (first match wins).
        self._aliases: dict[str, ModelConfig] = {}
        self._patterns: list[tuple[str, ModelConfig]] = []
        for model in config.models:
            for alias in model.aliases:
                if is_pattern(alias):
                    self._patterns.append((alias, model))
                else:
                    self._aliases.setdefault(alias, model)

    def _lookup(self, model_id: str) -> ModelConfig | None:
        """The model named by its id, one of its aliases, or a wildcard entry serving it."""
        model = self._models.get(model_id) or self._aliases.get(model_id)
        if model is None:
            model = next((m for pattern, m in self._patterns if fnmatchcase(model_id, pattern)), None)
        if model is None and not is_pattern(model_id) and (entry := wildcard_for(self._wildcards, model_id)):
            model = entry.serving(model_id)
        return model

    def resolve(self, key: KeyRecord, model_id: str, kind: str) -> ModelConfig:
        """The model for this request: 404 unknown, 403 not allowed, 400 wrong kind."""
        model = self._lookup(model_id)
        if model is None:
            usable = [m.id for m in self.visible_to(key) if m.kind == kind]
            raise model_not_found(model_id, usable, kind)
        if not key_allows(key, model.id):
            raise model_not_allowed(model_id)
        if model.price is None and model.id not in self._models:  # a wildcard entry's id, unpriced
            raise model_unpriced(model_id, next(m.id for m in self._wildcards if fnmatchcase(model_id, m.id)))
        if model.kind != kind:
            endpoint = "/v1/embeddings" if model.kind == "embedding" else "/v1/chat/completions"
            article = "an" if model.kind[0] in "aeiou" else "a"
            raise invalid_request(
                f"The model '{model_id}' is {article} {model.kind} model; use {endpoint}.", "model"
            )
        return model

    def entry_id(self, model: ModelConfig) -> str:
        """The configured entry serving `model`: its id, or the wildcard pattern serving the
        id asked (a metrics label: callers' made-up ids must not grow the series)."""
        if model.id in self._models:
            return model.id
        entry = wildcard_for(self._wildcards, model.id)
        return entry.id if entry is not None else model.id

    def visible_to(self, key: KeyRecord) -> list[ModelConfig]:
        """The models this key may use."""
        return [m for m in self.models if key_allows(key, m.id)]

    def get(self, key: KeyRecord, model_id: str) -> ModelConfig:
        """One model for `/v1/models/{id}`: 404 if unknown or not visible to the key."""
        # A wildcard entry's own pattern too: `GET /v1/models` lists it.
        model = self._lookup(model_id) or next((m for m in self._wildcards if m.id == model_id), None)
        if model is None or not key_allows(key, model.id):
            raise model_not_found(model_id, [m.id for m in self.visible_to(key)])
        return model

    def fallbacks(self, key: KeyRecord, model: ModelConfig) -> list[ModelConfig]:
        """The model's configured fallbacks this key may use, of the same kind, in order."""
        out = []
        for model_id in model.fallbacks:
            candidate = self._models.get(model_id)
            if candidate is not None and candidate.kind == model.kind and key_allows(key, model_id):
                out.append(candidate)
        return out
