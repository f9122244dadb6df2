"""Refuse requests another web page makes: a foreign `Host` (DNS rebinding) or `Origin` (cross-site requests).

Several routes change state on a plain GET (the reference's `/crispml/rep*`), and any page a user
opens can make the browser send such a request to a server on localhost. A browser always tells us
where a request comes from in one of three headers; a non-browser client (the CLI, httpx, curl, a
business system) sends none of them and is let through:

- `Host` must name this server: a loopback name, the address the connection arrived on, or one of
  `CRISPML_ALLOWED_HOSTS` (comma-separated; `*` turns the check off). This stops DNS rebinding,
  where a foreign name is made to resolve to 127.0.0.1.
- `Origin` (or, when a browser sends none, the origin of `Referer`) must be this server's own
  (`scheme://` + the Host header) or one of `CRISPML_ALLOWED_ORIGINS` (`*`: any).
- With neither, `Sec-Fetch-Site: cross-site` or `same-site` (a page that suppressed its referrer)
  is refused too.

It runs before every route, the one-record hot path included, so it allocates nothing on the common
path: one pass over the header list, and set lookups of the header bytes as they came.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from crispml.api import problems

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
_CROSS_SITE = (b"cross-site", b"same-site")
_SHOWN = 200  # characters of a refused header quoted back


class HostOriginCheck:
    """Pure-ASGI middleware: 403 problem+json for a request from a foreign host or origin; nothing else runs."""

    def __init__(self, app: ASGIApp, allowed_hosts: str = "", allowed_origins: str = "") -> None:
        self.app = app
        hosts = _listed(allowed_hosts)
        origins = _listed(allowed_origins)
        self._any_host = "*" in hosts
        self._any_origin = "*" in origins
        self._hosts = frozenset(name.lower() for name in (*LOOPBACK_HOSTS, *hosts))
        self._origins = frozenset(origin.rstrip("/").lower().encode("latin-1") for origin in origins)
        # Host header values already found good, as they came (bytes): later requests are one lookup.
        # Only good values enter, and there are few (names times ports), so it stays small.
        self._good_hosts: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = referer = fetch_site = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
            elif name == b"referer":
                referer = value
            elif name == b"sec-fetch-site":
                fetch_site = value
        refusal = None
        if not self._any_host and host not in self._good_hosts and not self._host_is_ours(host, scope):
            refusal = f"the Host header {_shown(host)} does not name this server; add it to CRISPML_ALLOWED_HOSTS"
        elif origin is not None or referer is not None or fetch_site is not None:
            refusal = self._origin_refusal(scope, host, origin, referer, fetch_site)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await problems.problem(403, "forbidden", "Forbidden", refusal)(scope, receive, send)

    def _host_is_ours(self, host: bytes | None, scope: Scope) -> bool:
        if host is None:
            return True  # HTTP/1.0 without Host: no browser sends that
        name = _hostname(host.decode("latin-1")).lower()
        server = scope.get("server")
        if name in self._hosts or (server is not None and name == str(server[0]).lower()):
            self._good_hosts.add(host)
            return True
        return False

    def _origin_refusal(
        self, scope: Scope, host: bytes | None, origin: bytes | None, referer: bytes | None, fetch_site: bytes | None
    ) -> str | None:
        if self._any_origin:
            return None
        claimed = origin if origin is not None else _origin_of(referer) if referer is not None else None
        if claimed is None:
            if fetch_site in _CROSS_SITE:
                return "a cross-site browser request without Origin or Referer is refused"
            return None
        claimed = claimed.rstrip(b"/").lower()
        own = scope.get("scheme", "http").encode("latin-1") + b"://" + (host or b"").lower()
        if claimed == own or claimed in self._origins:
            return None
        header = "Origin" if origin is not None else "Referer"
        return (
            f"requests from origin {_shown(claimed)} ({header}) are refused: it is not this server's "
            "origin nor in CRISPML_ALLOWED_ORIGINS"
        )


def _listed(setting: str) -> list[str]:
    return [item.strip() for item in setting.split(",") if item.strip()]


def _hostname(host: str) -> str:
    """`name` of a Host header `name[:port]`; an IPv6 literal keeps its brackets."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _origin_of(referer: bytes) -> bytes:
    """`scheme://host[:port]` of a Referer URL (the rest of it dropped)."""
    scheme, sep, rest = referer.partition(b"://")
    if not sep:
        return referer
    return scheme + sep + rest.split(b"/", 1)[0].split(b"?", 1)[0].split(b"#", 1)[0]


def _shown(value: bytes | None) -> str:
    return "(none)" if value is None else repr(value.decode("latin-1")[:_SHOWN])
