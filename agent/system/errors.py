"""The one error the agent reports as an answer rather than a traceback."""


class AgentError(Exception):
    """An expected failure, worded for the operator: it becomes the answer's ``error``."""
