"""Small text scans the facts call does without ``re`` (importing it costs a facts call more
CPU than everything it reads; see jsonfast). Each one gives what the regular expression
named in its docstring gives, which the unit tests check on the same inputs."""


def yaml_setting(text, key):
    """The first match of ``^KEY:\\s*['"]?([^'"\\s#]+)`` (re.M) in ``text``, or None: the value
    of a top-level ``key: value`` line of a YAML file (staticPodPath, containerRuntimeEndpoint
    in a KubeletConfiguration file)."""
    head = key + ":"
    at = 0 if text.startswith(head) else _next_line_start(text, head, 0)
    while at >= 0:
        i = at + len(head)
        n = len(text)
        while i < n and text[i].isspace():  # \s* (may cross lines, as in the pattern)
            i += 1
        if i < n and text[i] in "'\"":
            i += 1
        j = i
        while j < n and text[j] not in "'\"#" and not text[j].isspace():
            j += 1
        if j > i:
            return text[i:j]
        at = _next_line_start(text, head, at + 1)
    return None


def _next_line_start(text, head, start):
    """Where ``head`` next begins a line (after a newline) at or after ``start``, or -1."""
    i = text.find("\n" + head, max(start - 1, 0))
    return -1 if i < 0 else i + 1
