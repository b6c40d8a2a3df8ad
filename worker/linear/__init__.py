"""Linear as a tracker: its GraphQL API behind `LinearClient` (protocol), over httpx (client),
and in memory for unit tests (fake)."""
