"""The campaign-import bench (bench/campaigns.py) runs end to end at a tiny size, so it cannot
rot: the dossiers are built, the list is half known people, both imports run and the table
prints. Speed is not a test."""

from __future__ import annotations

from bench import campaigns as campaigns_bench


def test_the_campaign_bench_runs_at_a_tiny_size(capsys):
    assert campaigns_bench.main(["--dossiers", "60", "--nominees", "12"]) == 0
    printed = capsys.readouterr().out
    assert "campaign import: 12 nominees at 60 dossiers (s)" in printed
    assert "6 nominees matched to dossiers" in printed and "target: under 30 s — met" in printed
