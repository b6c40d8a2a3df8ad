"""Coding-agent harnesses behind one Protocol, and the unified event schema."""
