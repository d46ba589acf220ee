"""spctl's node agent: the only reader and writer of static pod state on a node.

It runs on the node's own python (3.6 or newer, standard library only), one call per
process: a JSON request on stdin, a JSON answer on stdout (``protocol`` holds the contract,
``main`` the entry point). The control host sends it as one zipapp (see spctl/transport/agent_archive.py).

Layers, lowest first; a module imports its own layer or a lower one (a unit test checks):

    protocol/      the contract: constants, messages (every request and answer field),
                   the probe spec, systemctl show's output, flag values
    system/        the node itself: files, lock, ownership state and backups, systemd,
                   commands, http, the running kubelet, its log, jsonfast; AgentError
    runtime/       which runtime the kubelet uses; cri (the CRI API), docker (cri-dockerd);
                   pods (pod identity and phase from the runtime's records)
    probes/        startup and readiness probes as the kubelet runs them
    node           the seam: paths by role, file system steps, systemd, runtime, clock
    transaction/   the apply op: lock, recover, check, journal, change, wait, undo
    facts          the facts op: what the node is, read only
    main           read the request, run its op, write the answer
"""
