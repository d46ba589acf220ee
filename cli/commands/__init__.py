"""Every spctl verb, registered explicitly in one list."""

from .deploy import deploy
from .diff import diff
from .export import export
from .import_pod import import_pod
from .inventory import inventory
from .lab import lab
from .remove import remove
from .render import render
from .restart import restart
from .rollback import rollback
from .serve import serve
from .status import status
from .validate import validate

COMMANDS = [
    deploy,
    remove,
    rollback,
    restart,
    diff,
    status,
    render,
    validate,
    inventory,
    import_pod,
    export,
    serve,
    lab,
]
