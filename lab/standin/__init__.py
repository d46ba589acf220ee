"""Kubelet stand-in for the spctl lab: for tests and demos only. This is NOT a kubelet.

No real kubelet can be installed in the lab, so every lab node gets this program as
/usr/bin/kubelet (the lab's k3s and rke2 stand-ins run it in their own process). It mirrors
the kubelet's documented static-pod behaviour where a tool managing static pods can observe
it:

- the command line (pflag rules; an unknown flag is fatal) and the KubeletConfiguration
  file, flags overriding config fields, zero check frequencies defaulted as the kubelet's
  v1beta1 defaults.go does;
- the sources: a manifest directory (or file), re-listed every fileCheckFrequency and
  watched with inotify, and a manifest URL polled every httpCheckFrequency;
- the file rules: dotfiles ignored, no extension filter, no recursion, 10 MiB limit, a file
  that fails to parse dropped on the next re-list, duplicate pod names, and the
  PreventStaticPodAPIReferences restrictions;
- pod names `<name>-<node>`, content-hash UIDs, the kubernetes.io/config.* annotations;
- pods run through the node's runtime: containerd through the CRI (gRPC on the socket that
  --container-runtime-endpoint / containerRuntimeEndpoint names), with the kubelet's labels,
  annotations and attempts; or, when the endpoint names cri-dockerd (or none is set: the
  seed walkthrough's Fedora node), the node's own dockerd with cri-dockerd's container names
  and labels. Either way: restartPolicy with the kubelet's back-off, a new sandbox (attempt
  + 1) when the sandbox dies, the kubelet's container garbage collection (a dead sandbox is
  kept while it holds a dead container), replacement when the content changes, removal when
  the file goes, adoption of running pods when the stand-in restarts;
- no sandbox for a pod that is not hostNetwork while the runtime's NetworkReady is false
  (no CNI configuration), with the kubelet's "network is not ready" error;
- /healthz, and /pods on the read-only port.

Images: the lab has no registry. With imagePullPolicy IfNotPresent (the default for a tagged
image other than :latest) an image present in the node's runtime is used; a pull, which
Always (the default for :latest or no tag) makes at every start and IfNotPresent makes for a
missing image, fails (ErrImagePull, then ImagePullBackOff while the pull back-off lasts);
Never with a missing image is ErrImageNeverPull. Each is logged as pod_workers.go logs a
failed sync. The lab's pod image is therefore tagged 1.0, not latest.
It has no API server client (no mirror pods), no probes, no init containers,
no hostPort mapping, no resource limits and no DNS setup. Standard library and PyYAML, and
for the CRI python3-grpcio through cri/client.py, imported only to talk;
Python 3.9 or newer (Debian bookworm has 3.11).

Its modules, from the bottom up (each imports only modules above it in this list):

- log: the kubelet's log lines, klog's text or component-base's JSON (--logging-format,
  logging.format); release: the release mirrored and its feature gates; restarts:
  restartPolicy and the crash-loop back-off; flags: the command line; config: the settings;
- validation: what a static pod must pass; pod_fields: the Pod's Go fields (generated from
  types.go); quantity: a resource quantity's Go fields; defaults: the decoded pod, the
  scheme's defaults and the hashed form; manifests: files and URL bodies to StaticPods;
  sources: the manifest path and the manifest URL;
- pods: a pod's containers as the runtime holds them; runtime: what a runtime is asked and how
  it fails; network: no sandbox while the runtime's network is not ready (as kubelet.go);
  image_pulls, garbage, status, volumes: the kubelet's policies on those;
- docker_api and docker: the node's dockerd, the cri-dockerd way; cri/ (the CRI's messages
  and client, and the spctl-lab-cri program) and kuberuntime: containerd through the CRI;
- terminator, kubelet: the sync loop; server: /healthz and /pods; main: the program.

Nothing here imports spctl: the lab checks spctl against it, so it must not share spctl's
code (or its mistakes).
"""
