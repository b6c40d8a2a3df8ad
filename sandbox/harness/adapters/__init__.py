"""The adapters of the coding-agent CLIs Burndown runs; `sandbox.harness.registry` finds them by
name, so nothing here imports the registry and the registry imports none of them eagerly."""
