"""Stand-ins and helpers that tests drive real parts with.

`github_standin/` plays GitHub (REST, git smart HTTP, webhook deliveries), `model_server/` plays
the model APIs, `processes/` runs Burndown itself (its processes, `sandbox run`, the Docker
bridge address); `gitrepo`, `history` and `browser` are single-purpose modules.
"""
