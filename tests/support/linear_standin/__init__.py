"""The Linear stand-in: Linear's GraphQL API on loopback, every document validated against
Linear's real schema (`schema`), the workspace in memory (`state`), its resolvers (`api`) and
the signed webhooks Linear sends (`webhooks`). `standin.LinearStandIn` is the entry point."""

from tests.support.linear_standin.standin import API_KEY, LinearStandIn
from tests.support.linear_standin.webhooks import signed

__all__ = ["API_KEY", "LinearStandIn", "signed"]
