"""The mail relay: HOSO_SMTP_URL parsed once, and one SMTP connection per run of the mailer.

The standard library's smtplib does all the relay needs (plain, STARTTLS, implicit TLS, AUTH)
and ships with Python: no package to keep up to date for it. What this module adds is the
settings' shape and one exception type, `MailError`, whose message is one line naming the
relay's host:port and the reason, never the credentials in the URL, and never the mail.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

# smtp:// may be upgraded with ?starttls=1; smtp+starttls:// always is; smtps:// is TLS from
# the first byte (port 465).
SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    security: str  # plain | starttls | tls
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_smtp_url(url: str) -> Relay:
    """The relay a HOSO_SMTP_URL names; ValueError (naming no credential) when it is not one."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (expected smtp://host:port)") from None
    security = SCHEMES.get(parts.scheme.lower())
    if security is None:
        raise ValueError(f"scheme must be one of {', '.join(f'{name}://' for name in SCHEMES)}")
    if not parts.hostname:
        raise ValueError("names no host")
    options = {key.lower(): values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"starttls"}
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(sorted(unknown))} (only starttls=1)")
    if options.get("starttls", "0").lower() in {"1", "true", "yes", "on"}:
        if security == "tls":
            raise ValueError("smtps:// is already TLS; starttls=1 does not apply")
        security = "starttls"
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username and security == "plain":
        # A password in clear on the wire: refuse rather than send it.
        raise ValueError("a user name and password need TLS (smtps:// or starttls=1)")
    return Relay(parts.hostname, port or DEFAULT_PORTS[security], security, username, password)


class MailError(RuntimeError):
    """A mail not sent. `relay_down`: the relay could not be reached or refused the session
    (nothing more will go this run); otherwise this one mail was refused (its address)."""

    def __init__(self, relay: Relay, reason: str, *, relay_down: bool = True):
        what = "unreachable" if relay_down else "refused a mail"
        super().__init__(f"mail relay {relay.address} {what}: {reason}")
        self.relay_down = relay_down


def _reason(error: BaseException) -> str:
    """A short reason without the server's own text (it may echo an address or a login)."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"authentication refused ({error.smtp_code})"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"answered {error.smtp_code}"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return "the relay does not offer STARTTLS or AUTH"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "connection closed by the relay"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or 'handshake'})"
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return "host name not found"
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__
    return type(error).__name__


class Transport:
    """One SMTP session for a run: `with Transport(relay, ...) as mail: mail.send(message)`.

    TLS certificates are verified against the system's CAs, or against `ca_file` when the
    intranet's relay has a certificate of the organisation's own CA."""

    def __init__(self, relay: Relay, *, ca_file: str | None = None, timeout: float = 30.0):
        self.relay, self.timeout = relay, timeout
        self.ca_file = ca_file
        self._smtp: smtplib.SMTP | None = None

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def __enter__(self) -> Transport:
        relay = self.relay
        try:
            if relay.security == "tls":
                smtp = smtplib.SMTP_SSL(relay.host, relay.port, timeout=self.timeout, context=self._tls())
            else:
                smtp = smtplib.SMTP(relay.host, relay.port, timeout=self.timeout)
            self._smtp = smtp
            smtp.ehlo()
            if relay.security == "starttls":
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if relay.username:
                self._login(smtp)
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise MailError(relay, _reason(error)) from None
        return self

    def _login(self, smtp: smtplib.SMTP) -> None:
        """One mechanism, PLAIN (over TLS, which parse_smtp_url insists on) unless only LOGIN
        is offered: smtplib's login() would try the next one after a refusal, and a relay
        that hangs up then hides the refusal's reason."""
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("AUTH")
        smtp.user, smtp.password = self.relay.username or "", self.relay.password or ""
        if "PLAIN" in offered or "LOGIN" not in offered:
            smtp.auth("PLAIN", smtp.auth_plain)
        else:
            smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            raise MailError(self.relay, "no session")
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = sorted({code for code, _text in error.recipients.values()})
            raise MailError(self.relay, f"recipient refused ({', '.join(map(str, codes))})",
                            relay_down=False) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as error:
            # 5xx: this mail will not go as it is; 4xx: the relay is busy, try again later.
            raise MailError(self.relay, _reason(error), relay_down=error.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(self.relay, _reason(error)) from None
        if refused:
            raise MailError(self.relay, "recipient refused", relay_down=False)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def __exit__(self, *exc_info) -> None:
        self.close()
