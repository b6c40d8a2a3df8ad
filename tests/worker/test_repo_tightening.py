"""`.burndown.yml` only tightens what the operator set, also through the pipeline."""

from pathlib import Path

from sqlalchemy import Engine

from tests.worker.test_pipeline import Scene, make_world
from worker.store.models import OutcomeKind


def test_a_repository_cannot_turn_off_the_operators_review(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    config = "test: sh check.sh\nreview:\n  enabled: false\n"
    world = make_world(
        tmp_path, sqlite_engine, {"hello.py": "x\n", ".burndown.yml": config, "check.sh": "true\n"}
    )
    scene = Scene()
    outcome, _ = world.run(scene, world.ticket(), review=True)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert scene.seen == ["agent", "verify", "verify", "review"]
