"""Errors a user can act on.

Every expected failure in spctl is a :class:`SpctlError`: the CLI prints its message (no
traceback) and exits non-zero. Messages name the node, file or field and say what to do.
"""

from __future__ import annotations


class SpctlError(Exception):
    """An expected failure, with a message meant for the operator."""

    exit_code = 2


class InventoryError(SpctlError):
    """The inventory file is missing, malformed or refers to something unknown."""


class TemplateError(SpctlError):
    """A pod template does not exist, does not parse or uses an undefined variable."""


class ValidationError(SpctlError):
    """A rendered manifest breaks the Pod schema or the static-pod rules.

    ``problems`` holds one line per finding, each naming node, pod, template and field.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class NodeError(SpctlError):
    """A node could not be reached or refused an operation."""


class TransportError(NodeError):
    """The SSH connection itself failed: the node refused or reset it, closed it before or
    during the handshake (no banner, "No existing session"), refused a session, or closed a
    session before its command's exit status arrived.

    Never a host key or authentication refusal, a command that ran and exited non-zero, the
    agent's own error, or a deadline that passed: those are plain :class:`NodeError`. A
    command cut off this way may or may not have run, so only work that changes nothing on
    the node may be tried again (``spctl.verbs.session.read_node``).
    """
