"""The archive reading bench (bench/archive_reading.py) at a tiny size, so that it cannot rot:
it generates its PDF and TIFF scans, files them, and measures the bare render, the watermarked
render and the request for each, then prints its table. Speed is not asserted here (a bench
reports, a test checks). It runs on the test's own app and database."""

from __future__ import annotations

from bench import archive_reading as bench
from tests.conftest import audit_entries


def test_the_bench_files_its_scans_and_measures_every_row(app, capsys):
    rows = bench.run(app, pages=2, requests=2, dpi=60)
    assert [row.label for row in rows] == [
        "PDF bare: decode, scale, PNG", "PDF rendered with watermark", "PDF request (GET .png, audited)",
        "TIFF bare: decode, scale, PNG", "TIFF rendered with watermark", "TIFF request (GET .png, audited)"]
    assert all(len(row.samples) == 2 and row.p95 > 0 for row in rows)
    assert rows[1].baseline is rows[0] and rows[5].baseline is rows[3]
    # Each measured request (and its warm-up) was a real, audited page view.
    assert len(audit_entries(app, "archive.scan.page_view")) == 2 * (2 + 1)
    bench.print_table(rows)
    table = capsys.readouterr().out
    assert "TIFF request (GET .png, audited)" in table and "× bare p95" in table
