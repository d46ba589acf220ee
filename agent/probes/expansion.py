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

One pass, so the result is at most len(word) * the longest value; still, a manifest of up to
10 MiB can hold a value of megabytes referenced a million times. The kubelet would build that
and hand it to the runtime, whose execve refuses an argument over 128 KiB (MAX_ARG_STRLEN)
or arguments over a few MiB in all; the agent stops at :data:`MAX_EXPANDED_COMMAND` bytes
instead (:class:`CommandTooLong`, a probe error), before it builds more.
"""

MAX_EXPANDED_COMMAND = 1 << 20  # bytes of UTF-8, all the command's words together


class CommandTooLong(ValueError):
    pass


def env_mapping(env):
    """{name: value} of a container's ``env`` list, as v1EnvVarsToMap builds it."""
    mapping = {}
    for entry in env or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            value = entry.get("value")
            mapping[entry["name"]] = value if isinstance(value, str) else ""
    return mapping


def expand(text, mapping, limit=None):
    """One word with its ``$(NAME)`` references replaced (expand.go ``Expand``);
    :class:`CommandTooLong` as soon as it grows past ``limit`` characters (a caller that
    bounds bytes passes its byte budget: a character is at least one byte, so the word is
    cut no later than its bytes would be, and ``expand_command`` checks the bytes after)."""
    out = []
    size = 0
    checkpoint = 0
    cursor = 0
    end = len(text)
    unclosed = end  # from here on no ")" follows: no need to look again
    while cursor < end:
        if text[cursor] == "$" and cursor + 1 < end:
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            if following == "$":
                out.append("$")  # the escaped operator
                advance = 1
            elif following == "(":
                closer = text.find(")", cursor + 2) if cursor < unclosed else -1
                if closer < 0:
                    unclosed = cursor
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
            size += len(out[-2]) + len(out[-1])
            if limit is not None and size > limit:
                raise CommandTooLong(size)
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def expand_command(command, env):
    """An exec probe's command with ``$(VAR)`` expanded from the container's ``env``
    (ExpandContainerCommandOnlyStatic)."""
    mapping = env_mapping(env)
    words = []
    left = MAX_EXPANDED_COMMAND
    for word in command or []:
        if isinstance(word, str):
            try:
                word = expand(word, mapping, left)
            except CommandTooLong:
                left = -1
            else:
                left -= len(word.encode("utf-8", "surrogatepass")) + 1
            if left < 0:
                raise CommandTooLong(
                    "the command expands to more than %d MiB at word %d: "
                    "shorten it or the $(VAR) values of the container's env it uses"
                    % (MAX_EXPANDED_COMMAND >> 20, len(words) + 1)
                )
        words.append(word)
    return words
