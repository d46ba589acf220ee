"""``$(VAR)`` in an exec probe's command, expanded as the kubelet expands it.

pkg/kubelet/prober/prober.go runs an exec probe's command through
``kubecontainer.ExpandContainerCommandOnlyStatic(p.Exec.Command, container.Env)``
(pkg/kubelet/container/helpers.go): the mapping is every entry of the container's ``env``,
name to ``value``, a later entry of the same name replacing an earlier one
(``v1EnvVarsToMap``). An entry with ``valueFrom`` has no ``value``, so it maps to "": only
static values are known to the prober, and a reference to such a variable becomes empty.
Values are used as written (a ``$(A)`` inside a value is not expanded again).

Each word is expanded by ``expansion.Expand`` (third_party/forked/golang/expansion/expand.go):
- ``$(NAME)``: the mapping's value; a name not in the mapping is left as ``$(NAME)``; the
  name is everything up to the first ``)``, whatever it holds;
- ``$$`` is one ``$`` (the escape), so ``$$(NAME)`` is the text ``$(NAME)``;
- ``$`` followed by any other character stays, with that character; a ``$`` at the end
  stays; ``$(`` with no ``)`` after it stays, and the scan goes on after the ``(``.
"""


def env_mapping(env):
    """{name: value} of a container's ``env`` list, as v1EnvVarsToMap builds it."""
    mapping = {}
    for entry in env or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            value = entry.get("value")
            mapping[entry["name"]] = value if isinstance(value, str) else ""
    return mapping


def expand(text, mapping):
    """One word with its ``$(NAME)`` references replaced (expand.go ``Expand``)."""
    out = []
    checkpoint = 0
    cursor = 0
    end = len(text)
    while cursor < end:
        if text[cursor] == "$" and cursor + 1 < end:
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            if following == "$":
                out.append("$")  # the escaped operator
                advance = 1
            elif following == "(":
                closer = text.find(")", cursor + 2)
                if closer < 0:
                    out.append("$(")  # an incomplete reference, kept
                    advance = 1
                else:
                    name = text[cursor + 2 : closer]
                    out.append(mapping[name] if name in mapping else "$(" + name + ")")
                    advance = closer - cursor
            else:
                out.append("$" + following)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def expand_command(command, env):
    """An exec probe's command with ``$(VAR)`` expanded from the container's ``env``
    (ExpandContainerCommandOnlyStatic)."""
    mapping = env_mapping(env)
    return [expand(word, mapping) if isinstance(word, str) else word for word in command or []]
