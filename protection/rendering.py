"""Rendering pages cheaply: what a worker sets up once so that each page costs less.

WTForms writes every attribute of every input, option and label through `html_params`,
which formats each one with `Markup.format` (a `string.Formatter` per attribute): a page
with a filter form spends a millisecond there. `html_params` below writes the same bytes
(tests/test_rendering.py compares them with WTForms' own) with plain string operations,
and `configure_rendering` puts it where WTForms' widgets look it up.

Each `<select>` also asks `inspect.signature` which way its class's `render_option` takes
its arguments (a tenth of a millisecond a select); a class's answer never changes, so it
is worked out once per class and process.
"""

from __future__ import annotations

import functools

from flask import Flask
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets import core as widgets_core

original_html_params = widgets_core.html_params


def html_params(**kwargs) -> Markup:
    """WTForms' `html_params`: `key="value"` pairs sorted by key, values escaped (quotes
    included), a True value as a bare attribute, a False one left out."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = widgets_core.clean_key(key)
        if value is True:
            params.append(escape(key))
        elif value is not False:
            params.append(f'{escape(key)}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return Markup(" ".join(params))  # noqa: S704 - every key and value was escaped just above


def configure_rendering(_app: Flask) -> None:
    # Widgets call the module's function by name, Input and Button through a static
    # method of their own, labels (wtforms/fields/core.py) through `widgets.html_params`:
    # all three are replaced. Once per process; a second app changes nothing.
    widgets_core.html_params = html_params
    widgets.html_params = html_params
    widgets_core.Input.html_params = staticmethod(html_params)
    widgets_core.Button.html_params = staticmethod(html_params)
    # A private method of WTForms 3.x: should a release rename it, selects simply stay as
    # they are (tests/test_rendering.py still compares the bytes).
    dispatch = getattr(widgets_core.Select, "_dispatch_render_option", None)
    if dispatch is not None and not hasattr(dispatch, "cache_info"):
        widgets_core.Select._dispatch_render_option = classmethod(functools.cache(dispatch.__func__))
