"""Vietnamese first: Flask-Babel with vi as the default locale, English on request.

The source strings are Vietnamese, so Vietnamese needs no catalog; English comes from
translations/en/LC_MESSAGES/messages.mo, which the install compiles (setup.py).
The language of a request is the user's saved choice, else the browser's
Accept-Language, else Vietnamese. The partner API (/api/) answers in its client's choice
(its service account's locale), else Vietnamese: never by Accept-Language, and never by
a cookie's user.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import dates
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, Domain, get_locale, get_timezone
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup
from wtforms.i18n import messages_path

from .problems import API_PREFIX

SUPPORTED_LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

# Each language is named in itself, so a user who cannot read the current interface
# still finds their own: these names are deliberately not translated.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

# Per locale: the date and time patterns of the `date` and `datetime` filters. Vietnamese
# writes dd/mm/yyyy; English gets the month's name, which no reader can misread as a day.
DATE_PATTERNS = {"vi": "dd/MM/yyyy", "en": "d MMM yyyy"}
DATETIME_PATTERNS = {"vi": "dd/MM/yyyy HH:mm", "en": "d MMM yyyy, HH:mm"}



class RequestDomain(Domain):
    """Flask-Babel's message domain, with the request's catalog found once per request.

    A page translates a hundred strings or more (template text, form labels, lazy labels)
    and Flask-Babel looks the catalog up anew for each: its request namespace, the locale
    and the locale's name, several context-local lookups every time, a tenth of a page's
    time. The catalog is kept on that namespace beside the locale it was chosen for, so a
    locale changed during the request (`refresh()` after a language change, `force_locale`
    for a printed copy) chooses again."""

    def get_translations(self):
        try:
            ctx = g._flask_babel  # Flask-Babel's own request namespace (made by get_locale)
        except (AttributeError, RuntimeError):  # not made yet, or no app context
            return super().get_translations()
        locale = getattr(ctx, "babel_locale", None)
        cached = getattr(ctx, "hoso_translations", None)
        if locale is not None and cached is not None and cached[0] is locale:
            return cached[1]
        translations = super().get_translations()  # sets ctx.babel_locale if it was unset
        ctx.hoso_translations = (ctx.babel_locale, translations)
        return translations


class HosoBabel(Babel):
    @property
    def domain_instance(self) -> Domain:
        return _domain

    def init_app(self, app: Flask, *args, **kwargs) -> None:
        super().init_app(app, *args, **kwargs)
        # Templates' _() and friends: the same catalog, without Flask-Babel's per-call
        # lookups of the request's domain (there is one, ours).
        app.jinja_env.install_gettext_callables(
            gettext=lambda s: _translations().ugettext(s),
            ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
            newstyle=True,
            pgettext=lambda c, s: _translations().upgettext(c, s),
            npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        )
        # A page calls _() fifty times: straight to the catalog, not through Jinja's alias
        # (which looks `gettext` up again in the context) and its wrapper.
        app.jinja_env.globals.update(gettext=template_gettext, _=template_gettext)


_domain = RequestDomain()


def _translations():
    return _domain.get_translations()


@pass_context
def template_gettext(context, string: str, **variables) -> str:
    """Jinja's newstyle gettext (jinja2.ext._make_new_gettext), translation for translation:
    the text is always a format string (`%%` reads `%`) and the values are escaped. A text
    with no `%` and no values is the translation itself, which is what `% {}` would give."""
    text = _translations().ugettext(string)
    if context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - our own catalog's text, as Jinja's gettext does
    if not variables and "%" not in text:
        return text
    return text % variables


babel = HosoBabel()


def saved_locale() -> str | None:
    """The signed-in user's own choice, if any.

    The user loader may itself translate (the "your session ended" message) while it runs:
    that nested call must not load the user again, so it falls back to the browser."""
    if g.get("_hoso_locale_loading_user"):
        return None
    g._hoso_locale_loading_user = True
    try:
        user = current_user._get_current_object() if current_user else None
    finally:
        g._hoso_locale_loading_user = False
    choice = getattr(user, "locale", None) if user is not None and user.is_authenticated else None
    return choice if choice in SUPPORTED_LOCALES else None


def api_locale() -> str:
    """An API request's language: its client's choice, once its token is accepted
    (api_tokens sets g.api_client); Vietnamese before that and for a refused token."""
    client = g.get("api_client")
    choice = client.user.locale if client is not None else None
    return choice if choice in SUPPORTED_LOCALES else DEFAULT_LOCALE


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE  # CLI messages: the organisation's language
    if request.path.startswith(API_PREFIX):
        return api_locale()
    return (saved_locale()
            or request.accept_languages.best_match(SUPPORTED_LOCALES, default=DEFAULT_LOCALE)
            or DEFAULT_LOCALE)


def current_language() -> str:
    return _language(get_locale())


def _language(locale) -> str:
    return locale.language if locale is not None and locale.language in SUPPORTED_LOCALES else DEFAULT_LOCALE


# The two filters below call Babel as Flask-Babel's format_date and format_datetime do, with
# the request's locale asked once: a list page formats dozens of dates, and Flask-Babel's
# wrappers asked for the locale and its settings again for each (four fifths of the time).

def format_day(value: date | datetime | None) -> str:
    """The `date` filter: dd/mm/yyyy in Vietnamese, 28 Nov 2026 in English; — when unset.

    A datetime is shown as the day it carries, with no time-zone shift (as before)."""
    if not value:
        return "—"
    locale = get_locale()
    return dates.format_date(value, DATE_PATTERNS[_language(locale)], locale=locale)


def format_moment(value: datetime | None) -> str:
    """The `datetime` filter: the moment in the organisation's time zone."""
    if not value:
        return "—"
    locale = get_locale()
    return dates.format_datetime(value, DATETIME_PATTERNS[_language(locale)], tzinfo=get_timezone(), locale=locale)


# --- WTForms' own messages ("Not a valid choice.", "Field cannot be longer than ...") ------
#
# Flask-WTF translates them with WTForms' catalogs, and WTForms ships none for Vietnamese:
# ours is translations/vi/LC_MESSAGES/wtforms.po. Flask-WTF looks for the translations of
# the request on `request.wtforms_translations` before loading its own, so we put there an
# object that picks the catalog for the request's language when a message is shown.

_wtforms_catalogs: dict[str, NullTranslations] = {}


def _wtforms_catalog(language: str) -> NullTranslations:
    if language not in _wtforms_catalogs:
        directory = TRANSLATIONS_DIR if language == DEFAULT_LOCALE else messages_path()
        _wtforms_catalogs[language] = Translations.load(directory, [language], domain="wtforms")
    return _wtforms_catalogs[language]


class WTFormsMessages:
    """What Flask-WTF calls on a request's translations, in the request's language."""

    def ugettext(self, string: str) -> str:
        return _wtforms_catalog(current_language()).gettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalog(current_language()).ngettext(singular, plural, n)


def _install_wtforms_messages() -> None:
    request.wtforms_translations = WTFormsMessages()


def configure_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    babel.init_app(app, locale_selector=select_locale)
    app.before_request(_install_wtforms_messages)
    app.context_processor(lambda: {"current_locale": current_language(), "language_names": LANGUAGE_NAMES})
    app.jinja_env.filters["date"] = format_day
    app.jinja_env.filters["datetime"] = format_moment


def local_zone():
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh"))


def local_today() -> date:
    """Today in the organisation's time zone: a deadline falls due on a Vietnamese
    calendar day, not a UTC one."""
    return datetime.now(local_zone()).date()


def local_date(moment: datetime) -> date:
    """The organisation's calendar day of an aware moment (stored in UTC): from 17:00 UTC
    it is already the next day in Vietnam."""
    return moment.astimezone(local_zone()).date()
