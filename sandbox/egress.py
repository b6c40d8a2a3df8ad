"""A run's network: an internal Docker network with no route out, and the egress proxy on it.

The network is `internal` (Docker drops what it would forward out of it) and its bridge has no
IPv4 address on the host (`inhibit_ipv4`): on an internal network whose bridge has the gateway
address, a container still reaches every address of the host itself, which is a way out. The
proxy container sits on this network and on `egress_network` (which has a route out); the
sandbox's only route anywhere is the proxy. The sandbox's DNS forwards to the proxy's address,
which answers every name with NXDOMAIN (and logs it): the sandbox resolves nothing but the
names of its own network, and a lookup fails at once instead of timing out.
"""

import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import docker
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import LogConfig

from sandbox.attach import attach
from sandbox.docker_client import best_effort, docker_client, removing, translate_docker_errors
from sandbox.errors import SandboxError
from sandbox.runtime import (
    LOG_LIMITS,
    MANAGED_LABEL,
    ROLE_LABEL,
    RUN_LABEL,
    EgressEvent,
    SandboxPolicy,
)

PROXY_PORT = 3128
DNS_PORT = 53
PROXY_USER = "65534:65534"  # nobody: the proxy needs no identity
_SOURCE = Path(__file__).with_name("egress_proxy.py")
_LOGGED = {"refused", "unreachable", "suppressed"}
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class Egress:
    """What the sandbox container needs to use the run's network; `events` after the exit.
    Create the sandbox, then `wait_ready()` before starting it: the proxy boots meanwhile."""

    network_id: str
    proxy_ip: str
    wait_ready: Callable[[], None]
    events: list[EgressEvent] = field(default_factory=list)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.proxy_ip}:{PROXY_PORT}"

    def env(self) -> dict[str, str]:
        """Proxy variables in both spellings clients read; NO_PROXY empty, and even a NO_PROXY
        the agent sets opens nothing: there is no other route."""
        url = self.proxy_url
        names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        return {
            **{n: url for n in names},
            **{n.lower(): url for n in names},
            "NO_PROXY": "",
            "no_proxy": "",
        }


@contextmanager
def egress(
    client: docker.DockerClient,
    *,
    image: str,
    policy: SandboxPolicy,
    labels: dict[str, str],
    ready_timeout: float = 20.0,
) -> Iterator[Egress]:
    """The run's internal network and egress proxy, both removed on exit whatever happens."""
    labels = {MANAGED_LABEL: "true", **labels}
    with _network(client, labels) as net:
        subnet = _subnet(net)
        with (
            _proxy(client, image, policy, net, subnet, labels) as proxy,
            _ready_signal(proxy, ready_timeout) as wait_ready,
        ):
            _start(proxy)
            gate = Egress(str(net.id), _address(proxy, str(net.id)), wait_ready)
            try:
                yield gate
            finally:
                # SIGTERM: the proxy logs what it had not yet. Neither step raises.
                best_effort(partial(proxy.stop, timeout=2), "stopping the egress proxy", None)
                gate.events = _events(proxy)


def open_egress(
    client: docker.DockerClient,
    *,
    image: str,
    policy: SandboxPolicy,
    labels: dict[str, str],
    ready_timeout: float = 20.0,
) -> Egress:
    """A network and egress proxy made to outlive this call (a warm pool's slot): ready when
    returned, removed by whoever finds them by their labels (nothing is removed here unless
    making them fails)."""
    labels = {MANAGED_LABEL: "true", **labels}
    net = _create_network(client, labels)
    try:
        proxy = _create_proxy(client, image, policy, net, _subnet(net), labels)
        try:
            with _ready_signal(proxy, ready_timeout) as wait_ready:
                _start(proxy)
                wait_ready()
            return Egress(str(net.id), _address(proxy, str(net.id)), lambda: None)
        except SandboxError:
            best_effort(partial(proxy.remove, force=True, v=True), "removing the proxy", None)
            raise
    except SandboxError:
        best_effort(net.remove, "removing the network", None)
        raise


def proxy_events(proxy: Container) -> list[EgressEvent]:
    """The refusals an egress proxy logged."""
    return _events(proxy)


@contextmanager
def _network(client: docker.DockerClient, labels: dict[str, str]) -> Iterator[Network]:
    net = _create_network(client, labels)
    with removing(net.remove, f"network {net.id}"):
        yield net


def _create_network(client: docker.DockerClient, labels: dict[str, str]) -> Network:
    with translate_docker_errors("cannot create the sandbox network"):
        return client.networks.create(
            f"burndown-{_NAME.sub('-', labels.get(RUN_LABEL, 'run'))}-{uuid.uuid4().hex[:8]}",
            driver="bridge",
            internal=True,
            options={"com.docker.network.bridge.inhibit_ipv4": "true"},
            labels={**labels, ROLE_LABEL: "network"},
        )


def _subnet(net: Network) -> str:
    with translate_docker_errors("cannot read the sandbox network"):
        net.reload()
    try:
        return str(net.attrs["IPAM"]["Config"][0]["Subnet"])
    except (KeyError, IndexError) as exc:
        raise SandboxError(f"cannot read the sandbox network's subnet: {exc}") from exc


@contextmanager
def _proxy(
    client: docker.DockerClient,
    image: str,
    policy: SandboxPolicy,
    net: Network,
    subnet: str,
    labels: dict[str, str],
) -> Iterator[Container]:
    proxy = _create_proxy(client, image, policy, net, subnet, labels)
    with removing(partial(proxy.remove, force=True, v=True), f"the egress proxy {proxy.id}"):
        yield proxy


def _create_proxy(
    client: docker.DockerClient,
    image: str,
    policy: SandboxPolicy,
    net: Network,
    subnet: str,
    labels: dict[str, str],
) -> Container:
    with translate_docker_errors("cannot create the egress proxy"):
        proxy = client.containers.create(
            image,
            [
                "python3",
                "-I",
                "-S",
                "-c",
                _SOURCE.read_text(),
                str(PROXY_PORT),
                str(DNS_PORT),
                subnet,  # the only clients it serves
                *policy.allow_hosts,
            ],
            entrypoint=[],
            user=PROXY_USER,
            labels={**labels, ROLE_LABEL: "egress-proxy"},
            network=policy.egress_network,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            # The proxy must never route packets for the sandbox, only relay what it allows;
            # and it answers DNS on port 53 without being root.
            sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.ip_unprivileged_port_start": "53"},
            mem_limit="256m",
            memswap_limit="256m",
            log_config=LogConfig(type="json-file", config=LOG_LIMITS),
            nano_cpus=int(1e9),
            pids_limit=64,
            environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
            detach=True,
        )
    try:
        with translate_docker_errors("cannot attach the egress proxy"):
            net.connect(proxy)
    except SandboxError:
        best_effort(partial(proxy.remove, force=True, v=True), "removing the proxy", None)
        raise
    return proxy


def _address(proxy: Container, network_id: str) -> str:
    with translate_docker_errors("cannot inspect the egress proxy"):
        proxy.reload()
    for attached in proxy.attrs["NetworkSettings"]["Networks"].values():
        if attached.get("NetworkID") == network_id and attached.get("IPAddress"):
            return str(attached["IPAddress"])
    raise SandboxError("the egress proxy has no address on the sandbox network")


def _start(proxy: Container) -> None:
    with translate_docker_errors("cannot start the egress proxy"):
        proxy.start()


@contextmanager
def _ready_signal(proxy: Container, timeout: float) -> Iterator[Callable[[], None]]:
    """Attached to the proxy's stdout before it starts, so its "ready" line cannot be missed
    and is seen as soon as it is written (no polling). Yields the function that waits for it."""
    reader = docker_client(timeout, ping=False)
    try:
        with translate_docker_errors("cannot attach to the egress proxy"):
            stream = attach(reader, str(proxy.id), stdout=True, stderr=True, logs=True)
    except SandboxError:
        reader.close()
        raise
    seen = b""

    def wait_ready() -> None:
        nonlocal seen
        with translate_docker_errors(f"the egress proxy was not ready within {timeout:.0f}s"):
            for out, err in stream:
                seen += (out or b"") + (err or b"")
                if b'"event":"ready"' in seen:
                    # Detach at once: an attached reader that stops reading could stall the
                    # proxy's output. What it logs later is read from its log afterwards.
                    reader.close()
                    return
        raise SandboxError(f"the egress proxy exited: {seen.decode(errors='replace')[-500:]}")

    try:
        yield wait_ready
    finally:
        reader.close()


def _events(proxy: Container) -> list[EgressEvent]:
    def read() -> bytes:
        return bytes(proxy.logs(stdout=True, stderr=False))

    # The run's outcome stands without its egress log.
    raw = best_effort(read, "reading the egress proxy's log", b"").decode("utf-8", "replace")
    events = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") in _LOGGED:
            events.append(EgressEvent.model_validate(entry))
    return events
