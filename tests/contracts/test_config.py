"""Config parsing fails loudly on typos and broken references."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.contracts.config import ConfigError, load, parse

MINIMAL = '[providers.echo]\nkind = "echo"\n[[models]]\nid = "echo"\nprovider = "echo"\n'
GEMINI = '[providers.g]\nkind = "gemini"\nbase_url = "http://g"\n[[models]]\nid = "gem"\nprovider = "g"\n'


def test_gemini_model_flags_default_to_gemini_2_behaviour_and_parse_per_model() -> None:
    config = parse(GEMINI + "gemini = { thinking_can_be_off = false, tools_with_json_response = true }\n")
    flags = config.models[0].gemini
    assert flags is not None and (flags.thinking_can_be_off, flags.tools_with_json_response) == (False, True)
    assert parse(GEMINI).models[0].gemini is None


def test_the_shipped_gemini_models_say_what_they_accept() -> None:
    from tests.harness.procs import ROOT

    models = {m.id: m for m in load(ROOT / "gateway.toml").models}
    flash = models["gemini-2.5-flash"].gemini
    assert flash is not None and flash.thinking_can_be_off and not flash.tools_with_json_response


def test_the_shipped_default_config_loads_with_echo_models() -> None:
    from tests.harness.procs import ROOT

    config = load(ROOT / "gateway.toml")
    kinds = {m.id: m.kind for m in config.models}
    assert kinds["echo"] == "chat" and kinds["echo-embed"] == "embedding"
    assert config.providers["echo"].kind == "echo"


def test_defaults() -> None:
    config = parse(MINIMAL)
    assert config.gateway.max_body_bytes == 8 * 1024 * 1024
    assert config.models[0].upstream_id() == "echo"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "[gateway]\nmax_body_byte = 5\n", "max_body_byte"),
        (MINIMAL.replace('provider = "echo"', 'provider = "nope"'), "unknown provider"),
        (MINIMAL + '[[models]]\nid = "echo"\nprovider = "echo"\n', "twice"),
        (MINIMAL + '[providers.o]\nkind = "openai"\n', "base_url"),
        (MINIMAL + '[providers.a]\nkind = "anthropic"\nbase_url = "http://x"\n[[models]]\nid = "c"\nprovider = "a"\n',
         "max_output_tokens"),
        (MINIMAL.replace('id = "echo"\nprovider', 'id = "echo"\nfallbacks = ["x"]\nprovider'), "falls back"),
        ("[providers\n", "invalid config"),
        (MINIMAL + "gemini = { thinking_can_be_off = false }\n", "gemini flags"),
        (GEMINI + "gemini = { thinking_off = true }\n", "thinking_off"),
    ],
)
def test_invalid_configs_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as ex:
        parse(text)
    assert message in str(ex.value)


# ---------------------------------------------------------------- Claude capability flags (issue 11 items 5, 8)

CLAUDE = ('[providers.a]\nkind = "anthropic"\nbase_url = "http://x"\n'
          '[[models]]\nid = "c"\nprovider = "a"\nmax_output_tokens = 8192\n')


def test_claude_flags_default_to_budget_thinking_and_no_prompt_cache() -> None:
    model = parse(CLAUDE).models[0]
    assert (model.thinking, model.prompt_cache) == ("budget", "off")


@pytest.mark.parametrize("thinking", ["budget", "adaptive", "none"])
def test_claude_thinking_flag_values(thinking: str) -> None:
    model = parse(CLAUDE + f'thinking = "{thinking}"\nprompt_cache = "auto"\n').models[0]
    assert (model.thinking, model.prompt_cache) == (thinking, "auto")


@pytest.mark.parametrize("line", ['thinking = "sometimes"', 'prompt_cache = "always"'])
def test_claude_flags_reject_unknown_values(line: str) -> None:
    with pytest.raises(ConfigError) as ex:
        parse(CLAUDE + line + "\n")
    assert line.split(" ")[0] in str(ex.value)


def test_the_default_claude_models_declare_their_thinking() -> None:
    from tests.harness.procs import ROOT

    config = load(ROOT / "gateway.toml")
    flags = {m.id: m.thinking for m in config.models if config.providers[m.provider].kind == "anthropic"}
    assert flags == {"claude-sonnet-4-5": "budget", "claude-haiku-4-5": "budget", "claude-sonnet-4-6": "adaptive",
                     "claude-*": "adaptive"}


def test_the_default_config_has_the_api_documents_models_priced_on_their_providers() -> None:
    # Issue 20: the document's three SDK calls reach the right provider once its secret is set.
    from tests.harness.procs import ROOT

    config = load(ROOT / "gateway.toml")
    models = {m.id: m for m in config.models}
    for model_id, kind in (("gpt-5.5", "openai"), ("claude-sonnet-4-6", "anthropic"), ("gemini-2.5-pro", "gemini")):
        model = models[model_id]
        assert config.providers[model.provider].kind == kind and model.upstream_id() == model_id
        assert model.price is not None and model.price.input > 0 and model.price.output > 0
        assert model.max_output_tokens


def test_the_default_config_ends_with_priced_wildcard_entries_for_each_family() -> None:
    # Issue 21: any other Claude, GPT or Gemini id is served as asked, never billed $0.
    from tests.harness.procs import ROOT

    config = load(ROOT / "gateway.toml")
    wild = [m for m in config.models if m.is_wildcard()]
    assert [(m.id, config.providers[m.provider].kind) for m in wild] == [
        ("claude-*", "anthropic"), ("gpt-*", "openai"), ("gemini-*", "gemini")]
    assert all(m.price is not None and m.price.input > 0 and m.price.output > 0 for m in wild)
    assert config.models[-len(wild):] == wild  # after every exact entry
    gpt4o = next(m for m in config.models if m.id == "gpt-4o-mini")
    assert gpt4o.max_output_tokens == 16384  # the cap for Claude Code's 32000 (issue 21 item 2)


WILD = '[providers.echo]\nkind = "echo"\n[[models]]\nid = "e*"\nprovider = "echo"\n'


@pytest.mark.parametrize("extra", ['upstream = "x"\n', 'aliases = ["y"]\n'])
def test_a_wildcard_entry_takes_no_upstream_nor_aliases_and_is_no_fallback(extra: str) -> None:
    with pytest.raises(ConfigError, match="wildcard model 'e\\*'"):
        parse(WILD + extra)
    with pytest.raises(ConfigError, match="unknown model 'e\\*'"):
        parse(WILD + '[[models]]\nid = "x"\nprovider = "echo"\nfallbacks = ["e*"]\n')


def test_aliases_parse_and_may_not_shadow_a_model_id() -> None:
    config = parse(MINIMAL + 'aliases = ["claude-sonnet-4-6", "claude-*"]\n')
    assert config.models[0].aliases == ["claude-sonnet-4-6", "claude-*"]
    assert parse(MINIMAL).models[0].aliases == []
    with pytest.raises(ConfigError, match="alias 'echo'"):
        parse(MINIMAL + 'aliases = ["echo"]\n')


# ---------------------------------------------------------------- deployments (issue 16)

TWO = ('[providers.east]\nkind = "openai"\nbase_url = "http://e/v1"\napi_key_env = "EAST"\n'
       '[providers.west]\nkind = "openai"\nbase_url = "http://w/v1"\napi_key_env = "WEST"\n')


def test_a_model_lists_deployments_with_weights_and_the_short_form_stays() -> None:
    config = parse(TWO + '[[models]]\nid = "gpt"\nupstream = "gpt-4o"\nrouting = "least_busy"\n'
                   'deployments = [{ provider = "east", weight = 3 }, { provider = "west", upstream = "gpt-4o-eu" }]\n'
                   '[[models]]\nid = "short"\nprovider = "east"\n'
                   '[routing]\nretries = 1\nretry_budget_s = 3\n')
    gpt, short = config.models
    assert [(d.name, d.provider, d.upstream, d.weight) for d in gpt.routes()] == [
        ("east", "east", "gpt-4o", 3.0), ("west", "west", "gpt-4o-eu", 1.0)]
    assert gpt.routing == "least_busy"
    assert [(d.name, d.provider, d.upstream, d.weight) for d in short.routes()] == [("east", "east", "short", 1.0)]
    assert (config.routing.retries, config.routing.retry_budget_s, config.routing.cooldown_failures) == (1, 3.0, 3)


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ('[[models]]\nid = "m"\n', "exactly one of provider and deployments"),
        ('[[models]]\nid = "m"\nprovider = "east"\ndeployments = [{ provider = "west" }]\n', "exactly one"),
        ('[[models]]\nid = "m"\ndeployments = [{ provider = "north" }]\n', "unknown provider 'north'"),
        ('[[models]]\nid = "m"\ndeployments = [{ provider = "east" }, { provider = "east", upstream = "x" }]\n',
         "two deployments named 'east'"),
        ('[[models]]\nid = "m"\ndeployments = [{ provider = "east", weight = 0 }]\n', "weight"),
        ('[[models]]\nid = "m"\nprovider = "east"\nrouting = "random"\n', "routing"),
        ('[[models]]\nid = "m"\nprovider = "east"\n[routing]\nretries = -1\n', "retries"),
    ],
)
def test_invalid_deployments_are_rejected(models: str, message: str) -> None:
    with pytest.raises(ConfigError) as ex:
        parse(TWO + models)
    assert message in str(ex.value)


def test_a_models_provider_options_are_one_struct_built_from_its_entry() -> None:
    import msgspec

    from gateway.contracts.bus import JOB_DECODER, Job
    from gateway.contracts.config import GeminiModelFlags, ModelOptions

    claude = parse(CLAUDE + 'thinking = "adaptive"\nprompt_cache = "auto"\n').models[0].options()
    assert claude == ModelOptions(max_output_tokens=8192, thinking="adaptive", prompt_cache="auto")
    gemini = parse(GEMINI + "gemini = { thinking_can_be_off = false }\n").models[0].options()
    assert gemini.gemini == GeminiModelFlags(thinking_can_be_off=False) and gemini.max_output_tokens is None
    assert parse(GEMINI).models[0].options().gemini == GeminiModelFlags()  # defaults when unset
    # carried whole in the Job, across the bus
    job = Job(request_id="r", key_id="k", op="chat", model="c", provider="a", upstream_model="u", body=b"{}",
              deadline=0.0, options=claude)
    assert JOB_DECODER.decode(msgspec.msgpack.encode(job)).options == claude


@pytest.mark.parametrize(("typo", "line", "says"), [
    ('\n[gateway]\nmax_body_byte = 5\n', 8, "unknown field `max_body_byte`"),
    ('\n[providers.o]\nkind = "openai"\nbase_url = 5\n', 9, "base_url"),
    ('\n[gateway\n', 7, "invalid config"),
])
def test_a_config_typo_is_one_line_naming_the_file_and_line(typo: str, line: int, says: str, tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(MINIMAL + typo)
    with pytest.raises(ConfigError) as ex:
        load(path)
    assert str(ex.value).startswith(f"{path} line {line}: invalid config") and says in str(ex.value)
    assert "\n" not in str(ex.value)
