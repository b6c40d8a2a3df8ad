"""The Linear stand-in: Linear's GraphQL API on loopback. Every document is parsed and
validated against Linear's real schema before anything runs; an invalid one is refused as
Linear refuses it (HTTP 400, `errors[].extensions.code`). It answers `RATELIMITED` on demand,
keeps the workspace in memory, and builds and sends Linear's signed webhooks."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import graphql
import httpx

from tests.support.linear_standin import webhooks
from tests.support.linear_standin.api import Refusal, Root
from tests.support.linear_standin.schema import schema
from tests.support.linear_standin.state import (
    Activity,
    Attachment,
    Comment,
    Issue,
    Session,
    Team,
    User,
    Workspace,
    new_id,
    now_iso,
)

API_KEY = "lin_api_standin_0123456789"
LIMIT = 1500  # requests an hour, as Linear grants an API key


def _error(message: str, code: str) -> dict[str, Any]:
    kind = {"RATELIMITED": "ratelimited", "AUTHENTICATION_ERROR": "authentication error"}
    return {
        "message": message,
        "extensions": {
            "type": kind.get(code, "invalid input" if code == "INVALID_INPUT" else "graphql error"),
            "code": code,
            "userPresentableMessage": message,
        },
    }


class LinearStandIn:
    """Start with `with LinearStandIn() as linear:`; `linear.api_url` and `API_KEY` go to
    Burndown's settings."""

    def __init__(self, api_key: str = API_KEY, host: str = "127.0.0.1") -> None:
        self.api_key, self.ws = api_key, Workspace()
        self.requests: list[dict[str, Any]] = []  # every request: query, variables, status
        self._limited: list[int] = []  # pending rate-limited answers: their reset delay (ms)
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.root = Root(self.ws)
        schema()  # built now, not inside the first request

    @property
    def api_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/graphql"

    def __enter__(self) -> "LinearStandIn":
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    # the API

    def rate_limit(self, times: int = 1, reset_in_ms: int = 1500) -> None:
        """The next `times` requests are refused as Linear refuses them over its limit."""
        self._limited += [reset_in_ms] * times

    def answer(self, auth: str | None, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """One POST /graphql: status, headers, JSON body."""
        headers = {
            "X-RateLimit-Requests-Limit": str(LIMIT),
            "X-RateLimit-Requests-Remaining": str(LIMIT - 1),
            "X-RateLimit-Requests-Reset": str(int(time.time() * 1000) + 3_600_000),
        }
        if self._limited:
            reset = int(time.time() * 1000) + self._limited.pop(0)
            headers.update(
                {"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": str(reset)}
            )
            return 400, headers, {"errors": [_error("Rate limit exceeded", "RATELIMITED")]}
        if auth not in (self.api_key, f"Bearer {self.api_key}"):
            err = _error("Authentication required, not authenticated", "AUTHENTICATION_ERROR")
            return 400, headers, {"errors": [err]}
        try:
            request = json.loads(raw)
            document = graphql.parse(request["query"])
        except (ValueError, KeyError, TypeError, graphql.GraphQLError) as exc:
            return 400, headers, {"errors": [_error(str(exc), "GRAPHQL_PARSE_FAILED")]}
        invalid = graphql.validate(schema(), document)
        if invalid:
            errs = [_error(e.message, "GRAPHQL_VALIDATION_FAILED") for e in invalid]
            return 400, headers, {"errors": errs}
        result = graphql.execute(
            schema(),
            document,
            root_value=self.root,
            variable_values=request.get("variables") or {},
            operation_name=request.get("operationName"),
        )
        assert isinstance(result, graphql.ExecutionResult)  # no resolver is async
        if result.errors:
            errs = [self._execution_error(e) for e in result.errors]
            return 400, headers, {"data": None, "errors": errs}
        return 200, headers, {"data": result.data}

    @staticmethod
    def _execution_error(e: graphql.GraphQLError) -> dict[str, Any]:
        if isinstance(e.original_error, Refusal):
            return _error(str(e.original_error), e.original_error.code)
        if e.original_error is None:
            return _error(e.message, "GRAPHQL_VALIDATION_FAILED")  # variables that do not fit
        return _error(f"internal error: {e.message}", "INTERNAL_SERVER_ERROR")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/graphql":
                    status, headers, body = 404, {}, {"errors": [_error("Not found", "NOT_FOUND")]}
                else:
                    status, headers, body = standin.answer(self.headers.get("Authorization"), raw)
                try:
                    sent = json.loads(raw)
                except ValueError:
                    sent = {"query": raw.decode(errors="replace")}
                standin.requests.append({**sent, "status": status, "answer": body})
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    # the workspace, as a person would change it

    def add_team(self, key: str, name: str = "") -> Team:
        team = Team(new_id(), key, name or key.title())
        with self.ws.lock:
            self.ws.teams[team.id] = team
        return team

    def add_user(self, name: str, email: str, *, admin: bool = False, guest: bool = False,
                 app: bool = False) -> User:  # fmt: skip
        user = User(new_id(), name, email, admin=admin, guest=guest, app=app)
        with self.ws.lock:
            self.ws.users[user.id] = user
            if app or not self.ws.viewer:
                self.ws.viewer = user.id
        return user

    def create_issue(self, team: Team, title: str, description: str, creator: User) -> Issue:
        with self.ws.lock:
            number = 1 + sum(1 for i in self.ws.issues.values() if i.team.id == team.id)
            issue = Issue(new_id(), number, team, title, description, creator.id)
            self.ws.issues[issue.id] = issue
        return issue

    def label(self, issue: Issue, name: str, actor: User) -> dict[str, Any]:
        """A person adds a label: the `Issue` `update` webhook Linear sends for it."""
        with self.ws.lock:
            before = {"labelIds": list(issue.label_ids), "updatedAt": issue.updated_at}
            label = self.ws.label_named(name)
            issue.label_ids.append(label.id)
            issue.updated_at = now_iso()
            issue.history.append(
                {
                    "id": new_id(),
                    "createdAt": issue.updated_at,
                    "actor": {"id": actor.id},
                    "addedLabels": [self.ws.label_view(label)],
                }
            )
            return webhooks.issue_updated(self.ws, issue, actor, before)

    def close(self, issue: Issue, state: str = "completed") -> None:
        with self.ws.lock:
            issue.state_type, issue.updated_at = state, now_iso()
            if state == "completed":
                issue.completed_at = issue.updated_at
            else:
                issue.canceled_at = issue.updated_at

    def delegate(self, issue: Issue, actor: User, agent: User) -> dict[str, Any]:
        """A person makes the agent the issue's delegate: `AgentSessionEvent` `created`."""
        with self.ws.lock:
            issue.delegate_id, issue.updated_at = agent.id, now_iso()
            session = Session(new_id(), issue.id, actor.id, agent.id)
            self.ws.sessions[session.id] = session
            context = f'<issue identifier="{issue.identifier}">\n<title>{issue.title}</title>\n'
            context += f"<description>{issue.description}</description>\n</issue>"
            return webhooks.session_event(self.ws, session, "created", prompt_context=context)

    def prompt(self, session_id: str, actor: User, body: str, signal: str | None = None) -> Any:
        """A person writes to the session (`signal="stop"`: the stop button)."""
        with self.ws.lock:
            session = self.ws.sessions[session_id]
            act = Activity(new_id(), session.id, {"type": "prompt", "body": body}, signal, actor.id)
            self.ws.activities.append(act)
            activity = {
                "id": act.id,
                "agentSessionId": session.id,
                "content": act.content,
                "createdAt": act.created_at,
                "updatedAt": act.created_at,
                "userId": actor.id,
                "user": {"id": actor.id, "name": actor.name, "email": actor.email,
                         "url": f"https://linear.app/acme/profiles/{actor.id}"},
                **({"signal": signal} if signal else {}),
            }  # fmt: skip
            return webhooks.session_event(self.ws, session, "prompted", activity=activity)

    @staticmethod
    def send(url: str, secret: str, payload: dict[str, Any]) -> httpx.Response:
        """Deliver one webhook as Linear does (signed, a fresh `Linear-Delivery`)."""
        body, headers = webhooks.signed(secret, payload)
        return httpx.post(url, content=body, headers=headers, timeout=10)

    # what Burndown did

    def comments_on(self, issue: Issue) -> list[Comment]:
        with self.ws.lock:
            return [c for c in self.ws.comments.values() if c.issue_id == issue.id]

    def attachments_on(self, issue: Issue) -> list[Attachment]:
        with self.ws.lock:
            return [a for a in self.ws.attachments.values() if a.issue_id == issue.id]

    def activities_of(self, session_id: str) -> list[Activity]:
        with self.ws.lock:
            return [a for a in self.ws.activities if a.session_id == session_id]

    def sessions_of(self, issue: Issue) -> list[Session]:
        with self.ws.lock:
            return [s for s in self.ws.sessions.values() if s.issue_id == issue.id]
