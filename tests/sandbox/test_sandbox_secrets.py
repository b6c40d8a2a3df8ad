"""A hostile command looks for secrets everywhere it can: environment, /proc, the checkout and
its git config, its home, /tmp, /etc. It finds the model key (the harness needs it) and nothing
else: not the GitHub token the checkout was cloned with, not the webhook secret, not the store's
or the broker's URL, all of which are in the environment of the `burndown` that starts it."""

import subprocess
from pathlib import Path

import pytest

from tests.support.github_standin import GitHubStandIn
from tests.support.processes import sandbox_run, secrets_of
from worker.git import checkout

pytestmark = pytest.mark.docker

LOOK_EVERYWHERE = r"""
echo "== env"; env
echo "== proc"; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do tr '\0' '\n' < "$f"; done
echo "== git"; git config --list --show-origin; git remote -v; git log --all --format='%H %s'
echo "== files"
find /workspace /home/agent /tmp /etc /run /root /var -xdev -type f -size -1024k \
  -readable 2>/dev/null | while read -r f; do echo "-- $f"; cat "$f" 2>/dev/null; done
echo "== mounts"; cat /proc/self/mountinfo
echo "== done"
"""


def test_only_the_model_key_reaches_the_sandbox(
    env: dict[str, str], run_id: str, tmp_path: Path
) -> None:
    with GitHubStandIn() as gh:
        token = gh.add_repo("acme/private", {"README.md": "hi\n"}, private=True)
        env["BURNDOWN_GITHUB_TOKEN"] = token
        with checkout(
            gh.git_url("acme/private"),
            token,
            base_branch="main",
            branch="burndown/issue-1",
            parent=tmp_path / "ws",
            timeout=60,
        ) as co:
            subprocess.run(["chown", "-R", "1000:1000", str(co.root)], check=True, timeout=30)
            ran = sandbox_run(
                ["--repo", str(co.path), "--", "bash", "-c", LOOK_EVERYWHERE], env, run_id=run_id
            )
    assert ran.code == 0, ran.err
    assert "== done" in ran.out and "-- /workspace/README.md" in ran.out
    assert "file:.git/config\tcore.repositoryformatversion" in ran.out  # git config was read
    assert "-- /workspace/.git/config" in ran.out
    # What the harness needs is there (so the search did see the environment) ...
    assert env["BURNDOWN_ANTHROPIC_API_KEY"] in ran.out
    assert f"ANTHROPIC_BASE_URL={env['BURNDOWN_ANTHROPIC_BASE_URL']}" in ran.out
    # ... and nothing else of the deployment's.
    for secret in [token, *secrets_of(env)]:
        assert secret not in ran.out, "a secret reached the sandbox"
    assert "BURNDOWN_" not in ran.out
    # The only host folder in the sandbox is the workspace: nothing else comes from the host's
    # disk but the files Docker writes for every container (resolv.conf, hostname, hosts).
    mounts = [m.split() for m in ran.out.rsplit("\n== mounts\n", 1)[1].splitlines()]
    mounts = [m for m in mounts if len(m) > 4 and m[0].isdigit()]
    (device,) = {m[2] for m in mounts if m[4] == "/workspace"}
    from_disk = sorted(m[4] for m in mounts if m[2] == device)
    assert from_disk == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/workspace"]
