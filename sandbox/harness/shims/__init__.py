"""Small programs run inside the sandbox next to a harness (by the image's own python3), read
as text and passed with `python3 -c`, so the image needs no file of ours."""

from importlib.resources import files


def shim_source(name: str) -> str:
    """The source of `sandbox/harness/shims/<name>.py`."""
    return files(__package__).joinpath(f"{name}.py").read_text()
