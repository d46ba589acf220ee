"""Readiness as the kubelet sees it: a pod's startup and readiness probes, run by the agent.

    kinds     one attempt of an http, tcp or grpc probe (the kubelet's pkg/probe/)
    runner    the node's side: a pod's IP, a command run in a container
    prober    when probes run and what their results make of a container (pkg/kubelet/prober/)

What the agent is given to probe, a pod's probe spec, is the control host's and is in
``protocol.probe_spec``.
"""
