"""Base URL / environment / key resolution, and that the key never shows."""

from __future__ import annotations

import pytest

from julep_nb.sources.julep.config import ENVIRONMENTS, mask_key, redact, resolve_settings
from julep_nb.sources.julep.errors import ConfigError

KEY = "sk-julep-SECRET-0123456789-wxyz"


def test_nothing_configured_means_embedded_local_server() -> None:
    settings = resolve_settings(env={})
    assert settings.use_local
    assert settings.base_url is None and settings.api_key is None


def test_explicit_base_url_wins_over_everything() -> None:
    env = {"JULEP_BASE_URL": "http://env:1", "JULEP_API_KEY": KEY}
    settings = resolve_settings(base_url="http://explicit:2/", environment="dev", env=env)
    assert settings.base_url == "http://explicit:2"
    assert settings.api_key == KEY


def test_environment_beats_key_default() -> None:
    settings = resolve_settings(environment="local", env={"JULEP_API_KEY": KEY})
    assert settings.base_url == ENVIRONMENTS["local"] == "http://localhost:8080"


def test_environment_and_env_base_url_is_ambiguous() -> None:
    with pytest.raises(ConfigError, match="Ambiguous URL"):
        resolve_settings(environment="dev", env={"JULEP_BASE_URL": "http://env:1"})
    # base_url=None explicitly means "use the environment", as in the SDK
    settings = resolve_settings(
        base_url=None, environment="dev", env={"JULEP_BASE_URL": "http://x"}
    )
    assert settings.base_url == "https://dev.julep.ai/api"


def test_env_base_url_then_key_means_production() -> None:
    assert resolve_settings(env={"JULEP_BASE_URL": "http://h:9"}).base_url == "http://h:9"
    prod = resolve_settings(env={"JULEP_API_KEY": KEY})
    assert prod.base_url == "https://api.julep.ai/api" and prod.environment == "production"
    assert not prod.use_local


def test_unknown_environment_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="'staging'.*production, dev"):
        resolve_settings(environment="staging", env={})


def test_bad_base_url_is_named_without_secrets() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(base_url="api.julep.ai?api_key=" + KEY, env={})
    assert KEY not in str(info.value)
    assert "http(s)" in str(info.value)


def test_key_never_in_repr_or_str_or_describe() -> None:
    settings = resolve_settings(api_key=KEY, env={})
    for text in (repr(settings), str(settings), str(settings.describe()), f"{settings}"):
        assert KEY not in text
        assert "SECRET" not in text
    assert settings.masked_key == "…wxyz"


def test_mask_and_redact() -> None:
    assert mask_key(None) == "<none>"
    assert mask_key("short") == "…****"
    assert redact(f"Bearer {KEY} at http://h/?api_key={KEY}&x=1", KEY).count("wxyz") == 1
    assert KEY not in redact(f"Bearer {KEY}", KEY)
    assert "SECRET" not in redact("http://h/x?token=SECRET&y=2")
