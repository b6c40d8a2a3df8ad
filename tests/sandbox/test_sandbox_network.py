"""The sandbox's only way out is the egress proxy, and the proxy lets through only the
allowlist. Every target is on this machine: a listener on the Docker bridge gateway address, a
container of ours on the default bridge, and the scripted model (allowlisted)."""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import docker
import pytest

from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import bridge_gateway, sandbox_run

pytestmark = pytest.mark.docker

PROBE = r"""
import json, os, socket, sys, time, urllib.request
gw, gw_port, other, model = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
model_host, model_port = model.split("//")[1].split(":")

def report(name, fn):
    t = time.monotonic()
    try:
        result = fn()
    except Exception as exc:
        result = "error: " + (type(exc).__name__ + " " + str(exc))[:200]
    print(json.dumps({"probe": name, "result": result, "seconds": time.monotonic() - t}))

def tcp(host, port):
    socket.create_connection((host, port), timeout=3).close()
    return "connected"

def fetch(url, proxied=True):
    handler = urllib.request.ProxyHandler() if proxied else urllib.request.ProxyHandler({})
    with urllib.request.build_opener(handler).open(url, timeout=10) as r:
        return "status %d" % r.status

def connect_via_proxy(host, port):
    proxy = os.environ["HTTPS_PROXY"].split("//")[1]
    s = socket.create_connection((proxy.split(":")[0], int(proxy.split(":")[1])), timeout=5)
    s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host, port, host, port)).encode())
    return s.recv(200).decode().splitlines()[0]

report("direct host gateway", lambda: tcp(gw, gw_port))
report("direct other container", lambda: tcp(other, 8000))
report("direct model", lambda: tcp(model_host, int(model_port)))
report("proxy host gateway", lambda: fetch("http://%s:%d/" % (gw, gw_port)))
report("proxy other container", lambda: fetch("http://%s:8000/" % other))
report("connect other container", lambda: connect_via_proxy(other, 8000))
report("connect model port 22", lambda: connect_via_proxy(model_host, 22))
report("no_proxy model", lambda: fetch(model + "/v1/models", proxied=False))
report("dns pypi.org", lambda: socket.getaddrinfo("pypi.org", 443))
report("dns host.docker.internal", lambda: socket.getaddrinfo("host.docker.internal", 80))
report("proxy model", lambda: fetch(model + "/v1/models"))
"""


@contextmanager
def host_listener(host: str) -> Iterator[tuple[int, list[object]]]:
    """A TCP listener on `host` (an address of this machine) recording who connects."""
    accepted: list[object] = []
    server = socket.socket()
    server.bind((host, 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except TimeoutError:
                continue
            accepted.append(addr)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@contextmanager
def other_container(image: str) -> Iterator[tuple[str, docker.models.containers.Container]]:
    """A container of ours on the default bridge serving HTTP on port 8000: not allowlisted."""
    client = docker.from_env(timeout=60)
    c = client.containers.run(
        image,
        ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", "/tmp"],
        detach=True,
        network="bridge",
        labels={"org.burndown.test": "other-container"},
    )
    try:
        c.reload()
        yield c.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], c
    finally:
        c.remove(force=True)
        client.close()


def test_nothing_but_the_allowlist_is_reachable(
    env: dict[str, str], run_id: str, sandbox_image: str, model: ScriptedModel
) -> None:
    gw = bridge_gateway()
    with host_listener(gw) as (port, accepted), other_container(sandbox_image) as (ip, other):
        ran = sandbox_run(
            ["--", "python3", "-c", PROBE, gw, str(port), ip, model.base_url], env, run_id=run_id
        )
        other_log = other.logs().decode()
    assert ran.code == 0, ran.err
    results = {p["probe"]: p for p in map(json.loads, ran.out.splitlines())}
    for name, probe in results.items():
        if name == "proxy model":
            assert probe["result"] == "status 200", probe
        elif name.startswith("connect"):
            assert probe["result"].startswith("HTTP/1.1 403"), probe
        elif name.startswith("proxy"):
            assert probe["result"] == "error: HTTPError HTTP Error 403: Forbidden", probe
        else:
            assert probe["result"].startswith("error:"), probe
    # Lookups fail at once (the proxy answers NXDOMAIN), not after resolver timeouts.
    assert results["dns pypi.org"]["seconds"] < 2
    assert "Name or service not known" in results["dns pypi.org"]["result"]
    assert accepted == [] and "GET" not in other_log
    assert len(model.requests) == 1  # only the proxied GET /v1/models arrived
    # Every refusal is reported, as the pipeline records it in the run's events.
    for refused in (
        f"egress refused: GET {gw}:{port}",
        f"egress refused: GET {ip}:8000",
        f"egress refused: CONNECT {ip}:8000",
        f"egress refused: CONNECT {model.host}:22",
        "egress refused: DNS pypi.org:53",
        "egress refused: DNS host.docker.internal:53",
    ):
        assert refused in ran.err


def test_claude_code_reaches_the_allowlisted_model_through_the_proxy(
    env: dict[str, str], run_id: str, model: ScriptedModel
) -> None:
    model.set_script(
        [
            Turn(tool_calls=[ToolCall(shell="echo made-by-agent > made.txt && cat made.txt")]),
            Turn(text="Made the file."),
        ]
    )
    ran = sandbox_run(
        [
            "--",
            "claude",
            "-p",
            "make a file",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-mode",
            "bypassPermissions",
            "--max-turns",
            "4",
        ],
        env,
        run_id=run_id,
    )
    assert ran.code == 0, ran.err
    assert model.failures == []
    assert len(model.model_requests()) == 2
    events = [json.loads(line) for line in ran.out.splitlines() if line.startswith("{")]
    assert events[-1]["type"] == "result" and events[-1]["subtype"] == "success"
    assert "made-by-agent" in ran.out
    assert "egress refused" not in ran.err
