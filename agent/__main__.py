"""``python3 agent-<hash>.pyz`` (or ``python3 -m spctl_agent``): one call, JSON on stdin.

Debug a node by hand:  echo '{"op": "facts"}' | sudo python3 /var/lib/spctl/agent-<hash>.pyz
"""

import sys

if __package__ in (None, ""):
    # Run as a zipapp: the archive's root is on sys.path, the package inside it.
    from spctl_agent.main import main
else:
    from .main import main

sys.exit(main())
