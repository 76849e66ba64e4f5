"""A page of a scan as an image for the browser, watermarked with who reads it and when.

Pure functions of bytes and plain values: no Flask, no database, no key (the caller opens
the sealed blob and says who reads), so the tests and the bench call them directly.

- PDF pages go through PDFium (pypdfium2), rendered at the scale that makes the page
  READ_WIDTH pixels wide, never taller than READ_HEIGHT and never above MAX_SCALE (a
  stamp-sized page is not blown up into a blur of pixels).
- TIFF frames, JPEG and PNG go through Pillow: the frame asked for, converted to grey or
  RGB, and only ever scaled down, to the same bounds. A frame that declares more pixels than
  MAX_SOURCE_PIXELS is refused before it is decoded (scans.py refuses such a file when it is
  filed; this guards the renderer on its own, e.g. for a scan filed before that check), and
  so is a PDF page whose embedded images hold more than that in all.
- The watermark: the reader's name and username, the time (the caller passes it already in
  Vietnam time) and the document's marking, as a block of text rotated 30° and tiled over the
  whole page at about a third of full strength: readable on any part of a photo of the screen,
  but the page's own text stays legible under it. The font is Roboto from the font-roboto
  package (as cases/printing/pdf.py), which has every Vietnamese glyph: no system font.

The image is a PNG (lossless: a scan's small print must not blur), grey when the page is grey
(most are), RGB when it has colour (a red seal, a signature in blue ink).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import font_roboto
import pypdfium2
from PIL import Image, ImageChops, ImageDraw, ImageFont, UnidentifiedImageError

PDF = "application/pdf"
PNG_TYPE = "image/png"

READ_WIDTH = 1200  # the reader's page width: a screen's column, small print readable
READ_HEIGHT = 2400  # a long strip of a page is scaled down to this height instead
MAX_SCALE = 4.0  # a PDF page is never enlarged more than this (72 dpi points -> 288 dpi)
# Pillow refuses above 89 Mpx (its decompression-bomb guard); a frame above this is refused
# here with a reason the reader can be told. Same bound as scans.MAX_PAGE_PIXELS.
MAX_SOURCE_PIXELS = 80_000_000
# Text recognition wants about 300 dpi; an A4 page at 300 dpi is 2480 x 3508 (8.7 Mpx).
OCR_DPI = 300
OCR_MAX_PIXELS = 12_000_000

GREY_TOLERANCE = 6  # channel differences a grey scan's JPEG noise leaves; a red seal is far above
WATERMARK_ANGLE = 30
WATERMARK_STRENGTH = 85  # of 255: the watermark's ink covers about a third of the page under it
WATERMARK_GREY = 90
WATERMARK_RGB = (150, 20, 20)  # dark red on colour scans: told apart from the page's black ink


class RenderingError(Exception):
    """A page that cannot be shown; the caller says why in the user's language."""


class PageOutOfRange(RenderingError):
    pass


class PageTooLarge(RenderingError):
    pass


class UnreadableScan(RenderingError):
    pass


@dataclass(frozen=True)
class RenderedPage:
    data: bytes
    width: int
    height: int
    media_type: str = PNG_TYPE


# --- the page as an image -----------------------------------------------------------------

def _fit_scale(width: float, height: float, max_width: int, max_height: int, max_scale: float) -> float:
    return min(max_width / width, max_height / height, max_scale)


def _pdf_page(data: bytes, page: int, *, dpi: float | None, max_width: int, max_height: int,
              grey: bool) -> Image.Image:
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        raise UnreadableScan() from None
    try:
        if not 1 <= page <= len(document):
            raise PageOutOfRange()
        pdf_page = document[page - 1]
        try:
            width, height = pdf_page.get_size()
            if width <= 0 or height <= 0:
                raise UnreadableScan()
            check_pdf_images(pdf_page)
            scale = _fit_scale(width, height, max_width, max_height, MAX_SCALE)
            if dpi:
                scale = min(scale, dpi / 72)
            bitmap = pdf_page.render(scale=scale, grayscale=grey, may_draw_forms=False)
            try:
                image = bitmap.to_pil()
            finally:
                bitmap.close()
        finally:
            pdf_page.close()
    finally:
        document.close()
    # PDFium draws in BGRx/RGB; grey output comes back as "L".
    return image.convert("L" if grey or image.mode == "L" else "RGB")


def check_pdf_images(pdf_page) -> None:
    """PDFium decodes an embedded image whole before it scales it: a page holding images of
    more than MAX_SOURCE_PIXELS in all (a decompression bomb in a PDF) is refused unrendered."""
    pixels = 0
    for item in pdf_page.get_objects(filter=(pypdfium2.raw.FPDF_PAGEOBJ_IMAGE,), max_depth=4):
        try:
            image_width, image_height = item.get_px_size()
        except pypdfium2.PdfiumError:
            continue  # an image PDFium cannot size, it cannot draw either (left blank)
        pixels += image_width * image_height
        if pixels > MAX_SOURCE_PIXELS:
            raise PageTooLarge()


def _image_frame(data: bytes, page: int, *, max_width: int, max_height: int, grey: bool,
                 max_pixels: int = MAX_SOURCE_PIXELS) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as source:
            frames = getattr(source, "n_frames", 1)
            if not 1 <= page <= frames:
                raise PageOutOfRange()
            source.seek(page - 1)
            if source.width * source.height > max_pixels:
                raise PageTooLarge()
            if source.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 straight from the DCT when that still covers the
                # bounds: a 300 dpi photo decodes in a fraction of the time.
                source.draft("L" if grey else source.mode, (max_width, max_height))
            image = source.copy() if source.mode in ("L", "RGB") else _plain_mode(source, grey)
    except RenderingError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        raise UnreadableScan() from None
    if grey and image.mode != "L":
        image = image.convert("L")
    if image.width > max_width or image.height > max_height:
        image.thumbnail((max_width, max_height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def _plain_mode(source: Image.Image, grey: bool) -> Image.Image:
    """Bilevel, 16-bit, palette, CMYK, alpha...: grey or RGB, as a page is shown."""
    if source.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return source.point(lambda value: value / 256).convert("L")  # 16-bit grey scans
    if grey or source.mode in ("1", "L", "LA"):
        return source.convert("L")
    if source.mode in ("RGBA", "LA", "PA") or "transparency" in source.info:
        rgba = source.convert("RGBA")
        paper = Image.new("RGB", rgba.size, (255, 255, 255))
        paper.paste(rgba, mask=rgba.getchannel("A"))
        return paper
    return source.convert("RGB")


def page_image(data: bytes, content_type: str, page: int, *, max_width: int = READ_WIDTH,
               max_height: int = READ_HEIGHT) -> Image.Image:
    """Page `page` (from 1) of a scan at the reader's size, without a watermark.
    PageOutOfRange, PageTooLarge or UnreadableScan when it cannot be shown."""
    if content_type == PDF:
        image = _pdf_page(data, page, dpi=None, max_width=max_width, max_height=max_height, grey=False)
    else:
        image = _image_frame(data, page, max_width=max_width, max_height=max_height, grey=False)
    return image.convert("L") if image.mode == "RGB" and _looks_grey(image) else image


def _looks_grey(image: Image.Image) -> bool:
    """An RGB page with no colour in it (PDFium always draws RGB; scanners often save grey
    paper as colour JPEG): kept grey, its PNG is a third the size and takes half the time."""
    red, green, blue = image.split()
    return all(ImageChops.difference(one, other).getextrema()[1] <= GREY_TOLERANCE
               for one, other in ((red, green), (green, blue)))


def ocr_image(data: bytes, content_type: str, page: int) -> Image.Image:
    """Page `page` in grey at about OCR_DPI for text recognition (a PDF rendered at that
    resolution, an image as scanned), at most OCR_MAX_PIXELS."""
    side = int(math.sqrt(OCR_MAX_PIXELS * 2))  # bounds of a page of up to OCR_MAX_PIXELS, either way up
    if content_type == PDF:
        image = _pdf_page(data, page, dpi=OCR_DPI, max_width=side, max_height=side, grey=True)
    else:
        image = _image_frame(data, page, max_width=side, max_height=side, grey=True)
    if image.width * image.height > OCR_MAX_PIXELS:
        factor = math.sqrt(OCR_MAX_PIXELS / (image.width * image.height))
        image = image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))),
                             Image.Resampling.LANCZOS)
    return image


# --- the watermark ------------------------------------------------------------------------

def font_path() -> Path:
    return Path(font_roboto.Roboto).parent / "Roboto-Medium.ttf"


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


@lru_cache(maxsize=64)
def _stamp(text: str, size: int) -> Image.Image:
    """The watermark's text block, rotated: a mask (L), WATERMARK_STRENGTH where it inks."""
    font = _font(size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = (math.floor(value) for value in probe.multiline_textbbox((0, 0), text, font=font, align="center",
                                                        spacing=size // 3))
    pad = size
    block = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(block).multiline_text((pad - left, pad - top), text, fill=WATERMARK_STRENGTH, font=font,
                                         align="center", spacing=size // 3)
    return block.rotate(WATERMARK_ANGLE, resample=Image.Resampling.BICUBIC, expand=True)


def watermark(image: Image.Image, lines: Sequence[str]) -> Image.Image:
    """`image` with `lines` tiled over it diagonally, semi-transparent. A new image."""
    text = "\n".join(line for line in lines if line)
    if not text:
        raise ValueError("a watermark needs a text")
    size = max(12, min(image.width, image.height * 2) // 42)
    stamp = _stamp(text, size)
    mask = Image.new("L", image.size, 0)
    step_x, step_y = stamp.width + size * 2, max(1, stamp.height * 2 // 3 + size)
    for row, y in enumerate(range(-stamp.height // 2, image.height, step_y)):
        for x in range(-stamp.width // 2 - (row % 2) * (step_x // 2), image.width, step_x):
            # Only where the mask is still empty: tiles never stack into a darker band.
            region = (x, y, x + stamp.width, y + stamp.height)
            mask.paste(ImageChops.lighter(mask.crop(region), stamp), region)
    ink = Image.new(image.mode, image.size, WATERMARK_GREY if image.mode == "L" else WATERMARK_RGB)
    return Image.composite(ink, image, mask)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Level 3: within a few per cent of the default's size at half its time for scanned pages.
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def watermarked_page(data: bytes, content_type: str, page: int, lines: Sequence[str]) -> RenderedPage:
    """Page `page` of a scan at the reader's size with the watermark, as a PNG."""
    image = watermark(page_image(data, content_type, page), lines)
    return RenderedPage(encode_png(image), image.width, image.height)
