"""The one secret scanner: shapes of well-known keys, and the exact values Burndown holds."""

from pydantic import SecretStr

from worker.secrets_scan import SecretScanner
from worker.settings import Settings
from worker.wiring import secret_scanner


def test_every_secret_setting_is_matched_exactly_and_never_shown() -> None:
    settings = Settings(
        github_token=SecretStr("token-value-aaaa"),
        github_webhook_secret=SecretStr("webhook-value-bbbb"),
        anthropic_api_key=SecretStr("anthropic-value-cccc"),
        openai_api_key=SecretStr("openai-value-dddd"),
        litellm_api_key=SecretStr("litellm-value-eeee"),
    )
    scanner = secret_scanner(settings)
    text = "a token-value-aaaa\nb webhook-value-bbbb anthropic-value-cccc\n" + (
        "openai-value-dddd litellm-value-eeee"
    )
    found = scanner.scan(text)
    assert [(f.what, f.line) for f in found] == [
        ("holds the value of BURNDOWN_GITHUB_TOKEN", 1),
        ("holds the value of BURNDOWN_GITHUB_WEBHOOK_SECRET", 2),
        ("holds the value of BURNDOWN_ANTHROPIC_API_KEY", 2),
        ("holds the value of BURNDOWN_OPENAI_API_KEY", 3),
        ("holds the value of BURNDOWN_LITELLM_API_KEY", 3),
    ]
    assert all("value-" not in str(f) and "value-" not in repr(f) for f in found)


def test_new_in_counts_copies_the_old_text_already_had() -> None:
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    scanner = SecretScanner()
    assert scanner.new_in(f"x {key}", f"y {key}") == []
    (f,) = scanner.new_in(f"x {key}", f"y {key}\n{key}")
    assert (f.what, f.line) == ("looks like an AWS access key", 2)
    assert scanner.first("nothing here") is None


def test_redact_replaces_every_held_value_wherever_it_is() -> None:
    scanner = SecretScanner({"A": "short-secret", "B": "short-secret-and-more", "C": "tiny"})
    text = "x short-secret-and-more y short-secret tiny"
    assert scanner.redact(text) == "x *** y *** tiny"  # the longer value is cut whole
    data = {"short-secret": ["a short-secret", 3, None, {"k": "short-secret"}], "n": 1.5}
    assert scanner.redact_data(data) == {"***": ["a ***", 3, None, {"k": "***"}], "n": 1.5}
    assert SecretScanner().redact("ghp_" + "A" * 36) == "ghp_" + "A" * 36  # values, not shapes
