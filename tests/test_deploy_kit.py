"""The deployment kit (deploy/, issue 25): `deploy/check` loads the nginx site with `nginx -t`
and the systemd units with `systemd-analyze verify`, and refuses a broken one; the kit agrees
with the app it serves (request size, timeouts, proxy headers, HSTS, the commands the units
run); the access log never holds a query string; the scripts behave as their comments say."""

from __future__ import annotations

import ast
import http.client
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from protection.db import db
from protection.identity import Unit
from protection.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "hoso.conf"
UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "hoso.env.example"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
DEFAULTS = {setting.name: setting.default for setting in SETTINGS}
# Read by app.py before the settings, and by the kit's own scripts (deploy/hoso-backup).
OTHER_SETTINGS = {"HOSO_INSTANCE_PATH", "HOSO_BACKUP_DIR", "HOSO_BACKUP_KEEP"}
# Commands the kit runs that another branch of issue 25 brings; remove a line once merged.


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, **kwargs)  # noqa: S603 - our own scripts


def _directives(text: str, name: str) -> list[str]:
    """The arguments of every `name ...;` directive of an nginx file (comments removed; a
    directive may span lines; `${var}` inside a log format's quotes is kept)."""
    text = re.sub(r"#[^\n]*", "", text)
    arguments = r"[^;]*" if name == "log_format" else r"[^;{}]*"
    return [" ".join(match.split()) for match in re.findall(rf"(?:^|[;{{}}\s]){name}\s+({arguments});", text)]


def _unit(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of a unit file, repeated keys included."""
    section, entries = "", []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def _values(entries, key: str) -> list[str]:
    return [value for _section, name, value in entries if name == key]


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def _gunicorn_timeout() -> int:
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["timeout"]:
            return ast.literal_eval(node.value)
    raise AssertionError("gunicorn.conf.py sets no timeout")


def _seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()
    return int(number) * (60 if unit == "m" else 1)


# --- deploy/check -------------------------------------------------------------------------

def test_deploy_check_accepts_the_kit_and_refuses_a_broken_site_or_unit(tmp_path):
    if NGINX is None:
        reason = "deploy/check needs Debian's nginx (apt-get install nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so it must run", pytrace=False)
        pytest.skip(reason)
    check = [str(DEPLOY / "check"), "--venv", sys.prefix]

    good = _run(check)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK: nginx -t accepts hoso.conf" in good.stdout
    assert "deploy/check: all OK" in good.stdout

    # A misspelt directive: nginx -t refuses it, and so does the check.
    broken_site = tmp_path / "hoso.conf"
    broken_site.write_text(SITE.read_text(encoding="utf-8").replace("proxy_read_timeout", "proxy_read_timout"),
                           encoding="utf-8")
    refused = _run([*check, "--site", str(broken_site)])
    assert refused.returncode == 1
    assert 'unknown directive "proxy_read_timout"' in refused.stderr
    assert "FAIL: nginx -t refuses" in refused.stderr

    if shutil.which("systemd-analyze") is None:
        assert "SKIP: systemd-analyze is not installed" in good.stdout
        return
    assert re.search(r"OK: systemd-analyze verify accepts \d+ units", good.stdout)
    # systemd only warns about an unknown key (and ignores it): the check fails on the warning.
    units = tmp_path / "units"
    shutil.copytree(UNITS, units)
    service = units / "hoso.service"
    service.write_text(service.read_text(encoding="utf-8").replace("PrivateTmp=yes", "PrivateTemp=yes"),
                       encoding="utf-8")
    refused = _run([*check, "--units", str(units)])
    assert refused.returncode == 1
    assert "Unknown key 'PrivateTemp'" in refused.stderr
    assert "FAIL: systemd-analyze verify complains" in refused.stderr
    if "OK: systemd-analyze security" not in good.stdout:
        assert "SKIP: this systemd-analyze cannot score" in good.stdout
        return
    # Hardening dropped (still valid syntax): the exposure score fails the check.
    dropped = {"NoNewPrivileges", "ProtectSystem", "CapabilityBoundingSet", "SystemCallFilter", "PrivateDevices",
               "ProtectHome", "RestrictAddressFamilies"}
    service.write_text("".join(line for line in (UNITS / "hoso.service").read_text(encoding="utf-8").splitlines(True)
                               if line.split("=", 1)[0] not in dropped), encoding="utf-8")
    refused = _run([*check, "--units", str(units)])
    assert refused.returncode == 1
    assert "hardening scores above 2.5" in refused.stderr


# --- the site agrees with the app ---------------------------------------------------------

def test_request_size_and_timeouts_match_the_app():
    site = SITE.read_text(encoding="utf-8")
    megabytes = DEFAULTS["HOSO_MAX_REQUEST_MB"]
    assert _directives(site, "client_max_body_size") == [f"{megabytes}m"]
    assert int(_env_example()["HOSO_MAX_REQUEST_MB"]) == megabytes
    # Bodies stay in memory up to the largest accepted (never in nginx's temp files on disk),
    # and responses are never spooled to disk either.
    assert _directives(site, "client_body_buffer_size") == [f"{megabytes}m"]
    assert _directives(site, "proxy_max_temp_file_size") == ["0"]

    timeout = _gunicorn_timeout()
    for name in ("proxy_read_timeout", "proxy_send_timeout"):
        (value,) = _directives(site, name)
        # Never shorter than gunicorn's (nginx would give up on a request still being done),
        # and not much longer (a stuck worker is gunicorn's to kill, not the user's to wait for).
        assert timeout <= _seconds(value) <= timeout + 15, f"{name} {value} vs gunicorn timeout {timeout}"


def test_proxy_headers_are_the_ones_proxy_hops_trusts():
    site = SITE.read_text(encoding="utf-8")
    headers = dict(value.split(" ", 1) for value in _directives(site, "proxy_set_header"))
    # ProxyFix(x_for=1, x_proto=1, x_host=1): the client's address (replaced, not appended to
    # what the client sent), the scheme and the host.
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$host"
    env = _env_example()
    assert env["HOSO_PROXY_HOPS"] == "1"
    assert env["HOSO_HTTPS"] == "true"
    assert all(value.startswith("http://hoso_app") for value in _directives(site, "proxy_pass"))
    assert _directives(site, "server") == ["127.0.0.1:8000 max_fails=3 fail_timeout=10s"]
    # TLS 1.2 and 1.3 only; the monitoring endpoints closed to everyone else.
    assert set(_directives(site, "ssl_protocols")) == {"TLSv1.2 TLSv1.3"}
    assert len(set(_directives(site, "ssl_ciphers"))) == 1
    for endpoint in ("/metrics", "/readyz"):
        block = re.search(rf"location = {endpoint} \{{(.*?)\}}", site, re.S).group(1)
        assert "deny  all;" in block and "allow" in block


@pytest.fixture
def app_config(app_config):
    app_config["HOSO_HTTPS"] = True
    app_config["HOSO_PROXY_HOPS"] = 1
    return app_config


def test_hsts_is_the_apps_and_never_sent_twice(client):
    """The app sends HSTS itself behind HTTPS; nginx adds the same value only to answers
    without one (its own error pages), through a map on the upstream's header."""
    site = SITE.read_text(encoding="utf-8")
    mapped = re.search(r"map \$upstream_http_strict_transport_security \$hoso_hsts \{(.*?)\}", site, re.S).group(1)
    nginx_value = re.search(r'""\s+"([^"]+)";', mapped).group(1)
    assert re.search(r'default\s+"";', mapped), "nginx must add nothing when the app sent HSTS"
    assert _directives(site, "add_header") == ["Strict-Transport-Security $hoso_hsts always"]

    answer = client.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.7"},
                        base_url="https://hoso.example.vn")
    assert answer.headers.getlist("Strict-Transport-Security") == [nginx_value]
    assert int(re.search(r"max-age=(\d+)", nginx_value).group(1)) >= 365 * 24 * 3600


FORBIDDEN_LOG_VARIABLES = re.compile(r"request|request_uri|args|query_string|arg_\w+|is_args|http_referer|"
                                     r"request_body|request_line|upstream_uri|http_cookie|cookie_\w+")


def _log_variables(site: str) -> list[list[str]]:
    formats = _directives(site, "log_format")
    return [re.findall(r"\$\{?(\w+)", fmt) for fmt in formats]


def test_access_log_never_holds_a_query_string():
    site = SITE.read_text(encoding="utf-8")
    formats = _directives(site, "log_format")
    assert [fmt.split()[0] for fmt in formats] == ["hoso_noquery"]
    (variables,) = _log_variables(site)
    assert "uri" in variables and "request_method" in variables
    assert not [name for name in variables if FORBIDDEN_LOG_VARIABLES.fullmatch(name)]
    # Every access log names that format: one without would use nginx's "combined", which
    # logs $request (the query string) and the referrer.
    logs = _directives(site, "access_log")
    assert logs and all(log.split()[1:] == ["hoso_noquery"] or log == "off" for log in logs)
    # The scanner sees what it looks for.
    for leak in ("$request", "$request_uri", "$args", "${query_string}", "$arg_q", "$http_referer"):
        assert [n for n in _log_variables(f"log_format x '$uri {leak}';")[0] if FORBIDDEN_LOG_VARIABLES.fullmatch(n)]


# --- the units ----------------------------------------------------------------------------

HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
    "CapabilityBoundingSet": "", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "UMask": "0077",
}


def test_units_are_hardened_and_write_only_their_folders():
    services = sorted(UNITS.glob("*.service"))
    assert {path.name for path in services} == {
        "hoso.service", "hoso-audit-sequencer.service", "hoso-notify.service",
        "hoso-retention.service", "hoso-backup.service"}
    for path in services:
        entries = _unit(path)
        for key, value in HARDENING.items():
            assert _values(entries, key) == [value], f"{path.name}: {key}"
        assert _values(entries, "User") == ["hoso"]
        assert _values(entries, "WorkingDirectory") == ["/opt/hoso"]
        assert "/etc/hoso/hoso.env" in {v.lstrip("-") for v in _values(entries, "EnvironmentFile")}
        environment = dict(value.split("=", 1) for value in _values(entries, "Environment"))
        writable = " ".join(_values(entries, "ReadWritePaths")).split()
        assert environment["HOSO_INSTANCE_PATH"] in writable, path.name
        expected = {environment["HOSO_INSTANCE_PATH"]}
        if path.name == "hoso-backup.service":
            expected.add(environment["HOSO_BACKUP_DIR"])
        assert set(writable) == expected, f"{path.name} writes {writable}"

    app = _unit(UNITS / "hoso.service")
    assert _values(app, "ExecStart") == ['/opt/hoso/.venv/bin/gunicorn "app:create_app()" -c /opt/hoso/gunicorn.conf.py']
    assert _values(app, "Restart") == ["on-failure"]
    for timer in UNITS.glob("*.timer"):
        assert (UNITS / f"{timer.stem}.service").is_file(), f"{timer.name} has no service"
        assert _values(_unit(UNITS / f"{timer.stem}.service"), "Type") == ["oneshot"]
        assert _values(_unit(timer), "Persistent") == ["true"]
    # README, "Notifications and mail": every 15 minutes.
    assert _values(_unit(UNITS / "hoso-notify.timer"), "OnCalendar") == ["*-*-* *:00/15:00"]


def _kit_commands() -> set[tuple[str, ...]]:
    """Every `flask --app app WORD WORD` the units and scripts run."""
    found = set()
    sources = [*UNITS.glob("*.service"), DEPLOY / "hoso-backup"]
    for path in sources:
        for match in re.finditer(r"--app app ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)*)", path.read_text(encoding="utf-8")):
            found.add(tuple(match.group(1).split()))
    return found


def test_every_command_the_kit_runs_exists(runner):
    commands = _kit_commands()
    assert commands >= {("audit", "sequence"), ("notify", "send-due"), ("retention", "archive"),
                        ("backup", "create"), ("backup", "verify")}
    missing = []
    for command in sorted(commands):
        result = runner.invoke(args=[*command, "--help"])
        if result.exit_code != 0:
            missing.append(command)
    assert missing == []


def test_env_example_holds_valid_settings():
    env = _env_example()
    known = set(DEFAULTS) | OTHER_SETTINGS
    assert sorted(set(env) - known) == []
    for setting in SETTINGS:
        if setting.name in env:
            setting.parse(setting.name, env[setting.name])  # raises ConfigurationError on a bad value
    assert env["HOSO_INSTANCE_PATH"] == "/var/lib/hoso"
    assert env["HOSO_DATABASE_URL"].startswith("postgresql+psycopg://")


# --- the scripts --------------------------------------------------------------------------

FAKE_FLASK = """#!/bin/sh
# A stand-in for `flask --app app backup create|verify FILE` ($3 $4 $5) that behaves as the
# real ones do towards the script: create refuses an existing file and leaves none on failure.
case "$4" in
  create) [ ! -e "$5" ] || { echo "Error: $5 already exists" >&2; exit 1; }
          [ -z "$FAKE_CREATE_FAILS" ] || { echo "Error: disk full" >&2; exit 1; }
          printf backup > "$5" ;;
  verify) [ -z "$FAKE_VERIFY_FAILS" ] || { echo "Error: chunk 3 does not authenticate" >&2; exit 1; } ;;
esac
"""


def _backups(tmp_path: Path, name: str) -> Path:
    """A backup folder holding three old backups and an old failed one, long past (so the
    run's own backup, named by the real clock, is the newest)."""
    folder = tmp_path / name
    folder.mkdir()
    for day in (1, 2, 3):
        (folder / f"hoso-2001010{day}T013000Z.hosobak").write_text("old", encoding="utf-8")
    (folder / "hoso-20001231T013000Z.hosobak.failed").write_text("bad", encoding="utf-8")
    return folder


def _backup(tmp_path: Path, folder: Path, **env: str) -> subprocess.CompletedProcess:
    flask = tmp_path / "flask"
    flask.write_text(FAKE_FLASK, encoding="utf-8")
    flask.chmod(0o755)
    environment = {"PATH": os.environ["PATH"], "HOSO_FLASK": str(flask), "HOSO_BACKUP_DIR": str(folder), **env}
    return _run([str(DEPLOY / "hoso-backup")], env=environment)


def _names(folder: Path, pattern: str = "hoso-*.hosobak") -> list[str]:
    return sorted(path.name for path in folder.glob(pattern))


def test_hoso_backup_keeps_the_newest_verified_and_fails_loudly(tmp_path):
    folder = _backups(tmp_path, "kept")
    done = _backup(tmp_path, folder, HOSO_BACKUP_KEEP="2")
    assert done.returncode == 0, done.stderr
    kept = _names(folder)
    assert len(kept) == 2 and kept[0] == "hoso-20010103T013000Z.hosobak" and kept[1] > kept[0]
    assert (folder / kept[1]).stat().st_mode & 0o077 == 0  # umask 077: the hoso account's only
    assert _names(folder, "*.failed") == ["hoso-20001231T013000Z.hosobak.failed"]
    assert "OK:" in done.stdout and "2 backup(s) kept" in done.stdout

    # A backup that does not verify: renamed .failed, nothing older deleted, exit 1, one line.
    folder = _backups(tmp_path, "unverified")
    before = _names(folder)
    refused = _backup(tmp_path, folder, HOSO_BACKUP_KEEP="1", FAKE_VERIFY_FAILS="1")
    assert refused.returncode == 1
    assert _names(folder) == before
    assert len(_names(folder, "*.failed")) == 2
    assert refused.stderr.splitlines()[-1].startswith("hoso-backup: FAILED: backup verify refused")

    refused = _backup(tmp_path, folder, HOSO_BACKUP_KEEP="1", FAKE_CREATE_FAILS="1")
    assert refused.returncode == 1 and "FAILED: backup create" in refused.stderr
    assert _names(folder) == before

    for env, reason in (({"HOSO_BACKUP_KEEP": "0"}, "HOSO_BACKUP_KEEP must be"),
                        ({"HOSO_BACKUP_KEEP": "two"}, "HOSO_BACKUP_KEEP must be"),
                        ({"HOSO_BACKUP_DIR": str(tmp_path / "none")}, "does not exist")):
        refused = _backup(tmp_path, folder, **env)
        assert refused.returncode == 1 and reason in refused.stderr
    assert _names(folder) == before


def test_hoso_command_reads_the_env_file_as_data(tmp_path):
    """deploy/hoso: root only; the env file's values reach flask unquoted and unexecuted."""
    printer = tmp_path / "printenv"
    printer.write_text("#!/bin/sh\nenv\n", encoding="utf-8")
    printer.chmod(0o755)
    env_file = tmp_path / "hoso.env"
    marker = tmp_path / "executed"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8")
                        + f"HOSO_DOCUMENT_PLACE=\"$(touch {marker})\"\n", encoding="utf-8")
    account = pwd.getpwuid(os.geteuid()).pw_name
    result = _run([str(DEPLOY / "hoso"), "doctor"],
                  env={"PATH": os.environ["PATH"], "HOSO_ENV_FILE": str(env_file),
                       "HOSO_ACCOUNT": account, "HOSO_FLASK": str(printer)})
    if os.geteuid() != 0:
        assert result.returncode == 1 and "run it as root" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert printed["HOSO_LOGIN_RATE_LIMIT"] == "10 per minute;100 per hour"
    assert printed["HOSO_INSTANCE_PATH"] == "/var/lib/hoso"
    assert printed["HOSO_DOCUMENT_PLACE"] == f"$(touch {marker})"
    assert not marker.exists()

    env_file.write_text("HOSO_HTTPS true\n", encoding="utf-8")
    result = _run([str(DEPLOY / "hoso"), "doctor"],
                  env={"PATH": os.environ["PATH"], "HOSO_ENV_FILE": str(env_file),
                       "HOSO_ACCOUNT": account, "HOSO_FLASK": str(printer)})
    assert result.returncode == 1 and "line 1 is not KEY=value" in result.stderr


# --- the site in front of a real gunicorn -------------------------------------------------

def _site_for_test(tmp_path: Path, https_port: int, http_port: int, app_port: int) -> Path:
    """The shipped site with a throwaway certificate, loopback ports, the logs in tmp_path and
    the upstream at the test's gunicorn; everything else as shipped."""
    key, cert = tmp_path / "test.key", tmp_path / "test.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",  # noqa: S603, S607 - Debian's openssl, fixed arguments
                    "-nodes", "-days", "1", "-subj", "/CN=hoso.example.vn", "-keyout", str(key), "-out", str(cert)],
                   capture_output=True, check=True, timeout=30)
    site = SITE.read_text(encoding="utf-8")
    replacements = [
        (r"ssl_certificate\s+[^;]+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key\s+[^;]+;", f"ssl_certificate_key {key};"),
        (r"/var/log/nginx/", f"{tmp_path}/"),
        (r"listen \[::\]:\d+[^;]*;", ""),
        (r"listen 443 ", f"listen 127.0.0.1:{https_port} "),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"server 127\.0\.0\.1:8000 ", f"server 127.0.0.1:{app_port} "),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count, f"the site no longer has {pattern}"
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        ("user root root;\n" if os.geteuid() == 0 else "")  # workers may write the temp folders below
        + f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        + "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {tmp_path}/site.conf;\n}}\n", encoding="utf-8")
    return conf


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 90  # gunicorn's workers import the app: slow on a loaded machine
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up: {log.read_text(errors='replace')}") from None
            time.sleep(0.1)


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but names `server_name` in the TLS handshake (SNI), as a browser
    opening https://hoso.example.vn/ would."""

    def __init__(self, port: int, server_name: str | None, context: ssl.SSLContext):
        super().__init__("127.0.0.1", port, context=context, timeout=60)
        self.server_name = server_name
        self.tls_context = context

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls_context.wrap_socket(self.sock, server_hostname=self.server_name)


def _https(port: int, method: str, path: str, headers: dict | None = None,
           server_name: str | None = "hoso.example.vn", ciphers: str | None = None) -> http.client.HTTPResponse:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throwaway certificate
    if ciphers:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(ciphers)
    connection = _NamedHTTPSConnection(port, server_name, context)
    connection.request(method, path, headers={"Host": "hoso.example.vn", **(headers or {})})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_the_site_serves_the_app_over_tls_without_logging_query_strings(database_url, tmp_path):
    if NGINX is None:
        reason = "the site test needs Debian's nginx (apt-get install nginx)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so it must run", pytrace=False)
        pytest.skip(reason)
    # Imported here: tests/servers.py takes the test keys from conftest.
    from tests.servers import gunicorn_environment

    https_port, http_port, app_port = _free_port(), _free_port(), _free_port()
    conf = _site_for_test(tmp_path, https_port, http_port, app_port)
    environment = {**gunicorn_environment(database_url, tmp_path / "instance"),
                   **{key: value for key, value in _env_example().items()
                      if key in {"HOSO_HTTPS", "HOSO_PROXY_HOPS", "HOSO_MAX_REQUEST_MB"}}}
    app_log = tmp_path / "gunicorn.log"
    with open(app_log, "wb") as log_file:
        gunicorn = subprocess.Popen(  # noqa: S603 - our own gunicorn, the unit's arguments
            [sys.executable, "-m", "gunicorn", "app:create_app()", "-c", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{app_port}", "--workers", "1"],
            cwd=ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    nginx = None
    try:
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),  # noqa: S603 - Debian's nginx
                                  "-c", str(conf), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_for(https_port, nginx, "nginx", tmp_path / "error.log")
        _wait_for(app_port, gunicorn, "gunicorn", app_log)

        secret = "Nguyen-Van-Bi-Mat-079123456789"
        page = _https(https_port, "GET", f"/login?q={secret}&next=/cases", {"X-Forwarded-For": "203.0.113.9"})
        assert page.status == 200
        # HSTS once (the app's; nginx adds none to it), and the app knows it is behind HTTPS:
        # its session cookie is the Secure __Host- one.
        assert page.headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]
        cookies = page.headers.get_all("Set-Cookie") or []
        assert any(cookie.startswith("__Host-hoso=") and "Secure" in cookie for cookie in cookies), cookies
        assert page.headers.get_all("Content-Security-Policy") and len(page.headers.get_all("X-Frame-Options")) == 1

        # A body over HOSO_MAX_REQUEST_MB: nginx refuses it from the header alone, with HSTS.
        too_big = _https(https_port, "POST", "/login", {"Content-Length": str(27 * 1024 * 1024)})
        assert too_big.status == 413
        assert too_big.headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]

        # TLS 1.2 only with the forward-secret AEAD suites: a CBC suite nginx's defaults
        # would take is refused.
        assert _https(https_port, "GET", "/login", ciphers="ECDHE-ECDSA-AES128-GCM-SHA256").status == 200
        with pytest.raises(ssl.SSLError):
            _https(https_port, "GET", "/login", ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384")

        # Any other name (or none, as with an IP address) is refused at the TLS handshake, and
        # the right name in the handshake with another Host header never reaches the app.
        for other in ("evil.example", None):
            with pytest.raises(ssl.SSLError):
                _https(https_port, "GET", "/login", server_name=other)
        assert _https(https_port, "GET", "/login", {"Host": "evil.example"}).status == 421

        # Plain HTTP redirects to the fixed name, keeping the path and query.
        connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        connection.request("GET", "/cases?page=2", headers={"Host": "evil.example"})
        redirect = connection.getresponse()
        connection.close()
        assert redirect.status == 301
        assert redirect.getheader("Location") == "https://hoso.example.vn/cases?page=2"
    finally:
        for process in (nginx, gunicorn):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)
    access_log = (tmp_path / "hoso.access.log").read_text(encoding="utf-8")
    assert '"GET /login HTTP/1.1" 200' in access_log
    assert '"GET /cases HTTP/1.1" 301' in access_log
    assert secret not in access_log and "q=" not in access_log and "page=2" not in access_log
    assert secret not in app_log.read_text(encoding="utf-8", errors="replace")


# --- a new installation's first unit and admin (the README's install steps) ---------------

def test_a_new_installation_gets_its_first_unit_and_admin_from_the_cli(app, runner):
    created = runner.invoke(args=["units", "create", "btctu", "--name", "Ban Tổ chức Tỉnh ủy"])
    assert created.exit_code == 0, created.output
    assert "Created unit BTCTU (organisation)." in created.output
    district = runner.invoke(args=["units", "create", "HU-SONHA", "--name", "Huyện ủy Sơn Hà",
                                   "--kind", "district", "--parent", "BTCTU"])
    assert district.exit_code == 0, district.output
    admin = runner.invoke(args=["users", "create", "quantri", "--role", "admin", "--unit", "BTCTU",
                                "--password-stdin"], input="Hoso-Quan-Tri-Lam-Son-2026\n")
    assert admin.exit_code == 0, admin.output

    # Refusals: one line, non-zero, nothing written.
    for args, message in ((["BTCTU", "--name", "Lặp lại"], "Mã đơn vị đã tồn tại."),
                          (["X", "--name", "Quá ngắn"], "Mã đơn vị dài 2–32 ký tự"),
                          (["HU-KHAC", "--name", "Khác", "--parent", "NONE"], "Không có đơn vị cấp trên"),
                          (["HU-TRONG", "--name", "  "], "Hãy nhập tên đơn vị.")):
        refused = runner.invoke(args=["units", "create", *args])
        assert refused.exit_code == 1 and message in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1
    with app.app_context():
        assert sorted(unit.code for unit in db.session.scalars(select(Unit))) == ["BTCTU", "HU-SONHA"]
        created_entries = [entry for entry in db.session.scalars(select(AuditEntry)) if entry.action.startswith("unit.")]
        assert len(created_entries) == 2
