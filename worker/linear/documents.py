"""The GraphQL documents Burndown sends to Linear, as constants (checked against Linear's
schema by the tests and by the stand-in on every request)."""

ISSUE_FIELDS = """
fragment IssueFields on Issue {
  id
  identifier
  number
  title
  description
  url
  updatedAt
  completedAt
  canceledAt
  state { type }
  team { id key name }
  labels(first: 50) { nodes { name } }
}
"""

ISSUE = (
    """
query Issue($id: String!) {
  issue(id: $id) { ...IssueFields }
}
"""
    + ISSUE_FIELDS
)

USER = """
query User($id: String!) {
  user(id: $id) { id name displayName email admin guest active }
}
"""

COMMENT_CREATE = """
mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}
"""

COMMENT_UPDATE = """
mutation CommentUpdate($id: String!, $input: CommentUpdateInput!) {
  commentUpdate(id: $id, input: $input) { success comment { id } }
}
"""

ATTACH_URL = """
mutation AttachUrl($id: String, $issueId: String!, $url: String!, $title: String) {
  attachmentLinkURL(id: $id, issueId: $issueId, url: $url, title: $title) {
    success
    attachment { id url }
  }
}
"""

AGENT_ACTIVITY = """
mutation AgentActivity($input: AgentActivityCreateInput!) {
  agentActivityCreate(input: $input) { success agentActivity { id } }
}
"""

TEAM_ISSUES = (
    """
query TeamIssues($filter: IssueFilter, $after: String) {
  issues(first: 50, after: $after, orderBy: updatedAt, filter: $filter) {
    nodes { ...IssueFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ISSUE_FIELDS
)

LABEL_HISTORY = """
query LabelHistory($id: String!) {
  issue(id: $id) {
    history(first: 50) {
      nodes { id createdAt actor { id } addedLabels { name } }
    }
  }
}
"""

VIEWER = """
query Viewer {
  viewer { id name }
}
"""

ALL = (
    VIEWER,
    ISSUE,
    USER,
    COMMENT_CREATE,
    COMMENT_UPDATE,
    ATTACH_URL,
    AGENT_ACTIVITY,
    TEAM_ISSUES,
    LABEL_HISTORY,
)
