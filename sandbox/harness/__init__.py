"""Coding-agent harnesses: the protocol (`protocol`), the unified event schema (`events`), prices,
model access, the adapters (`adapters/`), the name registry (`registry`), the one function that
runs a harness in a sandbox (`run`), and a scripted harness for tests and benches (`scripted`)."""
