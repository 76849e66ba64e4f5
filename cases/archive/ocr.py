"""Text recognition of scans (issue 24 B.4), optional: Debian's `tesseract-ocr` with its
Vietnamese data (`tesseract-ocr-vie`), where installed and HOSO_OCR is not "off".

Each page is rendered in memory to a grey image at about 300 dpi (rendering.ocr_image) and
piped to `tesseract stdin stdout -l vie`: the page's pixels and its text exist only in this
process and tesseract's, never in a file (no temporary image, no output file). Each page has a
time limit; tesseract runs on one thread (OMP_THREAD_LIMIT=1), so one recognition never takes
every core from the web workers beside it.

What is recognised is stored sealed with the scan (ArchiveScan.page_texts, under the
dossier's key) for reading and copying on the reader page. It is never indexed: no blind
index, no word list, no search over it, in plaintext or otherwise."""

from __future__ import annotations

import io
import os
import shutil
import subprocess  # noqa: S404 - tesseract, by absolute path, fixed arguments, no shell
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import current_app

from cases.archive import rendering

LANGUAGE = "vie"
PAGE_TIMEOUT_SECONDS = 120
LIST_TIMEOUT_SECONDS = 15

_available: dict[str, str | None] = {}


class RecognitionFailed(RuntimeError):
    """Tesseract failed or ran out of time on a page; the message names the page, no text."""


def tesseract_path() -> str | None:
    """The tesseract program, when it is installed with the Vietnamese data; asked once per
    process (a `--list-langs` run costs ~50 ms)."""
    if "path" not in _available:
        _available["path"] = _find_tesseract()
    return _available["path"]


def _find_tesseract() -> str | None:
    path = shutil.which("tesseract")
    if path is None:
        return None
    try:
        listed = subprocess.run([path, "--list-langs"], capture_output=True, timeout=LIST_TIMEOUT_SECONDS,  # noqa: S603 - fixed arguments
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Tesseract 4 printed the list on stderr, 5 on stdout.
    languages = (listed.stdout + listed.stderr).decode("utf-8", "replace").split()
    return path if LANGUAGE in languages else None


def available() -> bool:
    return tesseract_path() is not None


def forget_availability() -> None:
    """Ask again next time (tests; after installing tesseract on a running server)."""
    _available.clear()


def enabled() -> bool:
    """HOSO_OCR: "off" never; "auto" (the default) when tesseract with Vietnamese is here."""
    return current_app.config.get("HOSO_OCR", "auto") != "off" and available()


def recognise_image(image, *, timeout: float = PAGE_TIMEOUT_SECONDS) -> str:
    """The text tesseract reads in `image` (a PIL image), through pipes only."""
    path = tesseract_path()
    if path is None:
        raise RecognitionFailed("tesseract with Vietnamese data is not installed")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    environment = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run([path, "stdin", "stdout", "-l", LANGUAGE], input=buffer.getvalue(),  # noqa: S603 - fixed arguments
                              capture_output=True, timeout=timeout, env=environment, check=False)
    except subprocess.TimeoutExpired:
        raise RecognitionFailed(f"tesseract took more than {timeout:.0f} s") from None
    except OSError as error:
        raise RecognitionFailed(f"tesseract could not run ({error.strerror})") from None
    if done.returncode != 0:
        raise RecognitionFailed(f"tesseract exited with status {done.returncode}")
    return done.stdout.decode("utf-8", "replace").replace("\f", "").strip()


@dataclass(frozen=True)
class Recognised:
    texts: list[str]

    @property
    def characters(self) -> int:
        return sum(len(text) for text in self.texts)


def recognise_pages(data: bytes, content_type: str, pages: int, *, timeout: float = PAGE_TIMEOUT_SECONDS,
                    progress: Callable[[int], None] | None = None) -> Recognised:
    """Every page of a scan, in order. RecognitionFailed (with the page number) on the first
    page that fails; rendering's errors as they come."""
    texts = []
    for number, image in enumerate(_page_images(data, content_type, pages), start=1):
        try:
            texts.append(recognise_image(image, timeout=timeout))
        except RecognitionFailed as failed:
            raise RecognitionFailed(f"page {number}: {failed}") from None
        if progress is not None:
            progress(number)
    return Recognised(texts)


def _page_images(data: bytes, content_type: str, pages: int) -> Iterator:
    for number in range(1, pages + 1):
        yield rendering.ocr_image(data, content_type, number)
