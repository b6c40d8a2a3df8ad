"""The repository cache: a run starts from a mirror fetched now and a spare tree caught up to
the new base; fetches of one repository wait for each other; a broken mirror is cloned again;
pruning keeps what is in use; nothing of the sandbox's tree shares an inode with the mirror."""

import os
import threading
import time
from pathlib import Path

import pytest

from tests.support.gitrepo import git, make_remote
from worker.errors import GitError
from worker.git import checkout
from worker.repo_cache import RepoCache

USER = f"{os.getuid()}:{os.getgid()}"


def _cache(tmp_path: Path) -> RepoCache:
    return RepoCache(tmp_path / "cache", timeout=120, lock_timeout=30)


def _push_commit(tmp_path: Path, remote: Path, path: str, content: str) -> str:
    work = tmp_path / f"push-{time.monotonic_ns()}"
    git("clone", "-q", str(remote), str(work), cwd=tmp_path)
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-qm", f"change {path}", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def _wait_spare(cache: RepoCache, url: str) -> None:
    deadline = time.monotonic() + 120
    while cache.spares.ready(cache.path_of(url)) < 1:
        assert time.monotonic() < deadline, "no spare tree was made"
        time.sleep(0.1)


def _run(cache: RepoCache, url: str, tmp_path: Path, spares: int = 1) -> tuple[str, str, dict]:
    with checkout(
        url,
        None,
        base_branch=None,
        branch="burndown/issue-1",
        parent=tmp_path / "ws",
        timeout=120,
        cache=cache,
        user=USER,
        spares=spares,
    ) as co:
        readme = (co.path / "README.md").read_text()
        (co.path / "README.md").write_text(readme + "agent line\n")
        sha = co.commit_all("m", "bot", "bot@x")
        assert sha is not None
        changed = [f.path for f in co.changes(co.base_sha, sha)]
        assert changed == ["README.md"]
        agent_head = git("rev-parse", "HEAD", cwd=co.path)
        assert agent_head == co.base_sha  # the agent's git starts at the base, on its branch
        assert git("symbolic-ref", "--short", "HEAD", cwd=co.path) == "burndown/issue-1"
        return co.base_sha, readme, dict(co.stages)


def test_a_second_run_sees_new_commits_through_its_spare_tree(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "one\n", "src/a.py": "a\n"})
    url, cache = f"file://{remote}", _cache(tmp_path)
    first, readme, stages = _run(cache, url, tmp_path)
    assert readme == "one\n" and "tree_build" in stages  # nothing ready yet: made in place
    _wait_spare(cache, url)
    new = _push_commit(tmp_path, remote, "README.md", "two\n")
    _push_commit(tmp_path, remote, "src/deep/new.py", "new\n")
    base, readme, stages = _run(cache, url, tmp_path)
    assert base != first and readme == "two\n" and "spare_tree" in stages
    assert git("rev-parse", "main", cwd=remote) == base and new != first


def test_the_sandbox_tree_shares_no_inode_with_the_mirror_or_the_host(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "one\n", "b.txt": "b\n"})
    url, cache = f"file://{remote}", _cache(tmp_path)
    _run(cache, url, tmp_path)
    _wait_spare(cache, url)
    with checkout(
        url,
        None,
        base_branch=None,
        branch="b/2",
        parent=tmp_path / "ws",
        timeout=120,
        cache=cache,
        user=USER,
    ) as co:

        def inodes(root: Path) -> set[tuple[int, int]]:
            found = set()
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    st = os.lstat(os.path.join(dirpath, name))
                    found.add((st.st_dev, st.st_ino))
            return found

        tree = inodes(co.path)
        assert tree and not tree & inodes(cache.path_of(url))
        assert not tree & inodes(co.gitdir)
        alternates = (co.gitdir / "objects" / "info" / "alternates").read_text()
        assert str(cache.path_of(url)) in alternates  # the host borrows, the tree copies
        assert not (co.path / ".git" / "objects" / "info" / "alternates").exists()


def test_fetches_of_one_repository_wait_for_each_other(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "one\n"})
    url, cache = f"file://{remote}", _cache(tmp_path)
    cache.fetch(url, None)
    released: list[float] = []
    held = threading.Event()

    def hold() -> None:
        with cache._lock(cache.path_of(url), "fetch", exclusive=True, wait=5):
            held.set()
            time.sleep(1.0)
            released.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    cache.fetch(url, None)
    fetched = time.monotonic()
    holder.join()
    assert released and fetched >= released[0]  # it waited for the lock, whatever the load

    impatient = RepoCache(tmp_path / "cache", timeout=120, lock_timeout=0.2)
    with (
        cache._lock(cache.path_of(url), "fetch", exclusive=True, wait=5),
        pytest.raises(GitError, match=r"lock .* stayed held"),
    ):
        impatient.fetch(url, None)


def test_concurrent_fetches_all_end_with_a_sound_mirror(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "one\n"})
    url, cache = f"file://{remote}", _cache(tmp_path)
    heads: list[str] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            heads.append(cache.fetch(url, None).head)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(heads)) == 1
    assert heads[0] == git("rev-parse", "main", cwd=remote)


@pytest.mark.parametrize("damage", ["objects", "head"])
def test_a_corrupted_mirror_is_cloned_again(tmp_path: Path, damage: str) -> None:
    remote = make_remote(tmp_path, {"README.md": "one\n"})
    url, cache = f"file://{remote}", _cache(tmp_path)
    mirror = cache.fetch(url, None).path
    if damage == "objects":
        git("repack", "-adq", cwd=mirror)
        for pack in (mirror / "objects" / "pack").iterdir():
            pack.chmod(0o644)
            pack.write_bytes(b"garbage")
    else:
        (mirror / "HEAD").write_text("not a ref\n")
    again = cache.fetch(url, None)
    assert again.head == git("rev-parse", "main", cwd=remote)
    base, readme, _ = _run(cache, url, tmp_path, spares=0)
    assert readme == "one\n" and base == again.head


def test_prune_removes_old_and_oversized_mirrors_but_not_one_in_use(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    urls = []
    for name in ["a", "b", "c"]:
        remote = make_remote(tmp_path / name, {"README.md": f"{name}\n"})
        urls.append(f"file://{remote}")
        cache.fetch(urls[-1], None)
    old = time.time() - 10 * 86400
    for url in urls[:2]:
        os.utime(cache.path_of(url), (old, old))
    with cache.using(cache.path_of(urls[0])):  # in use: kept, however old
        os.utime(cache.path_of(urls[0]), (old, old))
        report = cache.prune(max_age_seconds=86400, max_bytes=10**12)
    assert report.removed == [cache.path_of(urls[1]).name]
    assert cache.path_of(urls[0]).exists() and cache.path_of(urls[2]).exists()
    report = cache.prune(max_age_seconds=86400, max_bytes=0)  # nothing fits: all go
    assert sorted(report.removed) == sorted(cache.path_of(u).name for u in [urls[0], urls[2]])
    assert not list((tmp_path / "cache" / "mirrors").glob("*.git"))
