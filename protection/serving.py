"""Where to sign in, said by the server once it listens.

`flask demo` cannot know the address: gunicorn may be told another `--bind`, or port 0.
gunicorn's `when_ready` hook (gunicorn.conf.py) runs after the sockets are bound, so the
addresses it reports are the real ones.
"""

from __future__ import annotations

from urllib.parse import urlsplit

WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]"}  # noqa: S104 - names the wildcard, binds nothing


def sign_in_lines(listeners: list[str]) -> list[str]:
    """One line per bound listener (gunicorn's `str(listener)`: `http://host:port` or
    `unix:/path`), naming the sign-in page a person should open."""
    lines = []
    for listener in listeners:
        if listener.startswith("unix:"):
            lines.append(f"Hoso is listening on {listener}: sign in through the proxy in front of it, at /login")
            continue
        parts = urlsplit(listener)
        host = parts.hostname or ""
        if host in WILDCARD_HOSTS or f"[{host}]" in WILDCARD_HOSTS:
            lines.append(f"Hoso is listening on every address, port {parts.port}: sign in at "
                         f"{parts.scheme}://<this server's name>:{parts.port}/login "
                         f"(on this machine: {parts.scheme}://127.0.0.1:{parts.port}/login)")
            continue
        lines.append(f"Hoso is listening: sign in at {listener}/login")
    return lines
