"""The model rules' table (issue 20): families as data, overridable per model entry."""

from __future__ import annotations

import pytest

from gateway.contracts.config import ConfigError, parse
from gateway.contracts.model_rules import SAMPLING, ParamRules, family_rules

OPENAI = '[providers.o]\nkind = "openai"\nbase_url = "http://o"\n[[models]]\nid = "m"\nprovider = "o"\n'


@pytest.mark.parametrize("upstream", ["gpt-5.5", "gpt-5-mini", "o3", "o4-mini", "o1-2024-12-17", "openai/gpt-5.5"])
def test_gpt5_family_and_o_series_take_max_completion_tokens_and_refuse_sampling(upstream: str) -> None:
    rules = family_rules(upstream)
    assert rules.output_limit_field == "max_completion_tokens" and rules.reasons
    assert set(rules.refuses) == set(SAMPLING) == {"temperature", "top_p", "presence_penalty", "frequency_penalty",
                                                   "logprobs", "top_logprobs"}


@pytest.mark.parametrize("upstream", ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-3.5-turbo"])
def test_gpt4_class_models_take_max_tokens_and_sampling_but_do_not_reason(upstream: str) -> None:
    rules = family_rules(upstream)
    assert (rules.output_limit_field, rules.refuses, rules.reasons) == ("max_tokens", (), False)


def test_openai_compatible_servers_and_other_families_get_everything_through() -> None:
    assert family_rules("meta-llama/Llama-3.1-8B-Instruct") == ParamRules()
    assert ParamRules().output_limit_field == "max_tokens" and ParamRules().drop_params


@pytest.mark.parametrize(("upstream", "roles"), [
    ("gpt-5.5", "developer"), ("o3", "developer"), ("o1-2024-12-17", "developer"), ("gpt-4o", "developer"),
    ("o1-mini", "system"), ("o1-preview-2024-09-12", "system"),  # OpenAI: "does not support 'developer'"
    ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "system"), ("meta-llama/Llama-3.1-8B-Instruct", "system"),
])
def test_developer_goes_as_system_to_o1_mini_o1_preview_and_unknown_servers(upstream: str, roles: str) -> None:
    # Issue 21 item 4: vLLM templates and strict servers refuse `developer`; all take `system`.
    assert family_rules(upstream).roles == roles


def test_claude_4_refuses_temperature_with_top_p_and_gemini_25_pro_always_thinks() -> None:
    assert not family_rules("claude-sonnet-4-6").temperature_with_top_p
    assert family_rules("claude-3-5-haiku-20241022").temperature_with_top_p
    assert not family_rules("gemini-2.5-pro").thinking_can_be_off
    assert family_rules("gemini-2.5-flash").thinking_can_be_off


def test_model_entry_rules_override_the_table_for_that_model_and_its_deployments() -> None:
    model = parse(OPENAI + 'upstream = "gpt-5.5"\nrules = { drop_params = false, roles = "system" }\n').models[0]
    rules = model.options().rules
    assert (rules.drop_params, rules.roles, rules.output_limit_field) == (False, "system", "max_completion_tokens")
    # a deployment's own upstream id picks its family
    assert model.options("gpt-4o").rules.reasons is False and model.options("gpt-4o").rules.drop_params is False
    assert parse(OPENAI).models[0].options().rules == ParamRules()


def test_the_legacy_gemini_flag_overrides_the_tables_thinking_rule() -> None:
    gemini = '[providers.g]\nkind = "gemini"\nbase_url = "http://g"\n[[models]]\nid = "g"\nprovider = "g"\n'
    pro = gemini + 'upstream = "gemini-2.5-pro"\n'
    assert not parse(pro).models[0].options().rules.thinking_can_be_off
    assert parse(pro + "gemini = { thinking_can_be_off = true }\n").models[0].options().rules.thinking_can_be_off


def test_unknown_rule_names_and_refused_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="refuses unknown parameters"):
        parse(OPENAI + 'rules = { refuses = ["temprature"] }\n')
    with pytest.raises(ConfigError, match="drop_param"):
        parse(OPENAI + "rules = { drop_param = false }\n")
