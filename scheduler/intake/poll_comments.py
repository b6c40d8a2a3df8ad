"""Polling follow-up comments: a `/burndown ...` comment on a pull request, found by reading
the repository's comments updated since the last poll, becomes the `issue_comment` delivery
a webhook would have brought (handled by `scheduler.intake.followups`, with its trust check)."""

import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from scheduler.intake.followups import COMMAND
from worker.github.protocol import GitHubClient, IssueComment
from worker.store.models import utcnow
from worker.store.polling import comment_delivered, get_cursor, save_cursor
from worker.store.repo import record_delivery


def poll_comments(
    engine: Engine,
    github: GitHubClient,
    enqueue_delivery: Callable[[str], None],
    repo: str,
    delivered: list[str],
) -> bool:
    """One conditional read of `repo`'s comments; False when GitHub answered 304. The first
    poll only starts the cursor: comments older than Burndown's polling are not replayed."""
    source = f"github-comments:{repo}"
    cursor = get_cursor(engine, source)
    if cursor is None or cursor.seen_until is None:
        save_cursor(engine, source, None, utcnow())
        return True
    since = _utc(cursor.seen_until)
    polled = github.comments_since(repo, since, cursor.etag)
    if polled.comments is None:
        save_cursor(engine, source, polled.etag, since)
        return False
    newest = since
    for comment in polled.comments:
        newest = max(newest, comment.updated_at)
        if _is_command(comment) and not comment_delivered(engine, comment.id, comment.updated_at):
            delivery = f"poll:{repo}:comment:{comment.id}"
            body = json_payload(repo, comment)
            if record_delivery(engine, delivery, "issue_comment", "created", body):
                enqueue_delivery(delivery)
                delivered.append(delivery)
    save_cursor(engine, source, polled.etag, newest)
    return True


def _is_command(comment: IssueComment) -> bool:
    return comment.is_pull and comment.body.lstrip().startswith(COMMAND)


def json_payload(repo: str, comment: IssueComment) -> str:
    """The `issue_comment.created` body GitHub would have sent for this comment."""
    payload = {
        "action": "created",
        "issue": {"number": comment.number, "pull_request": {}},
        "comment": {"id": comment.id, "body": comment.body, "user": {"login": comment.author}},
        "repository": {"full_name": repo},
        "burndown_polled": True,
    }
    return json.dumps(payload)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
