"""The CRI, as the spctl lab's kubelet stand-in speaks it: for tests and demos only.

The kubelet talks to containerd (and CRI-O) through the Container Runtime Interface: gRPC on
the runtime's unix socket, services ``runtime.v1.RuntimeService`` and
``runtime.v1.ImageService``. This package carries the few messages the stand-in needs,
encoded by hand with a small protobuf codec (no generated code), and a client over
``grpcio`` (Debian's python3-grpcio on the lab's nodes). Field numbers come from
kubernetes/cri-api ``pkg/apis/runtime/v1/api.proto``; only the fields used are listed, and
the decoder skips every other field, as protobuf decoders do.

snapshot.py is the ``spctl-lab-cri`` program of the lab's CRI nodes (crictl is not packaged
in Debian): it prints the runtime's sandboxes and containers as JSON, for the lab's tests.

Nothing here imports spctl's agent or product code: the lab looks at the runtime
independently of what it tests. Standard library (and grpcio, imported only to talk).
"""
