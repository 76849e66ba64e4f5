"""Rendering cheaply changes no byte of a page: the faster `html_params` that forms render
through (protection/rendering.py) writes exactly what WTForms' own writes."""

from __future__ import annotations

import enum

import pytest
from flask_babel import lazy_gettext
from markupsafe import Markup
from wtforms import widgets
from wtforms.widgets import core as widgets_core

from cases import labels
from protection import rendering


class Level(enum.StrEnum):  # as the app's roles and clearances
    SECRET = "secret"


ATTRIBUTES = [
    {},
    {"name": "text1", "id": "f", "class_": "text"},
    {"checked": True, "readonly": False, "name": "text1", "abc": "hello"},
    {"data_attr": "user.name", "aria_labeledby": "name", "aria_invalid": "true"},
    {"value": 'a "quoted" <b>&amp;</b> \'value\''},
    {"value": Markup('already <i>safe</i> with "quotes"')},
    {"value": 0, "max": 12.5, "min": None, "maxlength": 32},
    {"value": Level.SECRET, "for_": "x", "class": "form-select is-invalid"},
    {"placeholder": "dd/mm/yyyy", "title": "Tên đăng nhập & mật khẩu"},
    {"<odd key>": "x", "required": True, "disabled": False},
]


@pytest.mark.parametrize("attributes", ATTRIBUTES)
def test_html_params_writes_what_wtforms_writes(attributes):
    ours, theirs = rendering.html_params(**attributes), rendering.original_html_params(**attributes)
    assert ours == theirs
    assert isinstance(ours, Markup)


def test_html_params_of_a_translated_label(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        attributes = {"title": lazy_gettext("Đăng xuất"), "aria_label": lazy_gettext("Đăng xuất")}
        assert rendering.html_params(**attributes) == rendering.original_html_params(**attributes)
        assert rendering.html_params(**attributes) == 'aria-label="Sign out" title="Sign out"'


def test_widgets_render_through_it(app):
    assert widgets_core.html_params is rendering.html_params
    assert widgets.html_params is rendering.html_params
    assert widgets_core.Input.html_params is rendering.html_params
    assert widgets_core.Button.html_params is rendering.html_params


def test_translated_labels_are_kept_per_language(app):
    """labels.translated works a mapping out once per catalog: each language still gets its own."""
    for header, closed, secret in (("vi", "Đã kết thúc", "Tối mật"), ("en", "Closed", "Secret"),
                                   ("vi", "Đã kết thúc", "Tối mật")):
        with app.test_request_context("/", headers={"Accept-Language": header}):
            states = labels.translated(labels.CASE_STATES)
            assert states["closed"] == closed
            assert labels.translated_levels()["secret"] == secret
            assert states is labels.translated(labels.CASE_STATES)  # the same object within a language
            with pytest.raises(TypeError):
                states["closed"] = "changed"  # shared by every page: read-only
