# What `kubeadm join` would write for the kubelet, minus the API server credentials.
mkdir -p /var/lib/kubelet /etc/kubernetes/manifests
cat > /var/lib/kubelet/config.yaml <<CFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: systemd
healthzBindAddress: 127.0.0.1
healthzPort: 10248
staticPodPath: /etc/kubernetes/manifests
CFG
echo 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"' > /var/lib/kubelet/kubeadm-flags.env
cat > /etc/crictl.yaml <<CRI
runtime-endpoint: unix:///run/containerd/containerd.sock
CRI
systemctl enable --now kubelet
