"""Deciding what to change on a node: pure functions of (what should run, the node's facts)."""
