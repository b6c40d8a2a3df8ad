"""Workspace preparation on a large repository: a repeat ticket (repository cache: mirror fetch,
host repository on the mirror, a spare tree moved to the new base) against today's fresh full
clone (`clone --bare` from the remote, `clone --no-local` for the sandbox), side by side in one
run, each followed by the host's commit of a one-file change (hashing the tree).

    uv run python -m bench.workspace [--commits 20000] [--files 30000] [--runs 3]

The repository (tens of thousands of commits and files, built with `git fast-import`) is kept
under ~/.cache/burndown/bench by its parameters. It is served over HTTP by the GitHub stand-in
(`git http-backend`), and one new commit lands on it before every pair of runs, so each repeat
ticket also catches up with new commits. A miss of the cache's spare tree (the tree written on
the run's clock) is measured too.
"""

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.github_standin import GitHubStandIn
from worker.git import checkout
from worker.gitcmd import auth_env
from worker.repo_cache import RepoCache

REPO = "bench/large"
USER = "1000:1000" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"


def large_repo(commits: int, files: int) -> Path:
    """A bare repository of `files` files and `commits` commits, built once per parameters."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "burndown" / "bench"
    path = cache / f"large-c{commits}-f{files}.git"
    if (path / "packed-refs").exists() or (path / "refs" / "heads" / "main").exists():
        return path
    tmp = cache / f".building-{os.getpid()}.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(tmp)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=tmp, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    rng, per = random.Random(13), 1000
    for c in range(commits):
        proc.stdin.write(
            f"commit refs/heads/main\ncommitter B <b@b> {1_700_000_000 + c} +0000\n"
            f"data 10\ncommit {c % 100:02d}\n".encode()
        )
        touched = (
            range(c * per, min(files, (c + 1) * per)) if c * per < files else [rng.randrange(files)]
        )
        for i in touched:
            body = f"# file {i} version {c}\n" + "".join(
                f"line {k} of file {i}: {rng.random():.6f}\n" for k in range(12)
            )
            data = body.encode()
            name = f"pkg{i % 50}/mod{(i // 50) % 20}/f{i}.py"
            proc.stdin.write(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
    proc.stdin.close()
    if proc.wait(timeout=3600) != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(tmp), "repack", "-adq"], check=True, timeout=3600)
    os.rename(tmp, path)
    return path


def new_commit(repo: Path, n: int) -> None:
    """One more commit on main, changing one file (plumbing: no work tree)."""
    env = {**os.environ, "GIT_DIR": str(repo), "GIT_INDEX_FILE": str(repo / "bench.index")}
    env |= {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env |= {"GIT_COMMITTER_EMAIL": "b@b"}

    def git(*args: str, data: bytes | None = None) -> str:
        out = subprocess.run(
            ["git", *args], env=env, input=data, capture_output=True, check=True, timeout=600
        )
        return out.stdout.decode().strip()

    git("read-tree", "main")
    blob = git("hash-object", "-w", "--stdin", data=f"new content {n}\n".encode())
    git("update-index", "--add", "--cacheinfo", f"100644,{blob},pkg0/mod0/f0.py")
    tree = git("write-tree")
    sha = git("commit-tree", tree, "-p", "main", "-m", f"new commit {n}")
    git("update-ref", "refs/heads/main", sha)


def push(source: Path, url: str, token: str) -> None:
    env = {**os.environ, **auth_env(token), "GIT_TERMINAL_PROMPT": "0"}
    subprocess.run(
        ["git", "-C", str(source), "push", "-q", "--force", url, "main:main"],
        env=env,
        check=True,
        timeout=3600,
    )


def one_ticket(
    url: str, token: str, work: Path, cache: RepoCache | None, spares: int = 1
) -> dict[str, float]:
    """Prepare a workspace, change one file, commit on the host: seconds of each part."""
    t0 = time.monotonic()
    with checkout(
        url,
        token,
        base_branch=None,
        branch="burndown/issue-1",
        parent=work,
        timeout=3600,
        cache=cache,
        user=USER,
        spares=spares,
    ) as co:
        co.give_to(co.path, USER)  # what the pipeline does before the sandbox
        t1 = time.monotonic()
        (co.path / "pkg1" / "mod0" / "f1.py").write_text("changed by the agent\n")
        sha = co.commit_all("change", "bot", "bot@x")
        t2 = time.monotonic()
        assert sha is not None and [f.path for f in co.changes(co.base_sha, sha)] == [
            "pkg1/mod0/f1.py"
        ]
        stages = dict(co.stages)
    return {"prepare": t1 - t0, "commit": t2 - t1, "total": t2 - t0, **stages}


def wait_spare(cache: RepoCache, url: str, limit: float = 1800) -> float:
    t0 = time.monotonic()
    while cache.spares.ready(cache.path_of(url)) < 1:
        if time.monotonic() - t0 > limit:
            raise SystemExit("no spare tree was made in time")
        time.sleep(0.5)
    return time.monotonic() - t0


def _line(name: str, rows: list[dict[str, float]], key: str) -> str:
    vals = [r[key] for r in rows if key in r]
    if not vals:
        return ""
    return f"  {name:<34} {key:<13} median {statistics.median(vals):8.3f} s   (n={len(vals)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=20000)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    t0 = time.monotonic()
    big = large_repo(args.commits, args.files)
    print(f"repository: {args.commits} commits, {args.files} files ({time.monotonic() - t0:.0f} s)")
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp, GitHubStandIn() as gh:
        work = Path(tmp)
        token = gh.add_repo(REPO, {"README.md": "seed\n"})
        source = work / "source.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(big), str(source)], check=True)
        url = gh.git_url(REPO)
        push(source, url, token)
        cache = RepoCache(work / "cache", timeout=3600, lock_timeout=3600)
        first = one_ticket(url, token, work / "runs", cache)  # the mirror's first clone
        print(f"first ticket (mirror cloned, tree written): {first['total']:.1f} s")
        fresh: list[dict[str, float]] = []
        repeat: list[dict[str, float]] = []
        for n in range(args.runs):
            new_commit(source, n)
            push(source, url, token)
            fresh.append(one_ticket(url, token, work / "runs", None))
            wait_spare(cache, url)
            repeat.append(one_ticket(url, token, work / "runs", cache))
        wait_spare(cache, url)  # none is being made now: remove the ready one
        for spare in (work / "cache" / "trees").glob("*/*"):
            subprocess.run(["rm", "-rf", str(spare)], check=True)
        miss = [one_ticket(url, token, work / "runs", cache, spares=0)]
    print(f"workspace preparation on a large repository, {args.runs} runs each, interleaved")
    for name, rows, keys in [
        ("fresh full clone (today)", fresh, ["prepare", "commit", "total"]),
        (
            "repeat ticket (cache, spare tree)",
            repeat,
            ["mirror_fetch", "host_repo", "spare_tree", "prepare", "commit", "total"],
        ),
        (
            "repeat ticket, no spare ready",
            miss,
            ["mirror_fetch", "host_repo", "tree_build", "prepare", "commit", "total"],
        ),
    ]:
        for key in keys:
            print(_line(name, rows, key))
    for key in ["prepare", "total"]:
        ratio = statistics.median(r[key] for r in fresh) / statistics.median(r[key] for r in repeat)
        print(f"ratio fresh / repeat ({key}): {ratio:.1f}x")


if __name__ == "__main__":
    main()
