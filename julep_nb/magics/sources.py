"""``--source URL_OR_NAME``: the Temporal and Thand sources a session connects to.

A :class:`SourcePool` belongs to the magics object: it resolves a name configured
in ``JulepMagics.sources`` or a URL (``temporal://127.0.0.1:7233/default``,
``thand+http://host:port/api/v1``), connects once per URL, and hands the same source
to every later cell; :meth:`SourcePool.close` drops them on ``%unload_ext``. A URL
may carry a secret in its password: :func:`mask_url` is how every URL is shown, and
no message built here contains the secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from julep_nb.live.errors import SourceError
from julep_nb.live.source import ExecutionSource
from julep_nb.magics.errors import CommandError
from julep_nb.magics.session import Runner
from julep_nb.sources.julep.config import mask_key, redact
from julep_nb.sources.urls import SCHEMES, source_from_url

__all__ = ["SourcePool", "mask_url", "mask_urls", "url_secret"]


def url_secret(url: str) -> str | None:
    """The secret a URL carries in its user part (its password, else its user), if any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    secret = parts.password or parts.username
    return unquote(secret) if secret else None


def mask_url(url: str) -> str:
    """``url`` with its user part masked as API keys are (``temporal://:…abcd@host/ns``)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<a URL that does not parse>"
    secret = url_secret(url)
    if secret is None:
        return url
    netloc = f":{mask_key(secret)}@{parts.hostname or ''}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_urls(urls: Mapping[str, str]) -> dict[str, str]:
    """Every URL of a name → URL mapping masked."""
    return {name: mask_url(url) for name, url in urls.items()}


class SourcePool:
    """Connected sources by URL, for one notebook session.

    ``named`` returns the configured name → URL mapping (read at each call, so a
    ``%config`` change applies to the next cell); ``run`` runs a coroutine on the
    kernel loop, where the sources' connections live.
    """

    def __init__(self, *, named: Callable[[], Mapping[str, str]], run: Runner) -> None:
        self._named = named
        self._run = run
        self._sources: dict[str, ExecutionSource] = {}

    def __len__(self) -> int:
        return len(self._sources)

    def url(self, ref: str) -> str:
        """The URL ``ref`` names (a configured name, or a URL as given); checked, not connected."""
        named = self._named()
        url = named.get(ref, ref)
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in SCHEMES:
            known = ", ".join(sorted(named)) or "none configured"
            raise CommandError(
                f"--source {mask_url(ref)}: not a source URL nor a configured name. Use "
                "temporal://HOST:PORT/NAMESPACE, thand+http://HOST:PORT/api/v1, or a name set "
                f"with %config JulepMagics.sources = {{NAME: URL}} (names: {known})."
            )
        return url

    def get(self, ref: str) -> ExecutionSource:
        """The connected source for ``ref``: connected on first use, then reused."""
        url = self.url(ref)
        found = self._sources.get(url)
        if found is not None:
            return found
        shown = ref if ref in self._named() else mask_url(ref)
        try:
            source = self._run(source_from_url(url))
        except (SourceError, ValueError, OSError) as exc:
            text = redact(str(exc), url_secret(url))
            raise CommandError(f"--source {shown}: {text}") from None
        self._sources[url] = source
        return source

    def close(self, run: Runner | None = None) -> None:
        """Forget every source, closing those that hold connections (Thand's HTTP client)."""
        sources, self._sources = list(self._sources.values()), {}
        runner = run or self._run
        for source in sources:
            aclose: Any = getattr(source, "aclose", None)
            if callable(aclose):
                try:
                    runner(aclose())
                except Exception:  # noqa: BLE001,S112 - closing is best effort at unload
                    continue
