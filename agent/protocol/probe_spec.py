"""The probe spec: what the agent needs of a parsed pod to probe it. The control host
makes it from each pod it deploys (the ``probes`` of a change and of a facts request);
the agent's prober reads it."""


def probe_spec_of(pod):
    """What the agent needs of a parsed pod to probe it: {"hostNetwork", "containers":
    [{"name", "ports", "startupProbe", "readinessProbe", "env"}]}; None when no container
    has one. ``env`` (when the container has any): [{"name", "value"}], the static values
    an exec probe's ``$(VAR)`` expands to (``probes.expansion``); an entry with ``valueFrom``
    is there with value "", as the kubelet's prober knows it."""
    spec = (pod or {}).get("spec") or {}
    containers = []
    for c in spec.get("containers") or []:
        if not isinstance(c, dict):
            continue
        entry = {"name": c.get("name"), "ports": c.get("ports") or []}
        env = [
            {"name": e["name"], "value": e.get("value") if isinstance(e.get("value"), str) else ""}
            for e in c.get("env") or []
            if isinstance(e, dict) and isinstance(e.get("name"), str)
        ]
        if env:
            entry["env"] = env
        for kind in ("startupProbe", "readinessProbe"):
            if isinstance(c.get(kind), dict):
                entry[kind] = c[kind]
        containers.append(entry)
    if not any("startupProbe" in c or "readinessProbe" in c for c in containers):
        return None
    return {"hostNetwork": bool(spec.get("hostNetwork")), "containers": containers}
