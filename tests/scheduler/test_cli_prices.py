"""`burndown prices` and the operator's price table: defaults, a file, a setting, unknowns."""

import json
from pathlib import Path

import pytest

from sandbox.harness.events import Usage
from sandbox.harness.price_file import PriceFileError, operator_prices, read_price_file
from tests.support.processes import burndown, child_env

PRICE_FILE = """\
gpt-5.5: {input: 1.0, output: 8.0, cached_input: 0.1, source: our contract, as_of: 2026-11-15}
local-llama: {input: 0, output: 0, source: self-hosted, as_of: 2026-11-20}
"""


def test_the_file_overrides_the_defaults_and_the_setting_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text(PRICE_FILE)
    table = operator_prices(path, {"local-llama": {"input": 0.1, "output": 0.2}})
    assert table.prices["gpt-5.5"].source == "our contract"
    assert table.cost_usd("gpt-5.5", Usage(input_tokens=1_000_000)) == 1.0
    assert table.cost_usd("openai/local-llama", Usage(output_tokens=1_000_000)) == 0.2
    assert (
        table.prices["claude-sonnet-4-5"].source == "Burndown's default table: Anthropic list price"
    )
    assert table.cost_usd("never-heard-of-it", Usage(input_tokens=5)) is None


def test_a_malformed_price_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text("gpt-5.5: {input: cheap}\n")
    with pytest.raises(PriceFileError, match="not a valid price table"):
        read_price_file(path)
    with pytest.raises(PriceFileError, match="cannot read"):
        read_price_file(tmp_path / "missing.yml")


def test_burndown_prices_shows_what_is_in_force(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text(PRICE_FILE)
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_PRICE_FILE": str(path),
            "BURNDOWN_PRICES": json.dumps({"o3": {"input": 9, "output": 9, "source": "setting"}}),
        }
    )
    lines = burndown(["prices"], env).splitlines()
    assert lines[0] == "model\tinput\tcached_input\toutput\tsource\tas_of"
    assert "gpt-5.5\t1\t0.1\t8\tour contract\t2026-11-15" in lines
    assert "o3\t9\t9\t9\tsetting\t-" in lines
    data = json.loads(burndown(["prices", "--json"], env))
    assert data["local-llama"] == {
        "input": 0.0,
        "output": 0.0,
        "cached_input": None,
        "source": "self-hosted",
        "as_of": "2026-11-20",
    }
