"""Compiles the message catalogs as part of the ordinary install.

The README installs with `pip install -e .` and nothing else, so the install itself turns
every translations/<locale>/LC_MESSAGES/*.po into the .mo Flask-Babel reads. The .mo files
are build products (git-ignored). They are written next to their .po in the source tree:
the app reads its translations, like its templates, from the project folder, and an
editable install (PEP 660: setuptools runs build_py with editable_mode=True) has no other
place to put them. All other metadata lives in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def compile_catalogs(root: Path = ROOT) -> list[Path]:
    """Compile each .po to a .mo beside it; fuzzy entries are left out, as msgfmt does."""
    # Babel is a build requirement (pyproject's build-system), present only while building.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in sorted(root.glob("translations/*/LC_MESSAGES/*.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=False)
        written.append(mo_path)
    return written


class BuildPyWithCatalogs(build_py):
    def run(self):
        for mo_path in compile_catalogs():
            self.announce(f"compiled {mo_path.relative_to(ROOT)}", level=2)
        super().run()


if __name__ == "__main__":  # setuptools runs this file as __main__; translations/update_catalog.py imports it
    setup(cmdclass={"build_py": BuildPyWithCatalogs})
