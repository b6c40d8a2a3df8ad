"""A repository's environment: its toolchain, and its setup kept as an image.

The toolchain is `.burndown.yml`'s `toolchain`, else detected from the base commit's files
(pyproject.toml, setup.py or setup.cfg: python; package.json: node; go.mod: go; Cargo.toml:
rust). The setup is `.burndown.yml`'s, else the toolchain's usual one. It runs once per set of
inputs (the image it starts from, the setup commands, the package hosts, and the contents of
the repository's manifests and lockfiles), in a sandbox that reaches only the package hosts,
and the result is committed as `burndown-env:<hash of the inputs>`; the agent's sandbox and
both verification sandboxes start from it. It is built again when an input changes or when it
is older than the time to live; a file lock makes two runs needing it build it once.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.egress_proxy import parse_rule
from sandbox.env_image import ENV_REPOSITORY, KEY_LABEL, EnvImage, EnvironmentImages
from sandbox.errors import ImageError
from sandbox.images.host import cache_lock
from sandbox.images.inputs import short_hash
from sandbox.runtime import ContainerSpec, Mount, SandboxPolicy
from worker.errors import ConfigError
from worker.logs import get_logger
from worker.repo_config import RepoConfig

log = get_logger(__name__)

#: Files whose contents decide what a setup installs: a change to one builds the environment again.
MANIFESTS: tuple[str, ...] = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-test.txt",
    "dev-requirements.txt",
    "test-requirements.txt",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "go.mod",
    "go.sum",
    "Cargo.toml",
    "Cargo.lock",
)

#: First match wins; a Python project with a Rust part is a Python project.
_DETECT: tuple[tuple[str, str], ...] = (
    ("pyproject.toml", "python"),
    ("setup.py", "python"),
    ("setup.cfg", "python"),
    ("package.json", "node"),
    ("go.mod", "go"),
    ("Cargo.toml", "rust"),
)

ReadFile = Callable[[str], str | None]
"""A file of the base commit by path; None when it has none."""


def detect_toolchain(read: ReadFile) -> str | None:
    """The toolchain the repository's files call for, or None."""
    for name, toolchain in _DETECT:
        if read(name) is not None:
            return toolchain
    return None


def default_setup(toolchain: str, read: ReadFile) -> list[str]:
    """The usual setup of a `toolchain` project, from the files it has."""
    if toolchain == "python":
        cmds = [f"pip install -r {f}" for f in MANIFESTS if f.endswith(".txt") and read(f)]
        if read("pyproject.toml") is not None or read("setup.py") is not None:
            cmds.append("pip install -e .")
        return cmds
    if toolchain == "node":
        has_lock = read("package-lock.json") or read("npm-shrinkwrap.json")
        install = "npm ci" if has_lock else "npm install"
        return [f"{install} && cp -a node_modules/. /opt/env/node_modules/"]
    if toolchain == "go":
        return ["go mod download"]
    if toolchain == "rust":
        return ["cargo fetch"]
    return []


@dataclass(frozen=True)
class EnvPlan:
    """Where a run's sandboxes start: the image, and the setup kept in it (if any)."""

    image: str
    """The toolchain image (or the repository's `image`, or the operator's default)."""
    toolchain: str | None
    setup: tuple[str, ...]
    package_hosts: tuple[str, ...]
    inputs: dict[str, object] = field(default_factory=dict)
    source: str = "default"

    @property
    def key(self) -> str:
        """The hash of every input of the setup: its image's tag names it."""
        return short_hash(
            {"image": self.image, "setup": self.setup, "hosts": self.package_hosts, **self.inputs}
        )

    @property
    def tag(self) -> str:
        return f"{ENV_REPOSITORY}:{self.key}"


def plan_environment(
    repo: RepoConfig,
    read: ReadFile,
    *,
    default_image: str,
    toolchain_image: str,
    operator_package_hosts: Sequence[str],
) -> EnvPlan:
    """The environment a repository asks for. `toolchain_image` holds `{toolchain}`; the
    repository's `package_hosts` must be covered by the operator's (`ConfigError` otherwise)."""
    toolchain = repo.toolchain or detect_toolchain(read)
    source = (
        ".burndown.yml" if repo.toolchain else f"detected: {toolchain}" if toolchain else "none"
    )
    if repo.image:
        image, source = repo.image, ".burndown.yml image"
    elif toolchain:
        image = toolchain_image.format(toolchain=toolchain)
    else:
        image = default_image
    setup = repo.setup or (default_setup(toolchain, read) if toolchain else [])
    limits = [parse_rule(h) for h in operator_package_hosts]
    asked = [parse_rule(h) for h in repo.package_hosts]
    refused = [str(a) for a in asked if not any(lim.covers(a) for lim in limits)]
    if refused:
        raise ConfigError(
            f"package_hosts in .burndown.yml: {', '.join(refused)} not allowed by the operator "
            f"(allowed: {', '.join(operator_package_hosts) or 'none'})"
        )
    hosts = tuple(str(a) for a in asked) or tuple(operator_package_hosts)
    inputs: dict[str, object] = {
        "files": {f: short_hash(text) for f in MANIFESTS if (text := read(f)) is not None}
    }
    return EnvPlan(image, toolchain, tuple(setup), hosts, inputs, source)


@dataclass(frozen=True)
class EnvOutcome:
    """What became of a run's environment."""

    image: str
    """The image the run's sandboxes start from."""
    ready: bool
    """True: the setup is in `image` and need not run again."""
    built: bool = False
    seconds: float = 0.0
    detail: str = ""


def ensure_environment(
    images: EnvironmentImages,
    plan: EnvPlan,
    tree: Path,
    *,
    policy: SandboxPolicy,
    user: str,
    labels: dict[str, str],
    ttl_seconds: float,
    lock_dir: Path,
    on_line: Callable[[str], None] = lambda _line: None,
) -> EnvOutcome:
    """The environment image for `plan`, built from `tree` (the base commit's files) when it
    is missing or older than `ttl_seconds`; one builder at a time per key (a file lock).

    A setup that fails gives `ready=False` on the plain image: the run goes on, and its
    verification runs the setup itself (and says so when it fails)."""
    if not plan.setup:
        return EnvOutcome(plan.image, ready=True, detail="no setup")
    t0 = time.monotonic()
    found = _fresh(images, plan.tag, ttl_seconds)
    if found is not None:
        return EnvOutcome(found.tag, ready=True, detail="reused")
    try:
        with cache_lock(lock_dir / f"env-{plan.key}.lock", timeout=policy.timeout_seconds):
            found = _fresh(images, plan.tag, ttl_seconds)  # built meanwhile by another run
            if found is not None:
                return EnvOutcome(found.tag, True, seconds=time.monotonic() - t0, detail="reused")
            spec = ContainerSpec(
                image=plan.image,
                command=["sh", "-c", setup_script(plan.setup)],
                env={"HOME": "/opt/env/home"},
                home="/opt/env/home",
                user=user,
                mounts=[Mount(source=tree, target="/workspace")],
                labels=labels,
                policy=policy.model_copy(update={"allow_hosts": plan.package_hosts}),
            )
            env_labels = {KEY_LABEL: plan.key, "org.burndown.env.image": plan.image}
            if plan.toolchain:
                env_labels["org.burndown.env.toolchain"] = plan.toolchain
            result = images.build(spec, plan.tag, env_labels, on_line)
    except ImageError as exc:
        return EnvOutcome(plan.image, False, seconds=time.monotonic() - t0, detail=str(exc))
    took = time.monotonic() - t0
    if result.image is None:
        ex = result.exit
        why = f"limit: {ex.limit}" if ex.limit else f"exit code {ex.exit_code}"
        return EnvOutcome(plan.image, False, seconds=took, detail=f"the setup failed ({why})")
    log.info("environment built", tag=plan.tag, seconds=round(took, 1))
    return EnvOutcome(result.image.tag, True, built=True, seconds=took, detail="built")


def setup_script(setup: Sequence[str]) -> str:
    """The setup commands, each on lines of its own (a trailing `# comment` stays on its line);
    the first failure stops it with that command's exit code."""
    body = "".join(f"echo {_quote('$ ' + c)}\n(\n{c}\n) || exit $?\n" for c in setup)
    return f"set -u\ncd /workspace\n{body}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _fresh(images: EnvironmentImages, tag: str, ttl: float) -> EnvImage | None:
    found = images.find(tag)
    if found is None or time.time() - found.created > ttl:
        return None
    return found


def prune(images: EnvironmentImages, ttl_seconds: float, *, everything: bool = False) -> list[str]:
    """Remove the environment images older than `ttl_seconds` (all of them with
    `everything`); the tags removed. One in use by a running sandbox stays."""
    now = time.time()
    removed = []
    for image in images.list():
        if (everything or now - image.created > ttl_seconds) and images.remove(image.tag):
            removed.append(image.tag)
    return removed
