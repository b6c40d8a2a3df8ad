"""The sandbox's output is read in time linear in its size, a line at most `MAX_LINE_BYTES`."""

import time

from sandbox.docker_runtime import _Lines
from worker.verify import TAIL_CHARS, _Reader


def test_a_flood_without_newlines_is_linear_and_cut() -> None:
    got: list[str] = []
    lines = _Lines(got.append, limit=1000)
    chunk = b"x" * 65536
    t0 = time.monotonic()
    for _ in range(800):  # 50 MiB with no newline: quadratic joining would take minutes
        lines.feed(chunk)
    lines.feed(b"\nnext\n")
    lines.close()
    assert time.monotonic() - t0 < 10
    assert len(got) == 2 and got[1] == "next"
    assert got[0].startswith("x" * 1000) and f"{800 * 65536 - 1000} more bytes" in got[0]


def test_lines_split_across_chunks_are_joined() -> None:
    got: list[str] = []
    lines = _Lines(got.append)
    for part in (b"he", b"llo\nwor", b"ld", b"\n\nlast"):
        lines.feed(part)
    lines.close()
    assert got == ["hello", "world", "", "last"]


def test_test_output_is_kept_as_a_tail_with_its_failures() -> None:
    reader = _Reader()
    for i in range(100_000):
        reader(f"line {i} of noise")
    reader("FAILED tests/test_a.py::test_one - assert 1 == 2")
    assert reader.failures == {"tests/test_a.py::test_one"}
    assert len(reader.tail) <= TAIL_CHARS and reader.tail.endswith("assert 1 == 2")
