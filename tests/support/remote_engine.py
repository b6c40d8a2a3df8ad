"""A second Docker daemon on this machine, standing in for a remote engine: its own TCP socket
with mutual TLS (certificates made here with `cryptography`), its own data and exec roots, no
default bridge, no iptables rules (the first daemon's are left alone) and its own address pool.
Nothing of this machine's folders is mounted into its containers by Burndown: the workspace
goes in and out through its API.

It makes no iptables rules of its own (a second daemon that did would first flush the chains the
first one manages). The only rule is the fixture's: this machine's FORWARD policy (the first
daemon's) is DROP and bridged traffic passes through it, so the sandbox and its egress proxy on
a per-run network of this daemon could not talk; one `DOCKER-USER` rule accepts traffic from
its address pool to its address pool, and goes with it. A real remote engine runs with its own
iptables rules and needs none of this.

Started once per test session and torn down with everything it made (containers, networks,
volumes, images, the rule and its folders)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import docker
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.docker_client import docker_client
from sandbox.errors import SandboxError
from tests.support.processes import free_port

EGRESS_NETWORK = "burndown-remote-egress"


@dataclass
class RemoteEngine:
    """How to reach the second daemon, and the network its egress proxies use."""

    host: str
    cert_path: Path
    egress_network: str
    gateway: str  # this machine's address on that network: where the model server listens
    log: Path

    def env(self) -> dict[str, str]:
        """What a Docker client needs to use this engine (docker's own variables)."""
        return {
            "DOCKER_HOST": self.host,
            "DOCKER_TLS_VERIFY": "1",
            "DOCKER_CERT_PATH": str(self.cert_path),
        }

    def client(self, timeout: int = 60) -> docker.DockerClient:
        """A client of this engine (as Burndown makes it: TLS trusted by our CA alone)."""
        return docker_client(timeout, ping=False, environment=self.env())


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def make_certificates(server_dir: Path, client_dir: Path) -> None:
    """A CA, the daemon's certificate (for 127.0.0.1) and a client's, in docker's file names."""
    ca_key = _key()
    ca = _cert("burndown-test-ca", ca_key, None, ca=True)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    for folder, server in ((server_dir, True), (client_dir, False)):
        folder.mkdir(parents=True, mode=0o700)
        key = _key()
        cert = _cert("127.0.0.1" if server else "client", key, (ca.subject, ca_key), server=server)
        (folder / "ca.pem").write_bytes(ca_pem)
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(_pem_key(key))
        os.chmod(folder / "key.pem", 0o600)


def _free_pool() -> ipaddress.IPv4Network:
    """A /16 in 10.192.0.0/10 that no route of this machine touches."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, timeout=10)
    taken = [
        ipaddress.ip_network(word, strict=False)
        for line in routes.stdout.splitlines()
        for word in line.split()[:1]
        if "/" in word
    ]
    start = int.from_bytes(os.urandom(1), "big") % 60
    for i in range(64):
        pool = ipaddress.ip_network(f"10.{192 + (start + i) % 64}.0.0/16")
        if not any(pool.overlaps(t) for t in taken):
            return pool
    raise AssertionError("no free 10.x.0.0/16 for the second Docker daemon")


BRIDGE = "bd-remote0"


def _own_bridge(pool: ipaddress.IPv4Network) -> None:
    """The second daemon's default bridge, made before it starts (dockerd needs it to exist)."""
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
    last = list(pool.subnets(new_prefix=24))[-1]
    cidr = f"{next(last.hosts())}/{last.prefixlen}"
    for cmd in (
        ["ip", "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "addr", "add", cidr, "dev", BRIDGE],
        ["ip", "link", "set", BRIDGE, "up"],
    ):
        subprocess.run(cmd, check=True, capture_output=True, timeout=10)


def _config(root: Path, port: int, pool: ipaddress.IPv4Network, driver: str) -> Path:
    tls = root / "server-tls"
    config = {
        "hosts": [f"tcp://127.0.0.1:{port}"],
        "tls": True,
        "tlsverify": True,
        "tlscacert": str(tls / "ca.pem"),
        "tlscert": str(tls / "cert.pem"),
        "tlskey": str(tls / "key.pem"),
        "data-root": str(root / "data"),
        "exec-root": str(root / "exec"),
        "pidfile": str(root / "dockerd.pid"),
        "storage-driver": driver,
        # NOT "bridge": "none": with it dockerd DELETES the host's docker0 at start (moby's
        # removeDefaultBridgeInterface), which breaks the first daemon's containers for
        # everyone on this machine (seen here, 2026-12-01). A bridge of its own instead.
        "bridge": BRIDGE,
        "iptables": False,
        "ip-masq": False,
        "default-address-pools": [{"base": str(pool), "size": 24}],
    }
    path = root / "daemon.json"
    path.write_text(json.dumps(config))
    return path


def _fail(what: str, log: Path) -> AssertionError:
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
    return AssertionError(f"the second Docker daemon {what}; its log ({log}):\n{tail}")


@contextmanager
def remote_engine(start_timeout: float = 90) -> Iterator[RemoteEngine]:
    """Start the second daemon and its egress network; on exit remove everything it made."""
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        raise AssertionError("the remote-engine tests need `dockerd` on PATH and root")
    with closing(docker.from_env(timeout=30)) as first:
        driver = str(
            first.info()["Driver"]
        )  # what works on this machine (fuse-overlayfs in a container)
    root = Path(tempfile.mkdtemp(prefix="bd-dockerd-", dir="/tmp"))
    log = root / "dockerd.log"
    make_certificates(root / "server-tls", root / "client-tls")
    port, pool = free_port(), _free_pool()
    _own_bridge(pool)
    config = _config(root, port, pool, driver)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["dockerd", "--config-file", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    engine = RemoteEngine(f"tcp://127.0.0.1:{port}", root / "client-tls", EGRESS_NETWORK, "", log)
    rule = ["DOCKER-USER", "-s", str(pool), "-d", str(pool), "-j", "ACCEPT"]
    subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
    try:
        client = _wait_for(engine, proc, start_timeout)
        subnet = next(pool.subnets(new_prefix=24))
        gateway = str(next(subnet.hosts()))
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=gateway)]
        )
        client.networks.create(EGRESS_NETWORK, driver="bridge", ipam=ipam)
        engine.gateway = gateway
        yield engine
    finally:
        try:
            _stop(engine, proc, root)
        finally:
            subprocess.run(["iptables", "-D", *rule], check=True, timeout=30)


def _wait_for(
    engine: RemoteEngine, proc: subprocess.Popen[bytes], timeout: float
) -> docker.DockerClient:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _fail(f"exited with code {proc.returncode}", engine.log)
        try:
            client = engine.client(timeout=10)
            client.ping()
            return client
        except (docker.errors.DockerException, SandboxError, OSError):
            time.sleep(0.5)
    raise _fail(f"did not answer on {engine.host} within {timeout:.0f}s", engine.log)


def _stop(engine: RemoteEngine, proc: subprocess.Popen[bytes], root: Path) -> None:
    """Remove what the daemon holds, stop it (SIGTERM, then SIGKILL), remove its folders."""
    if proc.poll() is None:
        with (
            suppress(docker.errors.DockerException, SandboxError),
            closing(engine.client(120)) as client,
        ):
            for c in client.containers.list(all=True):
                c.remove(force=True, v=True)
            for n in client.networks.list():
                if n.name not in ("none", "host", "bridge"):
                    n.remove()
            client.volumes.prune()
            for image in client.images.list():
                client.images.remove(str(image.id), force=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False, timeout=10)
    mounted = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if len(line.split()) > 1 and line.split()[1].startswith(str(root))
    ]
    for point in sorted(mounted, reverse=True):
        subprocess.run(["umount", "-l", point], timeout=30, check=False)
    shutil.rmtree(root, ignore_errors=True)
