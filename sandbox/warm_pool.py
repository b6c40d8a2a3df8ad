"""The warm pool: sandboxes made ahead of time, so a run starts by taking one.

A slot is everything a sandbox needs but its work: the run's internal network and egress proxy
(started, ready), and the sandbox container itself, already running under the full policy
(user, limits, read-only root, no capability) a launcher that waits for its job. Its folder on
the host holds two empty directories bound into it when it was made: `workspace` (at the
sandbox's workdir) and `job` (read-only at `/run/burndown`).

Taking a slot renames its container (`bdpool-...` to `bdrun-<deployment>-<run>-...`): Docker
renames atomically, so two runs, even in two processes, never get the same one, and a taken
slot is never offered again. The run's tree reaches the running container by renaming its
top-level entries into `workspace` (the bound directory: they appear inside at once, nothing is
copied), then the job (argv, environment, cwd) is written to `job/job.json` and the launcher
`exec`s it. Afterwards the container, proxy and network are removed and the entries renamed
back. Nothing of the run is in the slot before it is taken.

Slots belong to a key: the image, the whole policy but its time limits (limits, allowlist,
runtime), the user, home and workdir. A spec with another key is never served from a pool.
Every resource carries the usual labels (managed, deployment, a `pool-<slot>` run id and a
deadline: its pool age limit plus the run limit plus a margin) and `org.burndown.pool`, so the
reaper and `drain` find them.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container
from docker.types import LogConfig

from sandbox.docker_client import best_effort, remove_resource, translate_docker_errors
from sandbox.egress import Egress, open_egress, proxy_events
from sandbox.errors import SandboxError
from sandbox.reaper import POOL_LABEL
from sandbox.runtime import (
    DEADLINE_LABEL,
    DEPLOYMENT_LABEL,
    LOG_LIMITS,
    MANAGED_LABEL,
    ROLE_LABEL,
    RUN_LABEL,
    ContainerSpec,
    EgressEvent,
)

SLOT_LABEL = "org.burndown.pool-slot"
JOB_DIR = "/run/burndown"
MARGIN_SECONDS = 300
HALF_MADE_SECONDS = 60
"""Making a slot takes seconds: pool resources this old without their sandbox are leftovers."""
_NAME = re.compile(r"[^A-Za-z0-9_.-]")
log = logging.getLogger(__name__)

LAUNCHER = """
import json, os, sys, time
path = "/run/burndown/job.json"
while not os.path.exists(path):
    time.sleep(0.004)
with open(path) as f:
    job = json.load(f)
os.chdir(job["cwd"])
env = dict(os.environ)
env.update(job["env"])
try:
    os.execvpe(job["argv"][0], job["argv"], env)
except OSError as exc:
    print(f"cannot start {job['argv'][0]}: {exc}", file=sys.stderr)
    sys.exit(127)
"""
"""Runs in a slot's container until its job arrives (polling: a few stat calls per 10 ms)."""


def pool_key(spec: ContainerSpec) -> str | None:
    """The pool `spec` can be served from, or None when its shape cannot be (a read-only or
    second mount)."""
    if len(spec.mounts) != 1 or spec.mounts[0].read_only or spec.mounts[0].target != spec.workdir:
        return None
    policy = spec.policy.model_dump(exclude={"timeout_seconds", "idle_timeout_seconds"})
    shape = {"image": spec.image, "policy": policy, "user": spec.user, "home": spec.home}
    shape["workdir"] = spec.workdir
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Slot:
    """A taken slot: its container and its folder on the host."""

    id: str
    container: Container
    folder: Path
    spec: ContainerSpec
    """The spec it was taken for: the pool of its key is refilled when it is released."""

    @property
    def workspace(self) -> Path:
        return self.folder / "workspace"


class WarmPool:
    """Slots of `deployment` under `root` (a folder on the host's Docker paths), `size` per key,
    each offered for at most `max_age` seconds."""

    def __init__(
        self,
        client: docker.DockerClient,
        root: Path,
        *,
        size: int,
        deployment: str,
        max_age: float = 600.0,
    ) -> None:
        self.root = root
        self.size = size
        self.max_age = max_age
        self._client = client
        self._deployment = deployment
        self._dep = _NAME.sub("-", deployment)
        self._filling: set[str] = set()
        self._lock = threading.Lock()

    def take(self, spec: ContainerSpec) -> Slot | None:
        """A ready slot of `spec`'s key, now this run's (renamed after its run id), refilled
        when released; None when there is none (then refilled at once, in the background)."""
        key = pool_key(spec)
        if key is None or self.size <= 0:
            return None
        run = _NAME.sub("-", spec.labels.get(RUN_LABEL, "adhoc"))
        for c in self._free(key):
            slot_id = _labels(c)[SLOT_LABEL]
            if self._claim(c, f"bdrun-{self._dep}-{run}-{slot_id}"):
                return Slot(slot_id, c, self.root / slot_id, spec)
        self.refill_soon(spec)  # none ready: this run starts cold, the next ones warm
        return None

    def refill_soon(self, spec: ContainerSpec) -> None:
        """Fill `spec`'s pool up to its size in a background thread (one per key at a time)."""
        key = pool_key(spec)
        with self._lock:
            if key is None or key in self._filling:
                return
            self._filling.add(key)

        def fill() -> None:
            try:
                self.fill(spec)
            except Exception as exc:  # a pool that cannot fill serves cold runs
                log.warning("the warm pool cannot fill: %s", exc)
            finally:
                with self._lock:
                    self._filling.discard(key)

        threading.Thread(target=fill, name=f"pool-{key}", daemon=True).start()

    def fill(self, spec: ContainerSpec) -> int:
        """Make slots for `spec`'s key until `size` are free; the number made."""
        key = pool_key(spec)
        if key is None:
            return 0
        made = 0
        while len(self._free(key)) < self.size:
            self._make(spec, key)
            made += 1
        return made

    def release(self, slot: Slot, workspace: Path) -> list[EgressEvent]:
        """Remove a taken slot's container, give the tree back to `workspace`, remove its
        proxy, network and folder, refill its pool; the proxy's refusals."""
        events: list[EgressEvent] = []
        remove_resource(partial(slot.container.remove, force=True, v=True), f"sandbox {slot.id}")
        move_entries(slot.workspace, workspace)
        for proxy in self._containers({SLOT_LABEL: slot.id, ROLE_LABEL: "egress-proxy"}):
            best_effort(partial(proxy.stop, timeout=2), "stopping the egress proxy", None)
            events = proxy_events(proxy)
            remove_resource(partial(proxy.remove, force=True, v=True), f"proxy {slot.id}")
        self._remove_networks(slot.id)
        shutil.rmtree(slot.folder, ignore_errors=True)
        self.refill_soon(slot.spec)  # now, not while the run's sandbox was starting
        return events

    def drain(self, older_than: float = 0.0) -> int:
        """Remove this deployment's free slots offered for `older_than` seconds or more (all by
        default, when the deployment stops); and what a process that died while making a slot
        left (a proxy or network without its sandbox, a folder without a container) once a
        minute old. The number of free slots removed."""
        removed = 0
        now = time.time()
        used: set[str] = set()
        for c in self._containers({ROLE_LABEL: "sandbox"}):
            slot_id = _labels(c).get(SLOT_LABEL, "")
            used.add(slot_id)
            free = _name(c).startswith(f"bdpool-{self._dep}-")
            if free and now - _created(c) >= older_than and self._claim(c, f"bddrain-{slot_id}"):
                self._remove_slot(slot_id)
                removed += 1
        for c in self._containers({}, every=True):
            slot_id = _labels(c).get(SLOT_LABEL, "")
            if slot_id not in used and now - _created(c) > HALF_MADE_SECONDS:
                self._remove_slot(slot_id)
                used.add(slot_id)
        if self.root.exists():
            for folder in self.root.iterdir():
                if folder.name not in used and now - folder.stat().st_mtime > HALF_MADE_SECONDS:
                    shutil.rmtree(folder, ignore_errors=True)
        return removed

    def _claim(self, c: Container, name: str) -> bool:
        """Rename a free slot's container: Docker does it atomically, so of two claims (two
        runs, or a run and a drain) exactly one wins."""
        try:
            with translate_docker_errors("cannot claim a pool slot"):
                self._client.api.rename(str(c.id), name)
        except SandboxError:  # claimed by someone else meanwhile, or gone
            return False
        return True

    def _free(self, key: str) -> list[Container]:
        now = time.time()
        found = [
            c
            for c in self._containers({POOL_LABEL: key, ROLE_LABEL: "sandbox"})
            if _name(c).startswith(f"bdpool-{self._dep}-") and now - _created(c) < self.max_age
        ]
        return sorted(found, key=_created)

    def _containers(self, labels: dict[str, str], every: bool = False) -> list[Container]:
        wanted = [f"{MANAGED_LABEL}=true", f"{DEPLOYMENT_LABEL}={self._deployment}"]
        wanted += [f"{k}={v}" for k, v in labels.items()] + [POOL_LABEL]
        with translate_docker_errors("cannot list the warm pool"):
            found = self._client.containers.list(all=every, sparse=True, filters={"label": wanted})
        return list(found)

    def _make(self, spec: ContainerSpec, key: str) -> None:
        slot_id = uuid.uuid4().hex[:12]
        folder = self.root / slot_id
        self.root.mkdir(parents=True, mode=0o700, exist_ok=True)  # Docker binds; nobody else
        (folder / "workspace").mkdir(parents=True)
        (folder / "job").mkdir()
        if os.geteuid() == 0:
            uid, gid = (int(x) for x in spec.user.split(":", 1))
            os.chown(folder / "workspace", uid, gid)
        p = spec.policy
        deadline = time.time() + self.max_age + p.timeout_seconds + MARGIN_SECONDS
        labels = {
            RUN_LABEL: f"pool-{slot_id}",
            DEPLOYMENT_LABEL: self._deployment,
            POOL_LABEL: key,
            SLOT_LABEL: slot_id,
            DEADLINE_LABEL: str(int(deadline)),
        }
        with ExitStack() as stack:
            stack.callback(self._remove_slot, slot_id)  # unless all of it is made
            gate: Egress | None = None
            if p.allow_hosts:
                gate = open_egress(self._client, image=spec.image, policy=p, labels=labels)
            network: dict[str, Any] = {"network_mode": "none"}
            env: dict[str, str] = {}
            if gate is not None:
                network = {"network": gate.network_id, "dns": [gate.proxy_ip]}
                env = gate.env()
            with translate_docker_errors("cannot create a pool sandbox"):
                container = self._client.containers.create(
                    spec.image,
                    ["python3", "-I", "-S", "-c", LAUNCHER],
                    name=f"bdpool-{self._dep}-{slot_id}",
                    entrypoint=[],
                    environment=env,
                    working_dir=spec.workdir,
                    user=spec.user,
                    labels={MANAGED_LABEL: "true", **labels, ROLE_LABEL: "sandbox"},
                    volumes={
                        str(folder / "workspace"): {"bind": spec.workdir, "mode": "rw"},
                        str(folder / "job"): {"bind": JOB_DIR, "mode": "ro"},
                    },
                    read_only=True,
                    tmpfs={
                        "/tmp": f"rw,nosuid,nodev,size={p.tmpfs_size}",
                        spec.home: f"rw,nosuid,nodev,size={p.tmpfs_size},"
                        f"uid={spec.user.split(':')[0]},mode=0700",
                    },
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges:true"],
                    mem_limit=p.memory,
                    memswap_limit=p.memory,
                    nano_cpus=int(p.cpus * 1e9),
                    pids_limit=p.pids,
                    runtime=p.runtime,
                    detach=True,
                    log_config=LogConfig(type="json-file", config=LOG_LIMITS),
                    **network,
                )
            with translate_docker_errors("cannot start a pool sandbox"):
                container.start()
            stack.pop_all()  # the slot outlives this call: released by `release` or `drain`

    def _remove_slot(self, slot_id: str) -> None:
        for c in self._containers({SLOT_LABEL: slot_id}):
            remove_resource(partial(c.remove, force=True, v=True), f"pool {c.name}")
        self._remove_networks(slot_id)
        shutil.rmtree(self.root / slot_id, ignore_errors=True)

    def _remove_networks(self, slot_id: str) -> None:
        labels = [f"{SLOT_LABEL}={slot_id}", f"{DEPLOYMENT_LABEL}={self._deployment}"]
        with translate_docker_errors("cannot list the warm pool's networks"):
            nets = self._client.networks.list(filters={"label": labels})
        for net in nets:
            remove_resource(net.remove, f"network {net.name}")


@dataclass(frozen=True)
class PoolSettings:
    """How many slots per key (0: no pool), where their folders go, for which deployment."""

    size: int
    root: Path
    deployment: str
    max_age: float = 600.0

    def make(self, client: docker.DockerClient) -> WarmPool:
        return WarmPool(
            client, self.root, size=self.size, deployment=self.deployment, max_age=self.max_age
        )


def hand_job(slot: Slot, spec: ContainerSpec) -> None:
    """Give the slot's launcher its job (written whole, then renamed into place): it `exec`s
    `spec`'s command with its environment in its workdir."""
    job = slot.folder / "job" / "job.json"
    tmp = job.with_name(".job.tmp")
    tmp.write_text(json.dumps({"argv": spec.command, "env": spec.env, "cwd": spec.workdir}))
    tmp.chmod(0o644)
    os.rename(tmp, job)


def taken_slots(client: docker.DockerClient, run_id: str, deployment: str) -> list[Container]:
    """The pool containers that run `run_id` of `deployment` took (named after it)."""
    prefix = f"bdrun-{_NAME.sub('-', deployment)}-{_NAME.sub('-', run_id)}-"
    found = client.containers.list(sparse=True, filters={"name": prefix, "label": [POOL_LABEL]})
    return [c for c in found if _name(c).startswith(prefix)]


def move_entries(src: Path, dest: Path) -> None:
    """Rename every top-level entry of `src` into `dest` (same file system: nothing copied,
    nothing followed)."""
    for entry in _entries(src):
        os.rename(src / entry, dest / entry)


def _entries(folder: Path) -> Iterator[str]:
    with os.scandir(folder) as it:
        names = [e.name for e in it]
    yield from names


def _labels(c: Container) -> dict[str, str]:
    """A listed container's labels (a sparse listing keeps them at the top)."""
    return dict(c.attrs.get("Labels") or {})


def _name(c: Container) -> str:
    names = c.attrs.get("Names") or [c.attrs.get("Name") or ""]
    return str(names[0]).lstrip("/")


def _created(c: Container) -> float:
    """When a listed container was made (epoch seconds)."""
    value = c.attrs.get("Created")
    return float(value) if isinstance(value, int | float) else 0.0
