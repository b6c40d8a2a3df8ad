"""GitHub behind a small Protocol: the PyGithub implementation and a scriptable fake."""
