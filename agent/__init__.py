"""spctl's node agent: the only reader and writer of static pod state on a node.

It runs on the node's own python (3.6 or newer, standard library only), one call per
process: a JSON request on stdin, a JSON answer on stdout (``protocol`` holds the contract,
``main`` the entry point). The control host sends it as one zipapp (see spctl/remote.py).

    protocol    request and answer shapes, and every constant both sides use
    main        read the request, run its op, write the answer
    facts       the facts op: what the node is, read only
    apply       the apply op: lock, check, kubelet change, manifest changes, wait
    kubelet     the kubelet's configuration as a transaction; its health
    manifests   one manifest's transaction (PodChange); waiting for pods
    pods        pod identity and phase from the runtime's records
    runtime/    which runtime the kubelet uses; cri (the CRI API), docker (cri-dockerd)
    node        the seam: paths by role, file system steps, systemd, runtime, clock
    files, lock, state, systemd, commands, http, errors: small helpers
"""
