"""The import contracts of pyproject.toml, checked by the real `lint-imports` that `./scripts/lint`
runs: kept on the real tree, broken by an import against the layers and by an import cycle.

The broken cases run on a copy of the three packages in a temporary directory, found first on
the path (before the editable install of the real tree)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("sandbox", "worker", "scheduler")
LAYERS = "Layers: scheduler imports worker imports sandbox, never the other way"
ACYCLIC = "No import cycles between the modules of a package, at any depth"
TIMEOUT = 120.0


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` of this environment with the contracts of `root`/pyproject.toml, run on
    the packages under `root`."""
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def copy_tree(tmp_path: Path) -> Path:
    """The three packages and pyproject.toml, copied to `tmp_path`."""
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_real_tree_keeps_every_contract() -> None:
    ran = lint_imports(REPO_ROOT)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"{LAYERS} KEPT" in ran.stdout
    assert "0 broken" in ran.stdout


def test_the_copy_keeps_every_contract(tmp_path: Path) -> None:
    # the copy is what the failing cases change: unchanged, it must pass like the real tree
    ran = lint_imports(copy_tree(tmp_path))

    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_sandbox_importing_scheduler_breaks_the_layers(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    append(root / "sandbox" / "errors.py", "import scheduler  # noqa: F401")

    ran = lint_imports(root)

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"{LAYERS} BROKEN" in ran.stdout
    assert f"{ACYCLIC} KEPT" in ran.stdout
    assert "sandbox.errors -> scheduler" in ran.stdout


def test_worker_importing_scheduler_breaks_the_layers(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "worker" / "upward.py").write_text("from scheduler import cli  # noqa: F401\n")

    ran = lint_imports(root)

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"{LAYERS} BROKEN" in ran.stdout
    assert "worker.upward -> scheduler.cli" in ran.stdout


def test_a_cycle_between_two_worker_modules_is_reported(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "worker" / "cycle_a.py").write_text("from worker import cycle_b  # noqa: F401\n")
    (root / "worker" / "cycle_b.py").write_text("from worker import cycle_a  # noqa: F401\n")

    ran = lint_imports(root)

    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"{ACYCLIC} BROKEN" in ran.stdout
    assert f"{LAYERS} KEPT" in ran.stdout
    assert "No cycles are allowed in worker." in ran.stdout
    assert "cycle_a" in ran.stdout
    assert "cycle_b" in ran.stdout
