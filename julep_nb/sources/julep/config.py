"""Where to send requests, and with which key.

Resolution follows the official ``julep`` SDK:

1. an explicit ``base_url`` wins;
2. then ``environment`` (``production``, ``dev``, ``local_multi_tenant``, ``local``);
   giving it while ``JULEP_BASE_URL`` is also set is ambiguous and an error,
   unless ``base_url=None`` is passed explicitly to say "use the environment";
3. then the ``JULEP_BASE_URL`` environment variable;
4. then, with an API key, hosted Julep (``production``).

The key comes from ``api_key`` or ``JULEP_API_KEY``. Where the SDK would fail
for want of a key, julep_nb instead resolves to its embedded local server:
with neither a base URL nor a key, :attr:`Settings.use_local` is true.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from julep_nb.sources.julep.errors import ConfigError

__all__ = [
    "ENVIRONMENTS",
    "NOT_GIVEN",
    "Settings",
    "mask_key",
    "redact",
    "resolve_settings",
]

ENVIRONMENTS: Final[Mapping[str, str]] = {
    "production": "https://api.julep.ai/api",
    "dev": "https://dev.julep.ai/api",
    "local_multi_tenant": "http://localhost/api",
    "local": "http://localhost:8080",
}


class _NotGiven:
    """Sentinel: an argument that was not passed (``None`` means something else)."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = _NotGiven()


def mask_key(key: str | None) -> str:
    """A key shown safely: at most its last 4 characters (``'…abcd'``)."""
    if not key:
        return "<none>"
    if len(key) <= 8:
        return "…" + "*" * 4
    return "…" + key[-4:]


_SECRET_QUERY = re.compile(r"(?i)((?:api[_-]?key|token|key)=)[^&\s#]+")


def redact(text: str, key: str | None = None) -> str:
    """``text`` with ``key`` (and ``api_key=…`` style query values) masked."""
    if key:
        text = text.replace(key, mask_key(key))
    return _SECRET_QUERY.sub(lambda m: m.group(1) + "***", text)


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings.

    ``api_key`` is kept out of ``repr`` and ``str``; only :func:`mask_key` of it
    is ever shown.
    """

    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    environment: str | None = None
    source: str = "default"

    @property
    def use_local(self) -> bool:
        """True when nothing is configured: use the embedded local server."""
        return self.base_url is None

    @property
    def masked_key(self) -> str:
        return mask_key(self.api_key)

    def with_base_url(self, base_url: str, api_key: str | None = None) -> Settings:
        """These settings pointed at a concrete server (e.g. the started local one)."""
        return Settings(
            base_url=base_url,
            api_key=api_key if api_key is not None else self.api_key,
            environment=self.environment,
            source=self.source,
        )

    def describe(self) -> dict[str, Any]:
        """A display-safe summary (the key masked)."""
        return {
            "base_url": self.base_url or "(embedded local server)",
            "environment": self.environment,
            "api_key": self.masked_key,
            "source": self.source,
        }

    def __repr__(self) -> str:
        return (
            f"Settings(base_url={self.base_url!r}, api_key={self.masked_key!r}, "
            f"environment={self.environment!r}, source={self.source!r})"
        )

    __str__ = __repr__


def resolve_settings(
    *,
    base_url: str | None | _NotGiven = NOT_GIVEN,
    api_key: str | None = None,
    environment: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve base URL, environment and key as the official SDK does.

    ``env`` defaults to ``os.environ``; tests pass a dict.
    """
    environ = os.environ if env is None else env
    key = api_key if api_key is not None else (environ.get("JULEP_API_KEY") or None)
    base_url_env = environ.get("JULEP_BASE_URL") or None

    if isinstance(base_url, str) and base_url:
        return Settings(_clean(base_url), key, environment, source="base_url")
    if environment is not None:
        if base_url_env and base_url is not None:
            raise ConfigError(
                "Ambiguous URL: both the JULEP_BASE_URL environment variable "
                f"({base_url_env!r}) and environment={environment!r} are given. "
                "To use the environment, pass base_url=None or unset JULEP_BASE_URL."
            )
        if environment not in ENVIRONMENTS:
            known = ", ".join(ENVIRONMENTS)
            raise ConfigError(f"Unknown environment {environment!r}: use one of {known}.")
        return Settings(ENVIRONMENTS[environment], key, environment, source="environment")
    if base_url_env:
        return Settings(_clean(base_url_env), key, None, source="JULEP_BASE_URL")
    if key:
        return Settings(ENVIRONMENTS["production"], key, "production", source="JULEP_API_KEY")
    return Settings(None, None, None, source="embedded local server")


def _clean(url: str) -> str:
    if not re.match(r"^https?://", url):
        raise ConfigError(
            f"Base URL {redact(url)!r} is not an http(s) URL: "
            "use e.g. https://api.julep.ai/api or http://127.0.0.1:8080."
        )
    return url.rstrip("/")
