"""What every template sees of the whole inventory: ``groups`` and ``nodes``, read-only.

``groups`` maps each group name to the sorted names of its members; ``nodes`` maps each node
name (in inventory order) to its ``name``, ``address``, ``labels``, ``groups`` (in the order the
groups are written, as ``node.groups``) and ``vars`` (merged, as the node's own templates see
them). A node-local load balancer lists its upstreams from them::

    {% for n in groups['control-plane'] %}server {{ n }} {{ nodes[n].address }}:6443
    {% endfor %}

The view is built once per inventory load and shared by every rendering of every node, so it
must never change: it is a deep copy whose lists and mappings refuse every change, and the
template sandbox (``spctl.desired.sandbox``) refuses their modifying methods with a message
before they are called. Each list and mapping knows its place in the view (``path``), so a
missing group or node is named as such rather than as an undefined variable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

#: The names every template has besides the node's vars; a variable may not take one of them
#: (it would hide it, or be hidden). The inventory refuses such a variable.
CONTEXT_NAMES = ("node", "pod", "groups", "nodes")


def _refuse(self: ReadOnlyList | ReadOnlyDict, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(
        f"{self.path} is read-only: templates read the fleet (`groups`, `nodes`), they never "
        "change it"
    )


class ReadOnlyList(list):
    """A list of the fleet view: reads as a list (``+`` gives a new, plain one), never changes."""

    __slots__ = ("path",)

    def __init__(self, items: Iterable[Any], path: str) -> None:
        super().__init__(items)
        self.path = path

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> Any:  # copy and pickle build a plain list: never the view itself
        return (list, (list(self),))


class ReadOnlyDict(dict):
    """A mapping of the fleet view: reads as a dict, never changes."""

    __slots__ = ("path",)

    def __init__(self, items: Iterable[tuple[Any, Any]], path: str) -> None:
        super().__init__(items)
        self.path = path

    update = pop = popitem = clear = setdefault = _refuse
    __setitem__ = __delitem__ = __ior__ = _refuse

    def __reduce__(self) -> Any:  # copy and pickle build a plain dict: never the view itself
        return (dict, (dict(self),))


READ_ONLY = (ReadOnlyList, ReadOnlyDict)


class HiddenSecret:
    """A secret variable as the fleet view shows it: no text, no value. A template reads a
    secret as its own variable (``secrets.SecretVariable``), where the rules of its use hold
    (files only); through ``nodes`` it would reach another node's files, or a manifest."""

    def __init__(self, path: str) -> None:
        self._path = path

    def _refuse(self, *_args: Any) -> NoReturn:
        from spctl.desired.secrets import SecretError

        raise SecretError(
            f"{self._path} is a secret variable; the fleet view does not show secrets: use "
            "the node's own variable, in one of its pod's files"
        )

    __str__ = __html__ = __format__ = __iter__ = __len__ = _refuse

    def __repr__(self) -> str:
        return "<secret>"


def freeze(value: Any, path: str) -> Any:
    """A deep, read-only copy of ``value`` (what YAML loads: mappings, lists, scalars); a
    secret reference (``{secret: ...}``) is a :class:`HiddenSecret`."""
    if isinstance(value, Mapping) and len(value) == 1 and "secret" in value:
        return HiddenSecret(path)
    if isinstance(value, Mapping):
        return ReadOnlyDict(((k, freeze(v, _child(path, k))) for k, v in value.items()), path)
    if isinstance(value, (list, tuple)):
        return ReadOnlyList((freeze(v, f"{path}[{i}]") for i, v in enumerate(value)), path)
    return value


def _child(path: str, key: Any) -> str:
    """How a template names the key: ``nodes['cp-1'].vars.peers``."""
    return f"{path}.{key}" if isinstance(key, str) and key.isidentifier() else f"{path}[{key!r}]"


class FleetNode(Protocol):
    """What the view reads of a node (``spctl.desired.inventory.Node`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def vars(self) -> Mapping[str, Any]: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Fleet:
    """The read-only ``groups`` and ``nodes`` of one inventory, as templates see them."""

    groups: ReadOnlyDict = field(default_factory=lambda: ReadOnlyDict((), "groups"))
    nodes: ReadOnlyDict = field(default_factory=lambda: ReadOnlyDict((), "nodes"))

    @classmethod
    def of(cls, nodes: Iterable[FleetNode], groups: Mapping[str, Iterable[str]]) -> Fleet:
        """The view of ``nodes`` (in their order) and ``groups`` (name: member names)."""
        view = ReadOnlyDict(
            (
                (
                    n.name,
                    freeze(
                        {
                            "name": n.name,
                            "address": n.address,
                            "labels": n.labels,
                            "groups": n.groups,
                            "vars": n.vars,
                        },
                        f"nodes[{n.name!r}]",
                    ),
                )
                for n in nodes
            ),
            "nodes",
        )
        members = ReadOnlyDict(
            ((g, ReadOnlyList(sorted(names), f"groups[{g!r}]")) for g, names in groups.items()),
            "groups",
        )
        return cls(groups=members, nodes=view)

    def context(self) -> dict[str, Any]:
        return {"groups": self.groups, "nodes": self.nodes}
