"""Debian's Chromium, headless, driven from its command line: the DOM after scripts ran, and
screenshots. `./scripts/bootstrap` installs it; a missing browser fails the test loudly."""

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

TIMEOUT = 90.0


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed: run ./scripts/bootstrap (as root)", pytrace=False)


@dataclass(frozen=True)
class Loaded:
    dom: str
    console: str  # Chromium's log, with the page's console messages and uncaught errors


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # we run as root in CI; the page is our own
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=5000",
                *args,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


def load(url: str) -> Loaded:
    """The page's DOM once its scripts have run."""
    done = _run(url, "--dump-dom")
    if done.returncode != 0 or "<html" not in done.stdout:
        raise AssertionError(f"chromium could not load {url}:\n{done.stderr[-3000:]}")
    return Loaded(done.stdout, done.stderr)


def screenshot(url: str, path: Path, width: int = 1280, height: int = 1800) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    done = _run(url, f"--screenshot={path}", f"--window-size={width},{height}")
    if done.returncode != 0 or not path.is_file() or path.stat().st_size == 0:
        raise AssertionError(f"chromium took no screenshot of {url}:\n{done.stderr[-3000:]}")
    return path
