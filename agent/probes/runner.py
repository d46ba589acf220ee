"""What a probe needs of the node: the pod's IP and a command run in a container, through
the runtime the node's pods were read from.

The host of an http probe is ``httpGet.host`` or the pod's IP; tcpSocket and grpc use the pod's
IP (tcpSocket also its ``host``). A hostNetwork pod's IP is the node's (the kubelet reports the
host's IPs for it, NodeRunner.node_ip): the node IP the control host sent (k3s's and rke2's
``node-ip`` from their config files, which their hidden command line does not show), else
the kubelet's --node-ip, else the node's address toward its default route, else 127.0.0.1.
"""

import socket

from .kinds import ProbeError


def host_ip():
    """The node's address toward its default route (no packet is sent), else 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect(("10.255.255.255", 1))
        return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        sock.close()


class NodeRunner:
    """Pod IPs and exec through the runtime the node's pods were read from.

    ``cmdlines``: the running kubelets' command lines when the caller has read them (None:
    read from the usual kubelet units when a hostNetwork pod needs the node's IP)."""

    def __init__(self, node, cmdlines=None):
        self.node = node
        self.cmdlines = cmdlines

    def _source(self):
        runtime = self.node.runtime()
        sources = getattr(runtime, "sources", None)
        return sources[0] if sources else None

    def node_ip(self):
        """A hostNetwork pod's IP as the kubelet reports it: pkg/kubelet/kubelet_pods.go gives
        such a pod the node's host IPs (nodeutil.GetNodeHostIPs: its first InternalIP), which
        pkg/kubelet/nodestatus/setters.go NodeAddress takes from --node-ip when set, else
        from an IP given as --hostname-override, else from the node name's DNS answer, else
        from the interface of the default route. The first two come from the kubelet's
        command line; for the others the agent takes its address toward the default route."""
        from ..system.kubelet import kubelet_node_ip

        if self.node.node_ip:
            return self.node.node_ip
        if self.cmdlines is None:
            from .. import protocol
            from ..system.systemd import kubelet_cmdlines

            units = self.node.systemd.show(list(protocol.KUBELET_UNITS))
            self.cmdlines = kubelet_cmdlines(units)
        return kubelet_node_ip(self.cmdlines) or host_ip()

    def pod_ip(self, pod, host_network, timeout=5.0):
        if host_network:
            return self.node_ip()
        source = self._source()
        if source is None or not pod.get("sandbox_id"):
            return None
        if source.kind == "cri":
            from ..runtime import cri

            return cri.sandbox_status(source.path, pod["sandbox_id"], timeout)["ip"] or None
        from ..runtime import docker

        return docker.sandbox_ip(source.path, pod["sandbox_id"], timeout)

    def exec(self, container_id, command, timeout, deadline=None):
        """(exit code or None on timeout, output bytes). The runtime stops the command after
        ``timeout`` seconds; ``deadline``: the seconds the call may take in all (what is left
        of the wait; default ``timeout``)."""
        source = self._source()
        if source is None:
            raise ProbeError("no container runtime to run the command in")
        if source.kind == "cri":
            from ..runtime import cri, grpc

            try:
                answer = cri.exec_sync(source.path, container_id, command, timeout, deadline)
            except grpc.GrpcError as exc:
                if exc.status == "DEADLINE_EXCEEDED":
                    return None, b""
                raise ProbeError(str(exc)) from None
            return answer.get("exit_code", 0), (answer.get("stdout") or b"") + (
                answer.get("stderr") or b""
            )
        from ..runtime import docker

        return docker.exec_run(source.path, container_id, command, timeout)
