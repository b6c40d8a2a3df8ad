"""The GitHub stand-in: GitHub's REST API and git smart HTTP on loopback, faithful to the
recorded answers in shared/fixtures, and the clients tests drive it with.

`standin` is the entry point (`GitHubStandIn`); `server` routes requests to the handlers in
`issues`, `pulls` and `gitdata`; `rest` holds the routing and paging shared by them, `render`
the JSON shapes, `state` the in-memory repositories, `git` the bare repositories behind them,
`clients` PyGithub, raw HTTP and `git` pointed at a running stand-in, and `deliveries` the
webhook deliveries GitHub would send, built from the recorded payloads and signed.
"""

from tests.support.github_standin.clients import Git, Raw, client, http
from tests.support.github_standin.deliveries import labeled, payload, pull_request, signed
from tests.support.github_standin.standin import GitHubStandIn

__all__ = [
    "Git",
    "GitHubStandIn",
    "Raw",
    "client",
    "http",
    "labeled",
    "payload",
    "pull_request",
    "signed",
]
