"""Where to sign in, said by the server once it listens; the key files' check before it starts.

Standard library only: gunicorn's master imports this module, and never the app.

`flask demo` cannot know the address: gunicorn may be told another `--bind`, or port 0.
gunicorn's `when_ready` hook (gunicorn.conf.py) runs after the sockets are bound, so the
addresses it reports are the real ones.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
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


# (environment variable, file in instance/keys/): the same names as protection/keystore.py's
# MASTER_KEY_ENV/MASTER_KEY_FILE and INDEX_KEY_ENV/INDEX_KEY_FILE (tests/test_doctor.py checks).
KEY_FILES = (("HOSO_MASTER_KEY", "master.key"), ("HOSO_INDEX_KEY", "index.key"))


def key_file_problems(keys_dir: Path, environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(problems, keys found) for the master and index keys: each from the environment, or an
    owner-only file (0600) in an owner-only folder (0700). Paths and modes only, never a key.
    gunicorn's master asks this before any worker loads the app (gunicorn.conf.py), so a
    missing or exposed key stops the server with one line; `flask doctor` asks it too."""
    problems, found, from_files = [], [], False
    for env, filename in KEY_FILES:
        kind = filename.split(".")[0]
        if env in environ:
            found.append(f"{kind} key from the environment ({env})")
            continue
        from_files = True
        path = keys_dir / filename
        if not path.is_file():
            problems.append(f"{path} is missing and {env} is not set (run `flask --app app init`)")
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{path} has mode {mode:o}: run `chmod 600 {path}`")
        else:
            found.append(f"{path} ({mode:o})")
    if from_files and keys_dir.is_dir():
        mode = stat.S_IMODE(keys_dir.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{keys_dir} has mode {mode:o}: run `chmod 700 {keys_dir}`")
    return problems, found


def served_instance_path(project_dir: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """The instance folder `gunicorn "app:create_app()"` will use (app.py's rule, with no
    config mapping): HOSO_INSTANCE_PATH, else instance/ beside the code."""
    return Path(environ.get("HOSO_INSTANCE_PATH") or project_dir / "instance")
