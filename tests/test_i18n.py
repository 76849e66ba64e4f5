"""Languages (issue 7): Vietnamese source text, an English catalog, the choice of language.

- every template speaks through _() (a literal between tags or in a visible attribute fails,
  naming the file and line), and every extracted message has an English translation with
  the same placeholders;
- the compiled catalogs match their .po files (the install compiles them);
- the language of a page: the user's saved choice, else Accept-Language, else Vietnamese;
  the choice is saved from the account page with an audit entry, a tampered code refused;
- dates read dd/mm/yyyy in Vietnamese; WTForms' own messages come in the page's language.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import render_template_string
from flask_babel import force_locale, refresh
from flask_babel import get_translations as babel_translations
from flask_babel import gettext as translate
from jinja2 import Environment
from jinja2.ext import _gettext_alias, _make_new_gettext
from wtforms.i18n import messages_path

from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries, post_form

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
TRANSLATIONS = ROOT / "translations"
ENGLISH_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"


def _update_catalog_module():
    """translations/update_catalog.py: the extraction (babel.cfg + keywords) the catalog is made with."""
    spec = importlib.util.spec_from_file_location("update_catalog", TRANSLATIONS / "update_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- literals in templates --------------------------------------------------------------

MARK = "\ue000"  # stands in for each {{ }}, {% %} and {# #} in the HTML that is left
# Attributes a person reads (data-confirm is the question static/js/hoso.js asks).
TEXT_ATTRIBUTES = frozenset({"aria-label", "title", "placeholder", "alt", "data-confirm"})
# The value of these inputs is their visible label; a <button>'s value is never shown.
LABELLED_INPUTS = frozenset({"submit", "button", "reset"})
# Words that are the same in every language: the product's name, units of size.
NOT_WORDS = frozenset({"Hoso", "KB", "MB"})
WORD = re.compile(r"[^\W\d_]+")  # letters only: digits, punctuation, ·, — and entities are not words


def html_skeleton(source: str, environment: Environment) -> str:
    """The template's HTML with each Jinja tag replaced by MARK, every line where it was.
    Text inside {% trans %} blocks is translated, so it is masked too."""
    parts, line, in_trans, next_is_tag_name = [], 1, False, False
    for lineno, kind, value in environment.lex(source):
        if lineno > line:  # newlines inside tags, or whitespace a `-` stripped
            parts.append("\n" * (lineno - line))
            line = lineno
        if kind == "data":
            parts.append(MARK if in_trans else value)
            line += value.count("\n")
        elif kind in ("variable_begin", "block_begin", "comment_begin"):
            parts.append(MARK)
            next_is_tag_name = kind == "block_begin"
        elif kind == "name" and next_is_tag_name:
            in_trans = value in ("trans", "pluralize") or (in_trans and value != "endtrans")
            next_is_tag_name = False
        elif kind != "whitespace":
            next_is_tag_name = False
    return "".join(parts)


def _words(text: str) -> list[str]:
    return [word for word in WORD.findall(text.replace(MARK, " ")) if word not in NOT_WORDS]


class LiteralFinder(HTMLParser):
    """Collects (line, text) of words that are not inside a Jinja tag."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._in_code = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._in_code += 1
        line, _column = self.getpos()
        raw = self.get_starttag_text() or ""
        input_type = (dict(attrs).get("type") or "").lower()
        for name, value in attrs:
            visible = name in TEXT_ATTRIBUTES or (
                name == "value" and tag == "input" and input_type in LABELLED_INPUTS)
            if visible and value and _words(value):
                at = line + raw[:max(raw.find(f"{name}="), 0)].count("\n")
                self.found.append((at, f'{name}="{value.replace(MARK, "{{…}}")}"'))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._in_code:
            self._in_code -= 1

    def handle_data(self, data):
        words = _words(data)
        if words and not self._in_code:
            at = self.getpos()[0] + data[:data.find(words[0])].count("\n")
            self.found.append((at, " ".join(data.replace(MARK, "{{…}}").split())))


def untranslated_literals(source: str) -> list[tuple[int, str]]:
    finder = LiteralFinder()
    finder.feed(html_skeleton(source, Environment(extensions=["jinja2.ext.i18n"], autoescape=True)))
    finder.close()
    return finder.found


def test_the_literal_finder_catches_text_and_visible_attributes():
    source = (
        '{% extends "base.html" %}{% block content %}\n'
        '<p>{{ _("Xin chào") }} · Hoso — 100%</p>\n'
        "<p>Xin chào</p>\n"
        '<button type="button" class="btn-close" aria-label="Đóng">&times;</button>\n'
        '<button aria-label="{{ _(\'Đóng\') }}" name="action" value="approve"></button>\n'
        '<input type="submit" value="Lưu"><input type="hidden" name="next" value="home">\n'
        '<select><option value="vi">{{ _("Tiếng Việt") }}</option><option value="x">Khác</option></select>\n'
        "{% trans %}Đã dịch{% endtrans %}{# Ghi chú cho người đọc mã #}\n"
        '<span title="{% if late %}Quá hạn{% endif %}">{{ n }}</span>\n'
        "{% endblock %}\n"
    )
    assert untranslated_literals(source) == [
        (3, "Xin chào"),
        (4, 'aria-label="Đóng"'),
        (6, 'value="Lưu"'),
        (7, "Khác"),
        (9, 'title="{{…}}Quá hạn{{…}}"'),
    ]


def test_templates_hold_no_untranslated_literals():
    found = [f"{path.relative_to(ROOT)}:{line}: {text}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for line, text in untranslated_literals(path.read_text(encoding="utf-8"))]
    assert not found, ("Text a person reads must go through _() so it can be translated "
                       "(wrap it as {{ _(\"...\") }}):\n" + "\n".join(found))


# --- the English catalog ----------------------------------------------------------------

def test_every_message_has_an_english_translation():
    catalog_tools = _update_catalog_module()
    template = catalog_tools.extract_messages()
    with ENGLISH_PO.open("rb") as source:
        english = read_po(source, locale="en")
    problems = catalog_tools.problems(template, english)
    assert not problems, (
        f"{len(problems)} messages lack a proper English translation in {ENGLISH_PO.relative_to(ROOT)} "
        "(run `.venv/bin/python translations/update_catalog.py`, translate, re-run `pip install -e .`):\n"
        + "\n".join(problems))


def test_placeholder_check_notices_a_changed_name():
    catalog_tools = _update_catalog_module()
    assert catalog_tools.placeholders("Đã kết thúc %(n)d phiên, 100%% xong") == {("n", "d")}
    assert catalog_tools.placeholders("Ended %(count)d sessions") != catalog_tools.placeholders("%(n)d phiên")


def test_wtforms_messages_have_a_vietnamese_translation():
    """WTForms ships no Vietnamese catalog; ours must cover every message it can show."""
    with open(Path(messages_path()) / "wtforms.pot", "rb") as source:
        wtforms_messages = {message.id if isinstance(message.id, str) else message.id[0]
                            for message in read_po(source) if message.id}
    with (TRANSLATIONS / "vi" / "LC_MESSAGES" / "wtforms.po").open("rb") as source:
        ours = read_po(source, locale="vi")
    untranslated = sorted(msgid for msgid in wtforms_messages
                          if ours.get(msgid) is None or not all(_forms(ours.get(msgid).string)))
    assert not untranslated, untranslated


def _forms(value):
    return value if isinstance(value, tuple | list) else (value,)


def _expected_strings(po_path: Path) -> dict:
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=po_path.parent.parent.name)
    expected = {}
    for message in catalog:
        if not message.id or message.fuzzy or not all(_forms(message.string)):
            continue
        # A message with a context is stored under "context\x04msgid", as GNU gettext does.
        prefix = f"{message.context}\x04" if message.context else ""
        if isinstance(message.id, str):
            expected[prefix + message.id] = message.string
        else:
            for index, string in enumerate(message.string):
                expected[(prefix + message.id[0], index)] = string
    return expected


@pytest.mark.parametrize("po_path", sorted(TRANSLATIONS.glob("*/LC_MESSAGES/*.po")),
                         ids=lambda path: str(path.relative_to(TRANSLATIONS)))
def test_compiled_catalogs_are_up_to_date(po_path):
    mo_path = po_path.with_suffix(".mo")
    advice = (f"{mo_path.relative_to(ROOT)} is missing or older than its .po: "
              "re-run `pip install -e .` (the install compiles the catalogs)")
    assert mo_path.exists(), advice
    with mo_path.open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    compiled_strings = {key: value for key, value in translations._catalog.items() if key != ""}
    assert compiled_strings == _expected_strings(po_path), advice


# --- the language of a page -------------------------------------------------------------

def html_lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


@pytest.mark.parametrize(("header", "language", "button"), [
    (None, "vi", 'value="Đăng nhập"'),
    ("en-GB,en;q=0.9", "en", 'value="Sign in"'),
    ("fr-FR, en;q=0.5", "en", 'value="Sign in"'),
    ("fr-FR, de", "vi", 'value="Đăng nhập"'),
    ("vi-VN,vi;q=0.9,en;q=0.8", "vi", 'value="Đăng nhập"'),
])
def test_anonymous_pages_follow_accept_language(client, header, language, button):
    response = client.get("/login", headers={"Accept-Language": header} if header else {})
    assert response.status_code == 200
    assert html_lang(response) == language
    assert button in response.get_data(as_text=True)


def test_english_page_text(client):
    page = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Username" in page and "Password" in page
    assert "This system holds classified information. Every access is recorded." in page
    assert "Tên đăng nhập" not in page and "Mật khẩu" not in page


def _saved_locale(app, user) -> str | None:
    with app.app_context():
        locale = db.session.get(User, user.id).locale
        db.session.commit()
    return locale


def test_saved_language_beats_the_browser_and_is_audited(app, client, login_as):
    officer = login_as("officer")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "vi"
    overview = client.get("/account/")
    assert html_lang(overview) == "vi" and "Ngôn ngữ giao diện" in overview.get_data(as_text=True)

    response = post_form(client, "/account/language", {"locale": "en"}, token_from="/account/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/"
    assert _saved_locale(app, officer) == "en"
    changed = audit_entries(app, "user.language")
    assert len(changed) == 1
    assert (changed[0].actor_id, changed[0].target_type, changed[0].target_id) == (officer.id, "user", str(officer.id))
    assert changed[0].detail == '{"fields":["locale"]}'

    page = client.get("/account/")  # the browser still asks for Vietnamese
    text = page.get_data(as_text=True)
    assert html_lang(page) == "en"
    assert "My account" in text and "Interface language" in text and "Interface language saved." in text
    assert '<option selected value="en">English</option>' in text

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert post_form(client, "/account/language", {"locale": "vi"}, token_from="/account/").status_code == 302
    page = client.get("/account/")
    assert html_lang(page) == "vi" and "Tài khoản của tôi" in page.get_data(as_text=True)

    # The same choice again changes nothing and records nothing more.
    assert post_form(client, "/account/language", {"locale": "vi"}, token_from="/account/").status_code == 302
    assert len(audit_entries(app, "user.language")) == 2


def test_following_the_browser_again(app, client, login_as):
    officer = login_as("officer")
    assert post_form(client, "/account/language", {"locale": "en"}, token_from="/account/").status_code == 302
    assert post_form(client, "/account/language", {"locale": ""}, token_from="/account/").status_code == 302
    assert _saved_locale(app, officer) is None
    assert html_lang(client.get("/account/", headers={"Accept-Language": "en"})) == "en"
    assert html_lang(client.get("/account/", headers={"Accept-Language": "vi"})) == "vi"
    assert html_lang(client.get("/account/")) == "vi"


@pytest.mark.parametrize(("header", "message"), [
    ("vi", "Lựa chọn không hợp lệ."),
    ("en", "Not a valid choice."),
])
def test_unknown_language_code_is_a_form_error(app, client, login_as, header, message):
    officer = login_as("officer")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = header
    before = len(audit_entries(app))
    response = post_form(client, "/account/language", {"locale": "xx"}, token_from="/account/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'id="locale-errors">\s*<div>' + re.escape(message) + "</div>", page), page
    assert 'aria-invalid="true"' in page
    assert _saved_locale(app, officer) is None
    assert len(audit_entries(app)) == before


@pytest.mark.parametrize(("header", "message"), [
    ("vi", "Không được dài quá 64 ký tự."),
    ("en", "Field cannot be longer than 64 characters."),
])
def test_wtforms_messages_come_in_the_page_language(client, header, message):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = header
    response = post_form(client, "/login", {"username": "a" * 65, "password": "x" * 12})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_a_locale_changed_during_a_request_changes_the_catalog_too(app):
    """The catalog is looked up once per request (protection/i18n.py), but follows the locale:
    a printed copy forced to Vietnamese inside an English page, and a language switched by
    the request itself (refresh), translate in their own language."""
    template = "{{ _('Đăng xuất') }}|{{ pgettext('app name', 'Hồ sơ') }}"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert translate("Đăng xuất") == "Sign out"
        assert render_template_string(template) == "Sign out|Hoso"
        with force_locale("vi"):
            assert translate("Đăng xuất") == "Đăng xuất"
            assert render_template_string(template) == "Đăng xuất|Hồ sơ"
        assert translate("Đăng xuất") == "Sign out"
        assert render_template_string(template) == "Sign out|Hoso"
        with force_locale("vi"):
            refresh()  # inside force_locale, refresh keeps the forced locale
            assert translate("Đăng xuất") == "Đăng xuất"
        assert translate("Đăng xuất") == "Sign out"


@pytest.mark.parametrize("source", [
    "{{ _('Đăng xuất') }}",
    "{{ _('Xin chào, %(name)s', name='<b>An</b>') }}",
    "{{ _('100%% xong') }}",
    "{{ _('<i>%(n)d</i> hồ sơ', n=3) }}",
    "{% trans %}Đăng xuất{% endtrans %}",
])
@pytest.mark.parametrize("language", ["vi", "en"])
def test_templates_translate_as_jinjas_own_gettext(app, source, language):
    """protection/i18n.py gives templates a shorter gettext: it writes what Jinja's newstyle
    gettext writes (escaping, `%%`, values), in either language."""
    with app.test_request_context("/", headers={"Accept-Language": language}):
        ours = render_template_string(source)
        environment = app.jinja_env.overlay()
        environment.globals["gettext"] = _make_new_gettext(lambda text: babel_translations().ugettext(text))
        environment.globals["_"] = _gettext_alias
        assert ours == environment.from_string(source).render()
    if source == "{{ _('Đăng xuất') }}":
        assert ours == {"vi": "Đăng xuất", "en": "Sign out"}[language]


# --- dates ------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "day", "moment"), [
    ("vi", "05/03/2026", "05/03/2026 16:07"),
    ("en", "5 Mar 2026", "5 Mar 2026, 16:07"),
])
def test_date_filters_per_language(app, header, day, moment):
    with app.test_request_context("/", headers={"Accept-Language": header}):
        filters = app.jinja_env.filters
        assert filters["date"](date(2026, 3, 5)) == day
        # Stored moments are UTC; the organisation's clock is seven hours ahead.
        assert filters["datetime"](datetime(2026, 3, 5, 9, 7, tzinfo=UTC)) == moment
        assert filters["date"](None) == "—" and filters["datetime"](None) == "—"


def test_vietnamese_pages_show_dates_as_dd_mm_yyyy(client, login_as):
    login_as("officer")
    page = client.get("/account/").get_data(as_text=True)
    assert re.search(r"<dd[^>]*>\d{2}/\d{2}/\d{4} \d{2}:\d{2}</dd>", page), "no dd/mm/yyyy HH:mm date on the page"
