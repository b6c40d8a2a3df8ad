"""Every log line names the component that wrote it, in JSON and on the console."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Loggers are made at import time, before the process configures logging: as modules do.
SCRIPT = """
import sys
from worker.logs import configure_logging, get_logger
pipeline = get_logger("worker.pipeline")
intake = get_logger("scheduler.intake")
configure_logging(json=sys.argv[1] == "json")
pipeline.info("claimed", ticket_id=7)
intake.warning("refused", delivery="d-1")
pipeline.debug("below the level")
"""


def _log_lines(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [ANSI.sub("", line) for line in done.stderr.splitlines()]


def test_json_lines_carry_their_component() -> None:
    lines = [json.loads(line) for line in _log_lines("json")]
    assert [(x["component"], x["event"], x["level"]) for x in lines] == [
        ("worker.pipeline", "claimed", "info"),
        ("scheduler.intake", "refused", "warning"),
    ]
    assert lines[0]["ticket_id"] == 7 and lines[1]["delivery"] == "d-1"


def test_console_lines_carry_their_component() -> None:
    first, second = _log_lines("console")
    assert "claimed" in first and "component=worker.pipeline" in first
    assert "refused" in second and "component=scheduler.intake" in second


@pytest.mark.parametrize("package", ["worker", "scheduler"])
def test_loggers_are_made_only_through_get_logger(package: str) -> None:
    """A logger made with `structlog.get_logger("name")` loses its name: none may be."""
    direct = re.compile(r"structlog\.(get_logger|getLogger|wrap_logger)\(")
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        if path != REPO_ROOT / "worker" / "logs.py" and direct.search(path.read_text())
    ]
    assert offenders == []
