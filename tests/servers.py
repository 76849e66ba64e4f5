"""A real gunicorn on loopback for the tests that need several worker processes
(tests/test_concurrency_gunicorn.py, test_audit_concurrency.py, test_crash_safety.py), and a
small cookie-keeping browser to talk to it. The `gunicorn_server` fixture is in conftest.py."""

from __future__ import annotations

import http.cookiejar
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import ldap3

from tests.conftest import TEST_INDEX_KEY, TEST_MASTER_KEY
from tests.pages import CSRF_PATTERN

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_environment(database_url: str, instance_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOSO_")},
        "HOSO_SECRET_KEY": "concurrency-test-secret",
        "HOSO_DATABASE_URL": database_url,
        "HOSO_INSTANCE_PATH": str(instance_path),
        "HOSO_LOGIN_RATE_LIMIT": "100000 per minute",
        "HOSO_LOG_LEVEL": "WARNING",
        "HOSO_MASTER_KEY": TEST_MASTER_KEY,
        "HOSO_INDEX_KEY": TEST_INDEX_KEY,
    }


def start_gunicorn(database_url: str, instance_path: Path, log_file, workers: int = 3, *,
                   environment: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free loopback port, answering /login when this returns. The master
    leads a process group of its own, so a test can kill it and its workers at once.
    `environment`: more variables for it (HOSO_LOG_FORMAT=json: gunicorn.conf.py's own
    access log setting then holds, not the text one asked for here)."""
    port = _free_port()
    environment = {**gunicorn_environment(database_url, instance_path), **(environment or {})}
    access_log = [] if environment.get("HOSO_LOG_FORMAT") == "json" else ["--access-logfile", "-"]
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), *access_log],
        cwd=ROOT, env=environment, stdout=log_file,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    # Generous: three workers importing the app on a loaded 2-core machine took over 30 s once.
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=2).read()  # noqa: S310 - loopback
            return process, base
        except OSError:  # refused, reset or timed out while workers boot
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                process.wait(timeout=20)
                raise RuntimeError(f"gunicorn did not come up; see {log_file.name}") from None
            time.sleep(0.2)


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self, username: str, password: str) -> int:
        _status, page = self.request("/login")
        token = CSRF_PATTERN.search(page).group(1)
        status, _page = self.request("/login", {"csrf_token": token, "username": username,
                                                "password": password})
        return status


# --- a throwaway OpenLDAP directory (issue 23) ------------------------------------------------

SLAPD = Path("/usr/sbin/slapd")
DIRECTORY_BASE = "dc=tinhuy,dc=vn"
DIRECTORY_PEOPLE = f"ou=people,{DIRECTORY_BASE}"
DIRECTORY_GROUPS = f"ou=groups,{DIRECTORY_BASE}"
# Groups that exist in the directory, each mapped to one Hoso role (the "khac" group to none).
DIRECTORY_ROLE_GROUPS = {"tham-dinh": "officer", "lanh-dao": "supervisor", "quan-tri": "admin"}
_ROOT_DN, _ROOT_PASSWORD = f"cn=root,{DIRECTORY_BASE}", "root-password-for-tests"
_SERVICE_DN, _SERVICE_PASSWORD = f"cn=hoso,ou=services,{DIRECTORY_BASE}", "service-password-for-tests"

_SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {root}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
# Passwords may be checked by binding (auth), never read; the service account reads the rest.
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{service}" read by anonymous auth by * none
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{root_dn}"
rootpw {root_password}
directory {root}/data
"""


class DirectoryServer:
    """Debian's slapd on a free loopback port with a throwaway configuration and an mdb
    database in `root`; people and groups are written with ldap3 as the rootdn."""

    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        (root / "data").mkdir(parents=True)
        (root / "slapd.conf").write_text(_SLAPD_CONF.format(
            root=root, service=_SERVICE_DN, base=DIRECTORY_BASE, root_dn=_ROOT_DN, root_password=_ROOT_PASSWORD))
        self.log = open(root / "slapd.log", "wb")  # noqa: SIM115 - closed by stop()
        # -d 0: stay in the foreground (so the process is ours to stop), logging nothing.
        self.process = subprocess.Popen(  # noqa: S603 - Debian's slapd, fixed arguments
            [str(SLAPD), "-f", str(root / "slapd.conf"), "-h", f"{self.url}/", "-d", "0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up()
        self._seed()

    def settings(self) -> dict:
        """The Hoso settings that point at this directory, through its service account."""
        return {
            "HOSO_LDAP_URL": self.url,
            "HOSO_LDAP_BIND_DN": _SERVICE_DN,
            "HOSO_LDAP_BIND_PASSWORD": _SERVICE_PASSWORD,
            "HOSO_LDAP_BASE_DN": DIRECTORY_PEOPLE,
            "HOSO_LDAP_GROUP_ROLES": ";".join(f"{self.group_dn(name)}={role}"
                                              for name, role in DIRECTORY_ROLE_GROUPS.items()),
            "HOSO_LDAP_TIMEOUT_SECONDS": 3,
        }

    @staticmethod
    def group_dn(name: str) -> str:
        return f"cn={name},{DIRECTORY_GROUPS}"

    @staticmethod
    def person_dn(uid: str) -> str:
        return f"uid={uid},{DIRECTORY_PEOPLE}"

    def _connection(self):
        return ldap3.Connection(ldap3.Server(self.url, connect_timeout=2), _ROOT_DN, _ROOT_PASSWORD,
                                auto_bind=True, raise_exceptions=True)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"slapd did not come up; see {self.root / 'slapd.log'}") from None
                time.sleep(0.05)

    def _seed(self) -> None:
        connection = self._connection()
        try:
            connection.add(DIRECTORY_BASE, ["dcObject", "organization"], {"o": "Tinh uy", "dc": "tinhuy"})
            for unit in ("people", "groups", "services"):
                connection.add(f"ou={unit},{DIRECTORY_BASE}", ["organizationalUnit"], {"ou": unit})
            connection.add(_SERVICE_DN, ["organizationalRole", "simpleSecurityObject"],
                           {"cn": "hoso", "userPassword": _SERVICE_PASSWORD})
            # groupOfNames needs a member: the service account stands in until people join.
            for name in (*DIRECTORY_ROLE_GROUPS, "khac"):
                connection.add(self.group_dn(name), ["groupOfNames"], {"cn": name, "member": [_SERVICE_DN]})
        finally:
            connection.unbind()

    def add_person(self, uid: str, password: str, *, name: str, groups: tuple[str, ...] = ()) -> None:
        connection = self._connection()
        try:
            connection.add(self.person_dn(uid), ["inetOrgPerson"], {
                "uid": uid, "cn": name, "sn": name.split()[-1], "displayName": name, "userPassword": password})
            for group in groups:
                connection.modify(self.group_dn(group), {"member": [(ldap3.MODIFY_ADD, [self.person_dn(uid)])]})
        finally:
            connection.unbind()

    def leave_group(self, uid: str, group: str) -> None:
        connection = self._connection()
        try:
            connection.modify(self.group_dn(group), {"member": [(ldap3.MODIFY_DELETE, [self.person_dn(uid)])]})
        finally:
            connection.unbind()

    def delete_person(self, uid: str) -> None:
        connection = self._connection()
        try:
            connection.delete(self.person_dn(uid))
        finally:
            connection.unbind()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
