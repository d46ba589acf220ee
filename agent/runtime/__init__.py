"""How the agent reads a node's container runtime."""
