"""Container ports (validateContainerPorts, validatePodHostNetworkDeps,
AccumulateUniqueHostPorts)."""

from __future__ import annotations

from typing import Any

from spctl.desired.validation.kubelet.common import (
    PORT_NAME_HINT,
    integer,
    items,
    port_name_error,
    port_number_error,
    problem,
    text,
)
from spctl.desired.validation.problem import Problem, show

PROTOCOLS = ("TCP", "UDP", "SCTP")


def port_problems(spec: dict[str, Any]) -> list[Problem]:
    problems = []
    host_network = spec.get("hostNetwork") is True
    for key in ("initContainers", "containers"):
        for i, container in items(spec.get(key)):
            problems += _container_ports(f"spec.{key}[{i}].ports", container.get("ports"))
            if host_network:
                problems += _host_network(f"spec.{key}[{i}].ports", container.get("ports"))
    # Regular containers run together, so their host ports may not collide; init containers
    # run one at a time and are checked one by one.
    problems += _host_port_conflicts(
        [(f"spec.containers[{i}]", c) for i, c in items(spec.get("containers"))]
    )
    for i, container in items(spec.get("initContainers")):
        problems += _host_port_conflicts([(f"spec.initContainers[{i}]", container)])
    return problems


def _container_ports(prefix: str, ports: Any) -> list[Problem]:
    problems = []
    names: dict[str, int] = {}
    for j, port in items(ports):
        path = f"{prefix}[{j}]"
        name = text(port.get("name"))
        if name:
            error = port_name_error(name)
            if error:
                problems.append(
                    problem(f"{path}.name", error, PORT_NAME_HINT, "validateContainerPorts")
                )
            elif name in names:
                problems.append(
                    problem(
                        f"{path}.name",
                        f"port name {name!r} is already used by {prefix}[{names[name]}]",
                        "give each port of a container its own name",
                        "validateContainerPorts",
                    )
                )
            else:
                names[name] = j
        for key in ("containerPort", "hostPort"):
            number = integer(port.get(key))
            if number is None or (key == "hostPort" and number == 0):
                continue
            if number == 0:
                problems.append(
                    problem(
                        f"{path}.containerPort",
                        "required: containerPort is 0",
                        "write the port the container listens on, 1 to 65535",
                        "validateContainerPorts",
                    )
                )
                continue
            error = port_number_error(number)
            if error:
                problems.append(
                    problem(
                        f"{path}.{key}",
                        error,
                        "use 1 to 65535"
                        + (" (or leave hostPort out)" if key == "hostPort" else ""),
                        "validateContainerPorts",
                    )
                )
        protocol = port.get("protocol")
        if isinstance(protocol, str) and protocol not in PROTOCOLS:
            problems.append(
                problem(
                    f"{path}.protocol",
                    f"{show(protocol)} is not a port protocol",
                    "write TCP, UDP or SCTP, upper case (or leave it out for TCP)",
                    "validateContainerPorts",
                )
            )
    return problems


def _host_network(prefix: str, ports: Any) -> list[Problem]:
    problems = []
    for j, port in items(ports):
        host, container = integer(port.get("hostPort")), integer(port.get("containerPort"))
        if host is not None and container is not None and host != container:
            problems.append(
                problem(
                    f"{prefix}[{j}].hostPort",
                    f"hostPort {host} differs from containerPort {container}, but with "
                    "hostNetwork: true the container listens on the node itself",
                    f"write hostPort: {container} or leave hostPort out",
                    "validatePodHostNetworkDeps",
                )
            )
    return problems


def _host_port_conflicts(group: list[tuple[str, dict[str, Any]]]) -> list[Problem]:
    problems = []
    seen: dict[tuple[str, str, int], str] = {}
    for prefix, container in group:
        for j, port in items(container.get("ports")):
            host = integer(port.get("hostPort"))
            if not host:
                continue
            key = (text(port.get("protocol")), text(port.get("hostIP")), host)
            path = f"{prefix}.ports[{j}]"
            if key in seen:
                problems.append(
                    problem(
                        f"{path}.hostPort",
                        f"hostPort {host}/{key[0]}"
                        + (f" on {key[1]}" if key[1] else "")
                        + f" is already used by {seen[key]}",
                        "use a different hostPort (or protocol or hostIP) for each",
                        "AccumulateUniqueHostPorts",
                    )
                )
            else:
                seen[key] = path
    return problems
