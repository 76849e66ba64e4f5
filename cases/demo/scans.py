"""Generated scans, like a document scanner's output: grey A4 pages at a low resolution with
a few lines of printed text and some speckle, as PDF (one image per page, as scanners write
them), multi-page TIFF, JPEG or PNG. Each seed gives different bytes, so generated scans are
never duplicates of one another unless asked to be. Used by the demo archive, the archive
tests and bench."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

# A4 at 50 dpi: small enough to make a thousand quickly, big enough to render and read.
PAGE_SIZE = (413, 585)


def page_image(seed: int, page: int = 1, text: str | None = None) -> Image.Image:
    rng = random.Random(seed * 10_007 + page)  # noqa: S311 - speckle on a fictional page, seeded to repeat
    image = Image.new("L", PAGE_SIZE, 250)
    draw = ImageDraw.Draw(image)
    draw.text((30, 30), text or f"SCAN {seed} PAGE {page}", fill=0)
    for line in range(12):
        y = 70 + line * 36
        draw.line((30, y, 30 + rng.randint(150, 350), y), fill=rng.randint(20, 90), width=3)
    for _ in range(200):
        x, y = rng.randrange(PAGE_SIZE[0]), rng.randrange(PAGE_SIZE[1])
        draw.point((x, y), fill=rng.randint(0, 200))
    return image


def _pages(seed: int, pages: int, text: str | None) -> list[Image.Image]:
    return [page_image(seed, number, text) for number in range(1, pages + 1)]


def pdf_scan(seed: int, pages: int = 1, text: str | None = None) -> bytes:
    images = _pages(seed, pages, text)
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=50, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def tiff_scan(seed: int, pages: int = 1, text: str | None = None) -> bytes:
    images = _pages(seed, pages, text)
    buffer = io.BytesIO()
    images[0].save(buffer, "TIFF", compression="tiff_lzw", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def jpeg_scan(seed: int, text: str | None = None) -> bytes:
    buffer = io.BytesIO()
    page_image(seed, 1, text).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def png_scan(seed: int, text: str | None = None) -> bytes:
    buffer = io.BytesIO()
    page_image(seed, 1, text).save(buffer, "PNG")
    return buffer.getvalue()
