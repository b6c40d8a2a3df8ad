"""A run's environment step: before the agent starts, the image its sandboxes start from.

The repository's environment is planned from the default branch's files (`worker.environments`)
and, when it has a setup, built once per set of inputs (or reused) in a sandbox that reaches
only the package hosts. The agent's sandbox and both verification sandboxes then start from
that image, and verification skips the setup. Without an environment backend, or when the
setup fails, the run goes on in the plain toolchain image and verification runs the setup
itself, as it always did.
"""

from dataclasses import dataclass, replace

from worker.environments import EnvOutcome, EnvPlan, ensure_environment, plan_environment
from worker.git import Checkout
from worker.run_plan import RunPlan
from worker.steps import RunContext


@dataclass(frozen=True)
class RunEnvironment:
    """The plan and what became of it."""

    plan: EnvPlan
    outcome: EnvOutcome


def prepare_environment(
    ctx: RunContext, co: Checkout, base: str, plan: RunPlan, user: str
) -> RunEnvironment:
    """Plan the repository's environment and make sure its image exists; recorded as the
    `environment` stage (image, whether it was built or reused, the setup's source)."""
    cfg = ctx.deps.config
    env = plan_environment(
        plan.repo,
        lambda path: co.show(base, path),
        default_image=cfg.image,
        toolchain_image=cfg.toolchain_image,
        operator_package_hosts=cfg.package_hosts,
    )
    images = ctx.deps.environments
    start = images.find(env.image) if images is not None else None
    if images is not None and env.toolchain and not plan.repo.image and start is None:
        # No toolchain image on this host: the run goes on as before toolchains existed.
        ctx.rec.sandbox("toolchain_missing", {"image": env.image, "toolchain": env.toolchain})
        env = replace(env, image=cfg.image, toolchain=None, setup=tuple(plan.repo.setup))
        start = images.find(env.image)
    if start is not None:  # a rebuilt toolchain image makes a new environment
        env = replace(env, inputs={**env.inputs, "image_id": start.image_id})
    if images is None or not env.setup:
        outcome = EnvOutcome(env.image, ready=not env.setup, detail="not kept as an image")
    else:
        tree = co.export(base, co.root / "environment")
        co.give_to(tree, user)
        outcome = ensure_environment(
            images,
            env,
            tree,
            policy=ctx.policy(plan, share=0.5),
            user=user,
            labels=ctx.labels,
            ttl_seconds=cfg.environment_ttl_seconds,
            lock_dir=cfg.work_dir / "locks",
        )
    ctx.rec.stage(
        "environment",
        outcome.seconds,
        image=outcome.image,
        toolchain=env.toolchain,
        source=env.source,
        setup=list(env.setup),
        ready=outcome.ready,
        built=outcome.built,
        detail=outcome.detail,
    )
    return RunEnvironment(env, outcome)
