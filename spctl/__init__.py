"""spctl: Kubernetes static pods on many nodes over SSH (the library; the CLI is spctl_cli).

Importing it defers paramiko's import of invoke, a fifth of every run's start-up (below).
"""

import sys
import types


class _DeferredInvoke(types.ModuleType):
    """paramiko.config imports invoke (only to run ``Match exec`` lines of ssh_config), and
    invoke imports unittest.mock and asyncio: a fifth of every spctl run's start-up, for a
    feature few ssh_config files use. This stand-in takes its place in sys.modules and
    loads the real invoke at the first attribute asked of it."""

    def __getattr__(self, name: str) -> object:
        import importlib

        if sys.modules.get("invoke") is self:
            del sys.modules["invoke"]
        real = importlib.import_module("invoke")
        return getattr(real, name)


if "invoke" not in sys.modules:
    sys.modules["invoke"] = _DeferredInvoke("invoke")
