"""A hostile sender against the real API process (`burndown api`, on SQLite and PostgreSQL):
oversized, unsigned, malformed, deeply nested, replayed, form-encoded and wrongly encoded
deliveries are answered 4xx, never 500, and never start work twice."""

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import select

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from scheduler.intake.signature import sign
from tests.conftest import require_env
from tests.support.github_standin import labeled, payload, pull_request, signed
from tests.support.processes import child_env, free_port, healthy, process, wait_for
from worker.github.fake import FakeGitHub
from worker.store.db import make_engine, session_scope
from worker.store.migrate import upgrade
from worker.store.models import Delivery, DeliveryStatus
from worker.store.repo import find_ticket, get_delivery

SECRET = "It's a Secret to Everybody"
MiB = 1024 * 1024


@dataclass
class Api:
    url: str
    engine: Engine

    def post(self, body: bytes, headers: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/github", content=body, headers=headers, timeout=60)

    def deliveries(self) -> int:
        with session_scope(self.engine) as s:
            return int(s.exec(select(func.count()).select_from(Delivery)).one())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        yield from _serve(tmp, f"sqlite:///{tmp / 'store.db'}")
        return
    base = require_env("BURNDOWN_TEST_POSTGRES_URL")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield from _serve(tmp, base.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _serve(tmp: Path, url: str) -> Iterator[Api]:
    upgrade(url)
    port = free_port()
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp),
            "BURNDOWN_DATABASE_URL": url,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
        }
    )
    log = tmp / "api.log"
    with process(["api", "--port", str(port)], env, log):
        base = f"http://127.0.0.1:{port}"
        wait_for("the api", lambda: healthy(f"{base}/healthz"), 60, [log])
        engine = make_engine(url)
        yield Api(base, engine)
        engine.dispose()
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()


def _raw_status(url: str, head: dict[str, str], body: bytes) -> int:
    """POST with exactly these headers (a lying Content-Length too); the answer's status."""
    host, port = url.removeprefix("http://").split(":")
    lines = ["POST /webhooks/github HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = sock.recv(4096)
    return int(answer.split(b" ", 2)[1])


def test_a_body_over_25_mib_is_refused_while_it_is_read(api: Api) -> None:
    _, headers = signed(SECRET, labeled())
    head = {**headers, "Content-Length": str(26 * MiB)}
    assert _raw_status(api.url, head, b"{}") == 413  # answered before the body is read

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        for _ in range(26):
            yield b" " * MiB

    r = httpx.post(f"{api.url}/webhooks/github", content=chunks(), headers=headers, timeout=60)
    assert r.status_code == 413 and "larger than" in r.json()["message"]
    assert healthy(f"{api.url}/healthz")


@pytest.mark.parametrize(
    "header",
    [b"sha256=\xc3\xa9" + b"0" * 62, b"sha256=\xff\xfe", "sha256=é".encode("latin-1"), b"sha256="],
)
def test_a_non_ascii_or_malformed_signature_is_401(api: Api, header: bytes) -> None:
    body, headers = signed(SECRET, labeled())
    raw_headers: dict[str, Any] = {**headers, "X-Hub-Signature-256": header}
    r = httpx.post(f"{api.url}/webhooks/github", content=body, headers=raw_headers, timeout=30)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("depth", [65, 5_000, 200_000])
def test_deeply_nested_json_is_400(api: Api, depth: int) -> None:
    raw = b'{"action": "labeled", "x": ' + b"[" * depth + b"]" * depth + b"}"
    body, headers = signed(SECRET, raw)
    r = api.post(body, headers)
    assert r.status_code == 400 and "nested" in r.json()["message"], r.text


def test_a_signed_body_replayed_under_a_new_delivery_id_is_kept_once(api: Api) -> None:
    before = api.deliveries()
    body, headers = signed(SECRET, labeled(number=4242))
    assert api.post(body, headers).status_code == 202
    replay = {**headers, "X-GitHub-Delivery": headers["X-GitHub-Delivery"] + "-replayed"}
    r = api.post(body, replay)
    assert r.status_code == 200 and "duplicate" in r.json()["message"]
    assert api.deliveries() == before + 1
    assert get_delivery(api.engine, replay["X-GitHub-Delivery"]) is None


def test_a_form_encoded_delivery_is_415_saying_to_choose_json(api: Api) -> None:
    form = b"payload=" + json.dumps(labeled()).encode()
    _, headers = signed(SECRET, form)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["X-Hub-Signature-256"] = sign(SECRET, form)
    r = api.post(form, headers)
    assert r.status_code == 415
    assert "application/json" in r.json()["message"] and "settings" in r.json()["message"]


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),  # a UTF-8 byte-order mark
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("latin-1"),
    ],
)
def test_a_body_not_in_plain_utf8_is_400_not_accepted_then_dropped(
    api: Api, encode: Callable[[str], bytes]
) -> None:
    before = api.deliveries()
    body, headers = signed(
        SECRET, encode(json.dumps(labeled(title="Caf\u00e9"), ensure_ascii=False))
    )
    r = api.post(body, headers)
    assert r.status_code == 400, r.text
    assert api.deliveries() == before


def _set(p: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = p
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return p


def _pr(**kw: Any) -> dict[str, Any]:
    return pull_request(
        "closed",
        repo="acme/widgets",
        number=2,
        head="burndown/issue-1",
        updated_at="2019-05-15T15:21:18Z",
        **kw,
    )


def _comment() -> dict[str, Any]:
    p = payload("issue_comment", "created")
    p["issue"]["pull_request"], p["comment"]["body"] = {"url": "x"}, "/burndown go"
    return p


def _review() -> dict[str, Any]:
    p = payload("pull_request_review", "submitted")
    p["review"]["state"], p["pull_request"]["head"]["ref"] = "changes_requested", "burndown/issue-1"
    return p


def _check() -> dict[str, Any]:
    p = payload("check_run", "completed.1")  # from GitHub Actions (app slug)
    p["check_run"]["conclusion"] = "failure"
    p["check_run"]["pull_requests"][0]["head"]["ref"] = "burndown/issue-1"
    return p


MALFORMED = [
    ("issues", labeled, "issue.number", "1"),
    ("issues", labeled, "issue.number", 2**31),
    ("issues", labeled, "issue.number", 0),
    ("issues", labeled, "issue.number", 1.5),
    ("issues", labeled, "issue.number", True),
    ("issues", labeled, "issue.title", "a\u0000b"),
    ("issues", labeled, "issue.title", "\ud800 lone surrogate"),
    ("issues", labeled, "issue.body", ["not", "text"]),
    ("issues", labeled, "label.name", 7),
    ("issues", labeled, "sender.login", "x" * 300),
    ("issues", labeled, "sender.login", "bad login\n"),
    ("issues", labeled, "repository.full_name", "../../etc"),
    ("issues", labeled, "issue.html_url", "u" * 2000),
    ("issues", labeled, "issue.labels", [{"name": None}]),
    ("pull_request", _pr, "pull_request.updated_at", "2019-05-15T15:21:18"),  # no time zone
    ("pull_request", _pr, "pull_request.updated_at", "0001-01-01T00:00:00+14:00"),
    ("pull_request", _pr, "pull_request.updated_at", "yesterday"),
    ("pull_request", _pr, "pull_request.merged", "yes"),
    ("pull_request", _pr, "pull_request.state", "exploded"),
    ("pull_request", _pr, "pull_request.head.sha", "not-a-sha"),
    ("pull_request", _pr, "number", -2),
    ("issue_comment", _comment, "comment.body", None),
    ("issue_comment", _comment, "comment.user", None),
    ("issue_comment", _comment, "issue.number", "2"),
    ("pull_request_review", _review, "pull_request.number", 2**40),
    ("pull_request_review", _review, "review.user.login", 12),
    ("check_run", _check, "check_run.head_sha", "\u00e9" * 40),
    ("check_run", _check, "check_run.pull_requests", "all of them"),
    ("check_run", _check, "check_run.output.text", "\ud83d"),
]


@pytest.mark.parametrize(("event", "make", "path", "value"), MALFORMED)
def test_every_field_a_handler_reads_is_validated_at_the_door(
    api: Api, event: str, make: Callable[[], dict[str, Any]], path: str, value: Any
) -> None:
    before = api.deliveries()
    body, headers = signed(SECRET, json.dumps(_set(make(), path, value)).encode(), event)
    r = api.post(body, headers)
    assert r.status_code == 400, r.text
    assert path.split(".")[-1] in r.json()["message"]
    assert api.deliveries() == before


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-GitHub-Delivery", "d" * 200), ("X-GitHub-Event", "issues\u00e9"), ("X-GitHub-Event", "")],
)
def test_malformed_event_headers_are_400(api: Api, name: str, value: str) -> None:
    body, headers = signed(SECRET, labeled())
    raw: dict[str, Any] = {**headers, name: value.encode("latin-1")}
    assert api.post(body, raw).status_code == 400


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_a_body_the_api_accepts_intake_reads_the_same_way(api: Api, ensure_ascii: bool) -> None:
    title = 'Caf\u00e9 \U0001f525 \u202e\u0645\u0631\u062d\u0628\u0627 \\ " \u2028'
    number = 7000 + ensure_ascii
    body = json.dumps(labeled(number=number, title=title), ensure_ascii=ensure_ascii).encode()
    body, headers = signed(SECRET, body)
    assert api.post(body, headers).status_code == 202
    gh = FakeGitHub(roles={("Codertocat/Hello-World", "Codertocat"): "write"})
    deps = IntakeDeps(api.engine, gh, "burndown", lambda _: None)
    assert process_delivery(headers["X-GitHub-Delivery"], deps) == DeliveryStatus.PROCESSED
    ticket = find_ticket(api.engine, "Codertocat/Hello-World", number)
    assert ticket is not None and ticket.title == title
