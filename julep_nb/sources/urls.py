"""Sources named by URL: what ``--source`` options and configured names resolve through.

``temporal://HOST:PORT/NAMESPACE`` (``temporals://`` for TLS) is a
:class:`~julep_nb.sources.temporal.TemporalSource`; ``thand+http://HOST:PORT/api/v1``
(or ``thand+https://``) a :class:`~julep_nb.sources.thand.ThandSource`. A token may
ride in the URL's password (``temporal://:KEY@host:7233/ns``) or come from
``api_key``; it is never part of an error message. ``named`` maps names to URLs
(``%config JulepMagics.sources = {"prod": "temporal://…"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from julep_nb.live.source import ExecutionSource

__all__ = ["SCHEMES", "source_from_url"]

SCHEMES: Final = ("temporal", "temporals", "thand+http", "thand+https")


async def source_from_url(
    url_or_name: str,
    *,
    named: Mapping[str, str] | None = None,
    api_key: str | None = None,
) -> ExecutionSource:
    """A connected source for a URL, or for a name in ``named``."""
    url = (named or {}).get(url_or_name, url_or_name)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(sorted(named or {})) or "none configured"
        raise ValueError(
            f"Unknown source {url_or_name!r}: use temporal://HOST:PORT/NAMESPACE, "
            f"thand+http://HOST:PORT/api/v1, or a configured name ({known})."
        )
    secret = unquote(parts.password) if parts.password else api_key
    host = parts.hostname or "127.0.0.1"
    if scheme.startswith("thand+"):
        port = f":{parts.port}" if parts.port else ""
        base = f"{scheme.removeprefix('thand+')}://{host}{port}{parts.path}"
        from julep_nb.sources.thand import ThandSource  # httpx: only when used

        return ThandSource(base, token=secret)
    tls = True if scheme == "temporals" else (False if secret is None else None)
    return await _temporal(host, parts.port or 7233, parts.path, secret, tls=tls)


async def _temporal(host: str, port: int, path: str, key: str | None, *, tls: bool | None) -> Any:
    try:  # optional dependency: julep_nb[temporal]
        from julep_nb.sources.temporal import TemporalSource
    except ImportError as exc:
        raise ValueError(str(exc)) from exc
    namespace = path.strip("/") or "default"
    return await TemporalSource.connect(f"{host}:{port}", namespace=namespace, api_key=key, tls=tls)
