"""The ticket's tracker with the fake clients: a GitHub ticket's issue is GitHub's; a Linear
ticket's comments, status and pull request link go to Linear (a delegated one's status as
agent activities: actions, then the response); trust follows the operator's members and roles."""

from worker import texts
from worker.github.fake import FakeGitHub
from worker.linear.fake import FakeLinear
from worker.linear.protocol import LinearIssue, LinearTeam, LinearUser
from worker.store.models import Provider, Ticket
from worker.tracker import GitHubTracker, LinearTracker, LinearTrust, activity_content, tracker_for

RUN_URL = "http://burndown.test/runs/7"


def _linear_ticket(session: str | None = None) -> Ticket:
    return Ticket(
        id=3,
        provider=Provider.LINEAR,
        repo="acme/widgets",
        number=12,
        tracker_id="i-12",
        tracker_key="ENG-12",
        agent_session_id=session,
    )


def _fake() -> FakeLinear:
    fake = FakeLinear()
    fake.issues["i-12"] = LinearIssue(
        id="i-12",
        identifier="ENG-12",
        number=12,
        title="t",
        url="u",
        team=LinearTeam(id="t", key="ENG"),
        state_type="canceled",
        labels=["Burndown"],
    )
    return fake


def test_the_tracker_follows_the_tickets_provider() -> None:
    gh, fake = FakeGitHub(), _fake()
    github_ticket = Ticket(id=1, repo="acme/widgets", number=4)
    assert isinstance(tracker_for(github_ticket, gh, fake, LinearTrust()), GitHubTracker)
    assert isinstance(tracker_for(_linear_ticket(), gh, fake, LinearTrust()), LinearTracker)


def test_a_label_tickets_status_is_one_linear_comment_edited_in_place() -> None:
    fake = _fake()
    tracker = LinearTracker(fake, LinearTrust())
    ticket = _linear_ticket()
    tracker.status(ticket, texts.status_queued("Maria"))
    tracker.status(ticket, texts.status_running("claude-code", None, RUN_URL))
    tracker.status(ticket, texts.status_final("pr_opened", "https://pr/1", "", RUN_URL), final=True)
    (status,) = fake.comments_on("i-12")
    assert "done: pull request https://pr/1" in status and "<!--" not in status
    assert len(fake.edits) == 3
    tracker.attach_pull(ticket, "https://pr/1", "Fix (ENG-12)")
    assert list(fake.attachments.values()) == [("i-12", "https://pr/1", "Fix (ENG-12)")]
    assert tracker.current(ticket).state == "closed"  # canceled in Linear


def test_a_delegated_tickets_status_is_actions_then_the_response() -> None:
    fake = _fake()
    tracker = LinearTracker(fake, LinearTrust())
    ticket = _linear_ticket(session="s-1")
    tracker.status(ticket, texts.status_running("codex", "gpt-5.5", RUN_URL))
    tracker.comment(ticket, texts.cancelled(RUN_URL), key="run-7")
    tracker.status(ticket, texts.status_final("cancelled", None, "cancelled", RUN_URL), final=True)
    kinds = [(c["type"], c.get("action")) for _, c in fake.activities]
    assert kinds == [("action", "Running"), ("thought", None), ("response", None)]
    assert fake.comments == {}
    running = activity_content(texts.status_verifying(RUN_URL), final=False)
    assert running["action"] == "Verifying" and RUN_URL in running["parameter"]


def test_trust_is_listed_members_or_roles_and_never_an_inactive_one() -> None:
    admin = LinearUser(id="u1", name="A", email="a@x.test", admin=True)
    guest = LinearUser(id="u2", name="G", email="g@x.test", guest=True)
    gone = LinearUser(id="u3", name="M", email="m@x.test", active=False)
    default = LinearTrust()
    assert default.allows(admin) and not default.allows(guest) and not default.allows(gone)
    only_listed = LinearTrust(members=frozenset({"G@x.test"}), roles=frozenset())
    assert only_listed.allows(guest) and not only_listed.allows(admin)
