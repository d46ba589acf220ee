"""What the agent reads and changes on the node itself, one concept a module: files, the
ownership state and the backups (manifests' and pods' files'), users and groups (owners),
the node lock, systemd, commands, HTTP over
sockets, the running kubelet, the kubelet's log, JSON without the json package; and here
the one error every step reports as an answer.

(The error lives in the package itself rather than a module of its own: every agent call
imports it, and each module a facts call loads costs it CPU on the node.)
"""


class AgentError(Exception):
    """An expected failure, worded for the operator: it becomes the answer's ``error``."""
