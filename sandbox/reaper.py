"""The reaper: removes the containers and networks that dead runs left behind.

Every sandbox resource carries `org.burndown.managed`, the run id, the deployment and a deadline
(its run's wall-clock limit plus a margin). A resource is dead when the store says its run is
over, or when its deadline has passed; a run the store does not know (`burndown sandbox run`)
lives until its deadline. Only resources of the given deployment are looked at, so deployments
sharing a Docker host never reap each other's, and nothing younger than `grace_seconds` is.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import docker

from sandbox.docker_client import remove_resource, translate_docker_errors
from sandbox.errors import SandboxError
from sandbox.runtime import DEADLINE_LABEL, DEPLOYMENT_LABEL, MANAGED_LABEL, RUN_LABEL

RunState = Callable[[str], bool | None]
"""Run id -> True while the run is live, False once it is over, None when unknown."""


@dataclass
class ReapReport:
    """What one pass removed, and what it failed to remove (left for the next pass)."""

    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def unknown_runs(_run_id: str) -> bool | None:
    return None


def reap(
    client: docker.DockerClient,
    *,
    deployment: str,
    run_state: RunState = unknown_runs,
    grace_seconds: float = 60.0,
    now: float | None = None,
) -> ReapReport:
    """Remove this deployment's dead sandbox containers, then its dead networks."""
    now = time.time() if now is None else now
    labels: list[str] = [f"{MANAGED_LABEL}=true", f"{DEPLOYMENT_LABEL}={deployment}"]
    filters: dict[str, str | list[str] | bool] = {"label": labels}
    report = ReapReport()
    with translate_docker_errors("cannot list sandbox resources"):
        containers = client.containers.list(all=True, sparse=True, filters=filters)
    for c in containers:
        found = taken_by(c.attrs, deployment) or dict(c.attrs.get("Labels") or {})
        if _dead(found, _created(c.attrs), run_state, grace_seconds, now):
            _remove(partial(c.remove, force=True, v=True), str(c.id), report.containers, report)
    with translate_docker_errors("cannot list sandbox resources"):
        networks = client.networks.list(filters=filters)
    for n in networks:
        if _dead(n.attrs.get("Labels") or {}, _created(n.attrs), run_state, grace_seconds, now):
            _remove(n.remove, str(n.id), report.networks, report)
    return report


def taken_by(attrs: dict[str, Any], deployment: str) -> dict[str, str] | None:
    """A warm pool's container taken by a run is named after it (`bdrun-<deployment>-<run>-
    <slot>`; its labels were fixed before): its labels with that run's id, or None."""
    labels = dict(attrs.get("Labels") or {})
    names = attrs.get("Names") or [attrs.get("Name") or ""]
    name = str(names[0]).lstrip("/")
    prefix = f"bdrun-{_NAME.sub('-', deployment)}-"
    if POOL_LABEL not in labels or not name.startswith(prefix):
        return None
    return labels | {RUN_LABEL: name.removeprefix(prefix).rsplit("-", 1)[0]}


_NAME = re.compile(r"[^A-Za-z0-9_.-]")
POOL_LABEL = "org.burndown.pool"


def _dead(
    labels: dict[str, str], created: float, run_state: RunState, grace: float, now: float
) -> bool:
    if now - created < grace:
        return False
    deadline = labels.get(DEADLINE_LABEL, "")
    if deadline.isdigit() and now > int(deadline):
        return True
    run = labels.get(RUN_LABEL)
    return run is not None and run_state(run) is False


def _remove(remove: Callable[[], Any], ident: str, removed: list[str], report: ReapReport) -> None:
    try:
        if remove_resource(remove, ident[:12]):
            removed.append(ident)
    except SandboxError as exc:
        report.errors.append(str(exc))


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _created(attrs: dict[str, Any]) -> float:
    """Creation time in epoch seconds: containers list it as a number, networks as ISO text
    with nanoseconds."""
    value = attrs.get("Created")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.replace("Z", "+00:00"))
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    return 0.0  # unknown age: old enough to judge by the other labels
