"""What ``systemctl show`` prints for a kubelet's unit, and how it is read: the properties
asked for, the ones printed once per entry, and the paths of its EnvironmentFiles lines.

The agent parses the output on the node; the control host reads the same properties in the
facts answer, so the parsing is written here once. It runs on the node's python (3.6 or
newer) and imports nothing at module level; the EnvironmentFiles scan avoids ``re`` for the
usual line (importing it costs a facts call more CPU than everything it reads) and gives
what the regular expression named in its docstring gives, which the unit tests check.
"""

UNIT_PROPERTIES = (
    "LoadState,ActiveState,SubState,FragmentPath,DropInPaths,Environment,EnvironmentFiles,"
    "ExecStart,MainPID,InvocationID,NRestarts"
)

#: Properties that ``systemctl show`` prints once per entry, one ``Name=value`` line each
#: (src/systemctl/systemctl-show.c, print_property: ``EnvironmentFiles`` as "%s
#: (ignore_errors=%s)" per file, ``ExecStart`` as "{ path=... ; argv[]=... ; ... }" per
#: command). They are reported as lists, every line kept in order.
REPEATED = ("EnvironmentFiles", "ExecStart")


def parse_show(block):
    """One unit's ``systemctl show`` output as {property: value}; the properties in
    REPEATED are lists of every line's value."""
    props = {}
    for key in REPEATED:
        props[key] = []
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key in REPEATED:
            props[key].append(value)
        else:
            props[key] = value
    return props


def environment_file_paths(props):
    """The paths of a unit's EnvironmentFiles lines ("PATH (ignore_errors=yes)")."""
    paths = []
    values = props.get("EnvironmentFiles") or []
    if isinstance(values, str):
        values = [values]
    for value in values:
        paths.extend(env_file_paths(str(value)))
    return paths


def exec_start_argvs(props):
    """The argv of each ``ExecStart=`` line: "{ path=P ; argv[]=A B C ; ignore_errors=no ;
    start_time=[...] ; ... }" (argv joined with single spaces by strv_join, unquoted).
    ``$VAR`` references stay unexpanded: systemd expands them only when it starts the
    command."""
    import re

    values = props.get("ExecStart") or []
    if isinstance(values, str):
        values = [values]
    commands = []
    for value in map(str, values):
        match = re.search(r"argv\[\]=(.*?) ; (?:ignore_errors|flags)=", value)
        if match:
            commands.append(tuple(match.group(1).split(" ")))
    return commands


_MARKS = (" (ignore_errors=yes)", " (ignore_errors=no)")


def env_file_paths(value):
    """``re.findall(r"(/\\S*(?: \\S+)*?) \\(ignore_errors=(?:yes|no)\\)", value)`` for one
    EnvironmentFiles line of ``systemctl show``: "PATH (ignore_errors=yes)". The usual line
    (one path, single spaces at most) is cut here; anything else goes to the pattern."""
    for mark in _MARKS:
        if value.endswith(mark):
            path = value[: -len(mark)]
            if (
                path.startswith("/")
                and "(ignore_errors=" not in path
                and "  " not in path
                and not path.endswith(" ")
                and all(c == " " or not c.isspace() for c in path)
            ):
                return [path]
            break
    import re

    return re.findall(r"(/\S*(?: \S+)*?) \(ignore_errors=(?:yes|no)\)", value)
