"""The engine's stage progress: quiet for short stages, lines with counts and time for long ones, and
wired through a real run of the pipeline."""

from __future__ import annotations

import json
import re
import time

from sam_engine.pipeline import process_spool
from sam_engine.progress import StageProgress, progress_line


def test_lines_say_how_far_a_stage_is_and_how_long_is_left():
    assert progress_line("ingest", 12.0, 4000, 10000, "hosts") == "ingest: 4,000/10,000 hosts (40%), 12 s, about 18 s left"
    assert progress_line("reconcile", 7.0, 0, None, "hosts") == "reconcile: 7 s"
    assert progress_line("report", 2.0, 3, 6, "files", estimate=False) == "report: 3/6 files (50%), 2 s"
    assert progress_line("ingest", 3.0, 12, 10, "hosts") == "ingest: 10/10 hosts (100%), 3 s", "a re-read never passes 100 %"
    assert progress_line("ingest", 41.2, 10000, 10000, "hosts", finished=True) == "ingest: 10,000 hosts in 41 s"
    assert progress_line("reconcile", 15.6, 0, None, "hosts", finished=True) == "reconcile: done in 16 s"


def test_a_short_stage_prints_nothing():
    lines: list[str] = []
    progress = StageProgress(lines.append, quiet_for=5.0, every=5.0)
    with progress.stage("ingest", total=3) as stage:
        for _ in range(3):
            stage.advance()
    assert lines == []


def test_a_long_stage_prints_its_count_while_it_runs_and_when_it_ends():
    lines: list[str] = []
    progress = StageProgress(lines.append, quiet_for=0.1, every=0.1)
    with progress.stage("report", total=2, unit="files") as stage:
        stage.step("index.html")
        time.sleep(0.6)
        stage.step("installations.csv")
        time.sleep(0.6)
        stage.finish()
    assert any(line.startswith("report: 0/2 files (0%)") and line.endswith("(index.html)") for line in lines)
    assert any(line.startswith("report: 1/2 files (50%)") and line.endswith("(installations.csv)") for line in lines)
    assert re.fullmatch(r"report: 2 files in \d+ s", lines[-1])


def test_the_pipeline_reports_each_stage(tmp_path):
    """A real spool through process_spool with a progress that shows every stage (threshold 0)."""
    spool = tmp_path / "spool"
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-01-01T00:00:00Z",
                                                "finished": "2026-01-01T00:01:00Z"}))
    result = {"software": [{"source": "dpkg", "name": "bash", "version": "5.2", "arch": "amd64"}],
              "host": {"machine_id": "m1", "hostname": "web1", "system": "Linux"}}
    (spool / "hosts" / "web1.json").write_text(json.dumps({"inventory_name": "web1", "status": "ok", "result": result}))
    lines: list[str] = []
    summary = process_spool(spool, store=str(tmp_path / "store.json"), report_dir=tmp_path / "reports",
                            installations=False, progress=StageProgress(lines.append, quiet_for=0.0, every=60))
    closing = [re.sub(r"\d+ s$", "N s", line) for line in lines if " in " in line]  # the time varies with load
    assert closing == ["ingest: 1 hosts in N s", "reconcile: done in N s", "report: 5 files in N s"], lines
    assert summary.as_dict()["reports"][0].endswith("index.html")
