"""The repository cache keeps the trust boundary: a hostile script in the real sandbox, given a
tree from the cache, rewrites everything it can reach (its `.git` objects, refs, hooks, config,
alternates) and looks for the mirror; the mirror is unchanged, the host commits exactly the
change the tree holds, and the next run from the same mirror is sound."""

import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path

from sandbox.docker_runtime import DockerRuntime
from sandbox.harness.run import sandbox_user
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerSpec, Mount, SandboxPolicy
from tests.support.gitrepo import make_remote
from worker.git import checkout
from worker.repo_cache import RepoCache

HOSTILE = r"""
set -u
cd /workspace
echo "The widgets." > README.md
find / -xdev -name '*.pack' -not -path '/workspace/*' -not -path '/proc/*' 2>/dev/null \
  | sed 's/^/foreign pack: /'
test -e "$MIRROR" && echo "mirror visible"
for f in $(find .git -type f); do chmod u+w "$f"; printf 'garbage' > "$f"; done
mkdir -p .git/objects/info .git/hooks
printf '%s/objects\n' "$MIRROR" > .git/objects/info/alternates
printf '#!/bin/sh\ntouch /tmp/pwned\n' > .git/hooks/pre-commit
chmod +x .git/hooks/pre-commit
printf '[core]\n\thooksPath = /workspace/.git/hooks\n\tfsmonitor = /bin/true\n' > .git/config
echo done
"""


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_hostile_sandbox_cannot_touch_the_mirror_or_the_host_s_view(
    tmp_path: Path, sandbox_image: str
) -> None:
    remote = make_remote(tmp_path, {"README.md": "Teh widgets.\n", "src/a.py": "a = 1\n"})
    url = f"file://{remote}"
    cache = RepoCache(tmp_path / "cache", timeout=120, lock_timeout=60)
    user = sandbox_user()
    kw = {"base_branch": None, "parent": tmp_path / "ws", "timeout": 120.0, "cache": cache}
    with checkout(url, None, branch="warm-up", user=user, **kw):  # type: ignore[arg-type]
        pass
    deadline = time.monotonic() + 120
    while cache.spares.ready(cache.path_of(url)) < 1:  # the hostile run gets a spare tree
        assert time.monotonic() < deadline
        time.sleep(0.1)
    mirror = cache.path_of(url)
    subprocess.run(["git", "-C", str(mirror), "repack", "-adq"], check=True, timeout=120)
    before = _digests(mirror / "objects")
    with checkout(url, None, branch="burndown/issue-1", user=user, **kw) as co:  # type: ignore[arg-type]
        assert "spare_tree" in co.stages
        co.give_to(co.path, user)
        lines: list[str] = []
        rid = f"iso-{uuid.uuid4().hex[:8]}"
        done = DockerRuntime(api_timeout=60).run(
            ContainerSpec(
                image=sandbox_image,
                command=["sh", "-c", HOSTILE],
                env={"MIRROR": str(mirror)},
                user=user,
                mounts=[Mount(source=co.path, target="/workspace")],
                labels={RUN_LABEL: rid, DEPLOYMENT_LABEL: "iso-test"},
                policy=SandboxPolicy(timeout_seconds=120, idle_timeout_seconds=60),
            ),
            lines.append,
        )
        assert done.exit_code == 0 and lines[-1] == "done", (done, lines)
        assert not [ln for ln in lines if ln.startswith("foreign pack") or "mirror" in ln]
        sha = co.commit_all("fix", "bot", "bot@x")
        assert sha is not None
        assert [f.path for f in co.changes(co.base_sha, sha)] == ["README.md"]
        assert co.show(sha, "README.md") == "The widgets."
        assert co.show(sha, "src/a.py") == "a = 1"
        assert not (tmp_path / "pwned").exists()
    assert _digests(mirror / "objects") == before
    subprocess.run(["git", "-C", str(mirror), "fsck", "--strict"], check=True, timeout=120)
    with checkout(url, None, branch="b/2", user=user, **kw) as again:  # type: ignore[arg-type]
        assert (again.path / "README.md").read_text() == "Teh widgets.\n"
        assert os.listdir(again.path / ".git" / "objects" / "pack")
