"""Bring the message catalogs up to date with the code and templates.

    .venv/bin/python translations/update_catalog.py

Extracts every message (babel.cfg, the keywords below) into translations/messages.pot,
merges it into each translations/<locale>/LC_MESSAGES/messages.po (translations kept; a
changed msgid gets the closest old translation marked fuzzy, for a translator to check),
compiles the .mo files as the install does, then lists each msgid that still needs an
English translation: missing, empty, fuzzy, or with placeholders that differ from the
msgid's. Exits 1 when there is any. The same as the README's pybabel commands, in one step.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
# Every name the code translates with: Babel's defaults (_, gettext, ngettext, ...) plus
# Flask-Babel's lazy forms and the `_l` alias the forms modules import them as.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2)}
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrsa])")


def extract_messages() -> Catalog:
    """Every translatable message of the code and templates, as `pybabel extract` finds them."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, str(ROOT / "babel.cfg"))
    template = Catalog(project="Hoso", version="0.1", charset="utf-8", fuzzy=False,
                       creation_date=datetime.now(UTC))
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",),
            strip_comment_tags=True):
        template.add(message, None, [(Path(filename).as_posix(), lineno)], auto_comments=comments,
                     context=context)
    return template


def placeholders(text: str) -> set[tuple[str, str]]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def _forms(value) -> tuple[str, ...]:
    return value if isinstance(value, tuple | list) else (value,)


def problems(template: Catalog, catalog: Catalog) -> list[str]:
    """One line per message of `template` that `catalog` does not translate properly."""
    found = []
    for message in template:
        if not message.id:
            continue
        msgid = _forms(message.id)[0]
        translated = catalog.get(message.id, message.context)
        strings = _forms(translated.string) if translated is not None else ()
        if translated is None:
            found.append(f"missing: {msgid!r}")
        elif not all(strings):
            found.append(f"not translated: {msgid!r}")
        elif translated.fuzzy:
            found.append(f"fuzzy (check it, then remove the fuzzy flag): {msgid!r}")
        elif any(placeholders(string) != placeholders(msgid) for string in strings):
            found.append(f"placeholders differ: {msgid!r} -> {strings[0]!r}")
    return found


def _compile_catalogs() -> None:
    spec = importlib.util.spec_from_file_location("hoso_setup", ROOT / "setup.py")
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)
    setup_module.compile_catalogs(ROOT)


def main() -> int:
    template = extract_messages()
    with TEMPLATE.open("wb") as output:
        write_po(output, template, width=76)
    remaining = []
    for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        catalog.update(template)
        with po_path.open("wb") as output:
            write_po(output, catalog, width=76, ignore_obsolete=True)
        remaining += [f"{po_path.relative_to(ROOT)}: {line}" for line in problems(template, catalog)]
    _compile_catalogs()
    count = sum(1 for message in template if message.id)
    print(f"{count} messages in {TEMPLATE.relative_to(ROOT)}")
    for line in remaining:
        print(line)
    if remaining:
        print(f"{len(remaining)} messages need a translation", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
