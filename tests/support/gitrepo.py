"""Local bare repositories for unit tests (real git, no server)."""

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(cwd),
        },
    ).stdout.strip()


def make_remote(root: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A bare repository at root/remote.git with one commit holding `files`."""
    seed = root / "seed"
    seed.mkdir(parents=True)
    git("init", "-q", "-b", branch, cwd=seed)
    for name, content in files.items():
        (seed / name).parent.mkdir(parents=True, exist_ok=True)
        (seed / name).write_text(content)
    git("add", "-A", cwd=seed)
    git("commit", "-qm", "initial", cwd=seed)
    bare = root / "remote.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=root)
    return bare
