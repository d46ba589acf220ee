"""The probe spec: what the agent needs of a parsed pod to probe it. The control host
makes it from each pod it deploys (the ``probes`` of a change and of a facts request);
the agent's prober reads it."""


def probe_spec_of(pod):
    """What the agent needs of a parsed pod to probe it: {"hostNetwork", "containers":
    [{"name", "ports", "startupProbe", "readinessProbe"}]}; None when no container has one."""
    spec = (pod or {}).get("spec") or {}
    containers = []
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        entry = {"name": c.get("name"), "ports": c.get("ports") or []}
        for kind in ("startupProbe", "readinessProbe"):
            if isinstance(c.get(kind), dict):
                entry[kind] = c[kind]
        containers.append(entry)
    if not any("startupProbe" in c or "readinessProbe" in c for c in containers):
        return None
    return {"hostNetwork": bool(spec.get("hostNetwork")), "containers": containers}
