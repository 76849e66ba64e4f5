"""`python -m bench.archive_reading [--dpi 200] [--pages 4] [--requests 40] [--database-url URL]`:
reading a scan page (issue 24 B.3, the Benchmark's "rendering a scan page p95"), p50 and p95,
for a PDF page and a TIFF frame as a document scanner writes them (A4 grey at --dpi: 200 dpi
is 1654 x 2339 pixels; the PDF one JPEG image per page, the TIFF grey with LZW), each beside
a bare baseline measured in the same process and run:

- bare: the page decoded and scaled to the reader's width and saved as PNG, no watermark
  (cases/archive/rendering.page_image + encode_png): what any server-side viewer pays;
- rendered: the same with the watermark (rendering.watermarked_page), what Hoso adds to it;
- request: GET /archive/scans/<id>/pages/<n>.png through the test client, signed in: the
  session and policy checks, the scan's blob opened (AES-GCM, under the dossier's key), the
  page rendered and watermarked, the audit entry recorded and committed. Data keys are cold
  (the cache emptied before each request), as for a scan nobody opened recently.

Pages are taken in turn (page 1, 2, ... of --pages), so no figure is one page's luck, and the
three rows of a format take turns too, so a busy moment of the machine weighs on each alike.
Setup writes a unit, an officer, a dossier and its two scans into the database: give it a
fresh one each run (by default a temporary SQLite file, removed afterwards)."""

from __future__ import annotations

import argparse
import io
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import Flask
from PIL import Image, ImageDraw, ImageFont

from cases.archive import rendering
from cases.archive.models import ArchiveDocument
from cases.archive.scans import add_scan
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectData
from protection import accounts
from protection.accounts import NewUser
from protection.db import db

UNIT = "BENCH-LUUTRU"
READER = "bench.archive.reader"
PASSWORD = "Bench-mark-song-Hong-2026"  # noqa: S105 - a throwaway bench account
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LINES = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "QUYẾT ĐỊNH",
         "Về việc kết nạp đảng viên", "Căn cứ Điều lệ Đảng Cộng sản Việt Nam;",
         "Xét đề nghị của chi bộ và của Đảng ủy cơ sở,", "Ban Thường vụ Huyện ủy quyết định:")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Row:
    label: str
    samples: list[float]
    baseline: Row | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95) * 1000


# --- the scans ---------------------------------------------------------------------------------

def scanner_page(seed: int, dpi: int) -> Image.Image:
    """An A4 page in grey at `dpi`, like a scanner's: printed lines, a faint background, dust."""
    rng = random.Random(seed)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("L", (width, height), 242)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(rendering.font_path().with_name("Roboto-Regular.ttf")), max(8, dpi // 7))
    line_height = dpi // 4
    y = dpi
    while y < height - dpi:
        words = " ".join(rng.choice(LINES) for _ in range(2))
        draw.text((dpi, y), words[: rng.randint(30, 70)], fill=rng.randint(10, 50), font=font)
        y += line_height
    for _ in range(width * height // 2000):
        draw.point((rng.randrange(width), rng.randrange(height)), fill=rng.randint(80, 200))
    return page


def pdf_scan(pages: int, dpi: int, seed: int = 1) -> bytes:
    images = [scanner_page(seed * 1000 + number, dpi) for number in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def tiff_scan(pages: int, dpi: int, seed: int = 2) -> bytes:
    images = [scanner_page(seed * 1000 + number, dpi) for number in range(pages)]
    buffer = io.BytesIO()
    images[0].save(buffer, "TIFF", compression="tiff_lzw", dpi=(dpi, dpi), save_all=True, append_images=images[1:])
    return buffer.getvalue()


# --- measuring ---------------------------------------------------------------------------------

def _setup(app: Flask, scans: dict[str, bytes]) -> dict[str, uuid.UUID]:
    with app.app_context():
        if accounts.find_unit(UNIT) is None:
            accounts.create_unit(code=UNIT, name="Bench lưu trữ", kind="organisation", parent_code=None, by=None)
        user, _password = accounts.create_user(NewUser(READER, "Nguyễn Thị Đọc Thử", UNIT, "officer", "secret"),
                                               password=PASSWORD, by=None, must_change_password=False)
        subject = subjects.create_subject(SubjectData("Lê Văn Lưu Trữ", date(1970, 5, 6), "038070012345"),
                                          owner_unit=user.unit, by=user)
        document = ArchiveDocument(subject=subject, position=1, doc_type="decision", title="Quyết định (bench)",
                                   classification="confidential")
        db.session.add(document)
        ids = {name: add_scan(document, data, f"bench.{name}", by=user).id for name, data in scans.items()}
        db.session.commit()
        return ids


def _sign_in(app: Flask):
    client = app.test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": READER, "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"archive reading bench: the reader could not sign in ({response.status_code})")
    return client


def _interleaved(operations: list[Callable[[int], object]], requests: int, pages: int) -> list[list[float]]:
    """Each operation `requests` times, taking turns (bare, rendered, request, bare, ...): a
    busy moment of the machine falls on all of them alike, so the ratios hold under load."""
    for operation in operations:
        operation(1)  # warm: fonts, PDFium, the first connection
    samples: list[list[float]] = [[] for _ in operations]
    for number in range(requests):
        for operation, taken in zip(operations, samples, strict=True):
            start = time.perf_counter()
            operation(number % pages + 1)
            taken.append(time.perf_counter() - start)
    return samples


def run(app: Flask, *, pages: int, requests: int, dpi: int) -> list[Row]:
    print(f"\nReading a scan page: A4 grey at {dpi} dpi ({round(8.27 * dpi)} x {round(11.69 * dpi)} px), "
          f"{pages} pages a scan, {requests} views each, to {rendering.READ_WIDTH} px wide", flush=True)
    scans = {"PDF": (pdf_scan(pages, dpi), rendering.PDF), "TIFF": (tiff_scan(pages, dpi), "image/tiff")}
    ids = _setup(app, {name: data for name, (data, _type) in scans.items()})
    client = _sign_in(app)
    keyring = app.extensions["hoso_keyring"]
    lines = ["Nguyễn Thị Đọc Thử · bench.archive.reader", "07/12/2026 09:30:00 (GMT+7)", "MẬT"]
    rows: list[Row] = []
    for name, (data, content_type) in scans.items():
        print(f"  measuring: {name} ({len(data) / 1e6:.1f} MB) ...", flush=True)

        def bare(page: int, data=data, kind=content_type) -> None:
            rendering.encode_png(rendering.page_image(data, kind, page))

        def rendered(page: int, data=data, kind=content_type) -> None:
            rendering.watermarked_page(data, kind, page, lines)

        def request(page: int, scan_id=ids[name]) -> None:
            keyring.forget_all()
            response = client.get(f"/archive/scans/{scan_id}/pages/{page}.png")
            if response.status_code != 200:
                raise SystemExit(f"archive reading bench: a page answered {response.status_code}")

        bare_samples, rendered_samples, request_samples = _interleaved([bare, rendered, request], requests, pages)
        baseline = Row(f"{name} bare: decode, scale, PNG", bare_samples)
        rows += [baseline, Row(f"{name} rendered with watermark", rendered_samples, baseline),
                 Row(f"{name} request (GET .png, audited)", request_samples, baseline)]
    return rows


def print_table(rows: list[Row]) -> None:
    print()
    print("Reading a scan page (server time; request = through the test client, data keys cold)")
    print(f"{'':<38} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'× bare p50':>11} {'× bare p95':>11}")
    for row in rows:
        base = row.baseline or row
        print(f"{row.label:<38} {len(row.samples):>5} {row.p50:>8.1f} {row.p95:>8.1f} "
              f"{row.p50 / base.p50:>11.2f} {row.p95 / base.p95:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.archive_reading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dpi", type=int, default=200, help="the scanner's resolution (default 200)")
    parser.add_argument("--pages", type=int, default=4, help="pages in each scan (default 4)")
    parser.add_argument("--requests", type=int, default=40, help="views measured in each row (default 40)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    args = parser.parse_args()
    if not 50 <= args.dpi <= 600 or args.pages < 1 or args.requests < 1:
        parser.error("--dpi must be 50 to 600, --pages and --requests at least 1")
    # Here, not at the top: bench.instance brings bench.crypto's own tables into the models'
    # metadata, which the test suite (which runs this bench small, on its own app) must not see.
    from bench.instance import build_hoso

    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        print(f"Hoso archive reading bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}")
        print_table(run(app, pages=args.pages, requests=args.requests, dpi=args.dpi))
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
