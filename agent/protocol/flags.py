"""A command-line flag's value, read as the kubelet's flag parser reads it (the last
occurrence wins): both sides read kubelet command lines with it."""


def flag_value(args, name):
    """The value of ``--name=value`` or ``--name value`` in a command line (a list of
    words, or one string split as a shell would); the last occurrence wins; None if
    absent."""
    if isinstance(args, str):
        import shlex

        words = shlex.split(args)
    else:
        words = list(args)
    value = None
    for i, word in enumerate(words):
        if word.startswith(name + "="):
            value = word[len(name) + 1 :]
        elif word == name and i + 1 < len(words):
            value = words[i + 1]
    return value
