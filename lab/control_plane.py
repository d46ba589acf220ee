"""Lay out kubeadm nodes of the lab as control-plane nodes: a kube-apiserver static pod in
``/etc/kubernetes/manifests`` as ``kubeadm init``/``join`` writes it, for ``spctl import``
and rolling changes to practise on.

The manifest follows kubeadm's (cmd/kubeadm/app/phases/controlplane/manifests.go,
GetStaticPodSpecs and getAPIServerCommand; cmd/kubeadm/app/util/staticpod/utils.go,
ComponentPod, LivenessProbe/ReadinessProbe/StartupProbe and WriteStaticPodToDisk): the pod
serialized through sigs.k8s.io/yaml (keys sorted, ``creationTimestamp: null``,
``status: {}``), hostNetwork, the ``component``/``tier`` labels, the advertise-address
annotation, hostPath volumes for the certificates, written with mode 0600. What differs
between kubeadm's control-plane nodes differs here too: the advertise address, in the
annotation, the flag and the host of every probe (kubeadm probes the advertise address).

It is a stand-in, not an API server: the container runs the lab's pod image
(busybox ``httpd``), started by a one-line shell script that receives kube-apiserver's flags
as its arguments and serves ``/livez`` and ``/readyz`` over plain HTTP on the port of
``--secure-port`` (kubeadm's probes use HTTPS on 6443; busybox has no TLS). So a flag that
moves the port makes the pod run but never become ready, as it would make a real API server
unreachable to its probes.
"""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import yaml
from spctl_lab.cluster import Lab, LabNode

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
PORT = 6443  # kubeadm's default bind port (constants.KubeAPIServerPort)
KUBEADM_PROFILES = ("kubeadm-deb", "kubeadm-rpm")

# $0 is kube-apiserver, "$@" its flags. busybox httpd ignores SIGTERM; the shell exits on it.
STANDIN_SCRIPT = (
    "trap 'exit 0' TERM; port=6443; for arg; do case $arg in --secure-port=*) "
    'port=${arg#*=};; esac; done; echo ok > /www/livez; echo ok > /www/readyz; echo "$0 '
    'stand-in for the spctl lab, plain HTTP /livez and /readyz on port $port"; '
    "httpd -f -p $port -h /www & wait"
)


def _probe(address: str, path: str, timing: str) -> str:
    return f"""\
      httpGet:
        host: {address}
        path: {path}
        port: {PORT}
        scheme: HTTP
{timing}"""


def apiserver_manifest(address: str, image: str = "spctl-lab/pod:1.0") -> str:
    """kube-apiserver's manifest for the control-plane node that advertises ``address``."""
    liveness = _probe(
        address,
        "/livez",
        "      initialDelaySeconds: 10\n      periodSeconds: 10\n      timeoutSeconds: 15",
    )
    readiness = _probe(address, "/readyz", "      periodSeconds: 1\n      timeoutSeconds: 15")
    startup = _probe(
        address,
        "/livez",
        "      initialDelaySeconds: 1\n      periodSeconds: 1\n      timeoutSeconds: 15",
    )
    return f"""\
# spctl lab: a stand-in for kubeadm's kube-apiserver (the lab's busybox pod image serving
# /livez and /readyz over plain HTTP on --secure-port; kubeadm's probes use HTTPS). The
# startup probe checks every second for 4 minutes (kubeadm: after 10 s, every 10 s, 24 times).
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: {address}:{PORT}
  creationTimestamp: null
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - /bin/sh
    - -c
    - {STANDIN_SCRIPT}
    - kube-apiserver
    - --advertise-address={address}
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --enable-admission-plugins=NodeRestriction
    - --enable-bootstrap-token-auth=true
    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt
    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt
    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key
    - --etcd-servers=https://127.0.0.1:2379
    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt
    - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key
    - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt
    - --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key
    - --requestheader-allowed-names=front-proxy-client
    - --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt
    - --requestheader-extra-headers-prefix=X-Remote-Extra-
    - --requestheader-group-headers=X-Remote-Group
    - --requestheader-username-headers=X-Remote-User
    - --secure-port={PORT}
    - --service-account-issuer=https://kubernetes.default.svc.cluster.local
    - --service-account-key-file=/etc/kubernetes/pki/sa.pub
    - --service-account-signing-key-file=/etc/kubernetes/pki/sa.key
    - --service-cluster-ip-range=10.96.0.0/12
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: {image}
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
{liveness}
    name: kube-apiserver
    readinessProbe:
      failureThreshold: 3
{readiness}
    resources:
      requests:
        cpu: 250m
    startupProbe:
      failureThreshold: 240
{startup}
    volumeMounts:
    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /etc/ca-certificates
      name: etc-ca-certificates
      readOnly: true
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
    - mountPath: /usr/local/share/ca-certificates
      name: usr-local-share-ca-certificates
      readOnly: true
    - mountPath: /usr/share/ca-certificates
      name: usr-share-ca-certificates
      readOnly: true
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /etc/ca-certificates
      type: DirectoryOrCreate
    name: etc-ca-certificates
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
  - hostPath:
      path: /usr/local/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-local-share-ca-certificates
  - hostPath:
      path: /usr/share/ca-certificates
      type: DirectoryOrCreate
    name: usr-share-ca-certificates
status: {{}}
"""


def node_address(lab: Lab, node: LabNode) -> str:
    """The node's address on the lab's network: what kubeadm would advertise."""
    container = lab.client.containers.get(node.container)
    return str(container.attrs["NetworkSettings"]["Networks"][lab.name]["IPAddress"])


def lay_out(lab: Lab, node: LabNode) -> str:
    """Write kube-apiserver's manifest on a kubeadm node, as kubeadm does (root, 0600); the
    node's kubelet starts the pod. Returns the advertised address."""
    if node.profile not in KUBEADM_PROFILES:
        raise ValueError(f"{node.name} is a {node.profile} node; a control plane needs kubeadm")
    address = node_address(lab, node)
    data = apiserver_manifest(address).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(MANIFEST.lstrip("/"))
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    lab.client.containers.get(node.container).put_archive("/", buf.getvalue())
    return address


def tear_down(lab: Lab, node: LabNode) -> None:
    """Remove kube-apiserver's manifest: the node's kubelet stops the pod."""
    container = lab.client.containers.get(node.container)
    container.exec_run(["rm", "-f", MANIFEST])


def write_inventory(lab: Lab, names: list[str]) -> Path:
    """``control-plane.yaml`` beside the lab's inventory: these nodes as the group
    ``control-plane``, with no pods yet and templates of their own (``control-plane/``), for
    ``spctl import`` to fill in."""
    nodes = (yaml.safe_load(lab.inventory_path.read_text()) or {}).get("nodes") or {}
    inventory = {
        "templates": "control-plane",
        "defaults": {"ssh": {"user": "root", "key": "id_ed25519", "known_hosts": "known_hosts"}},
        "groups": {"control-plane": {"members": list(names)}},
        "nodes": {name: nodes[name] for name in names},
    }
    (lab.state_dir / "control-plane").mkdir(exist_ok=True)
    path = lab.state_dir / "control-plane.yaml"
    path.write_text(
        "# Written by `spctl lab control-plane`: the lab's control-plane nodes.\n"
        + yaml.safe_dump(inventory, sort_keys=False)
    )
    return path
