"""Carrying bytes to nodes and back, deciding nothing: SSH, host keys, the agent call, the fleet."""
