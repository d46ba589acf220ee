"""What a pod summary's container fields mean, read the same way by the agent (its wait and
error messages) and the control host (status): written once, as the contract is."""


def last_exit(container):
    """(exit code, reason) of a container's last termination: its own when it exited, else
    the previous instance's (``last_exit_code``, ``last_reason``: kubectl's Last State);
    (None, None) when it never ended."""
    if container.get("state") == "exited" and container.get("exit_code") is not None:
        return container["exit_code"], container.get("reason")
    return container.get("last_exit_code"), container.get("last_reason")
