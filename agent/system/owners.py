"""Owners and groups of the files spctl writes beside pods: a name or a number as text, as
the control host sends them (``protocol.messages.file_change``), to the ids chown(2) takes,
and ids back to names for the facts (``protocol.messages.file_state``).

``pwd`` and ``grp`` read the node's own databases (NSS), as chown(1) does: a name unknown
on this node is refused before any write, never taken for a number.
"""

#: The largest user or group id: 2**32 - 2 ((uid_t) -1 tells chown to leave it as it is).
MAX_ID = 2**32 - 2


class UnknownOwner(LookupError):
    """A user or group name the node does not know."""


def _id_of(value, lookup, kind):
    if value is None:
        return 0  # root's: a file spctl writes is root's unless told otherwise
    text = str(value)
    if text.isdigit():
        number = int(text)
        if number > MAX_ID:  # chown(2) takes a 32-bit id; (uid_t)-1 means "no change"
            raise UnknownOwner("%s id %s is beyond %d, the largest there is" % (kind, text, MAX_ID))
        return number
    try:
        return lookup(text)
    except KeyError:
        raise UnknownOwner("no %s %r on this node" % (kind, text)) from None


def uid_of(owner):
    """The uid of a user name or number (text); None: root. UnknownOwner otherwise."""
    import pwd

    return _id_of(owner, lambda name: pwd.getpwnam(name).pw_uid, "user")


def gid_of(group):
    """The gid of a group name or number (text); None: root's group. UnknownOwner otherwise."""
    import grp

    return _id_of(group, lambda name: grp.getgrnam(name).gr_gid, "group")


def user_name(uid):
    """The name of ``uid``, else the number as text."""
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def group_name(gid):
    """The name of ``gid``, else the number as text."""
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)
