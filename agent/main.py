"""One agent call: read the request, run its op, write one answer."""

import sys

from . import protocol
from .protocol import messages
from .system import AgentError
from .system.jsonfast import dumps, loads


def _op(name):
    # Each op imports only what it needs: a facts call never loads the apply machinery.
    if name == protocol.OP_FACTS:
        from .facts import facts

        return facts
    if name == protocol.OP_APPLY:
        from .transaction.apply import apply

        return apply
    return None


def handle(request, node=None):
    """The answer to one request (a dict), errors included."""
    try:
        name = messages.read_op(request)
        op = _op(name)
        if op is None:
            raise AgentError("unknown op %r; expected one of %s" % (name, ", ".join(protocol.OPS)))
        if node is None:
            from .node import Node

            node = Node()
        answer = messages.ok_answer(op(node, request))
    except (AgentError, messages.MessageError) as exc:
        answer = messages.error_answer(str(exc))
    except OSError as exc:
        answer = messages.error_answer("%s: %s" % (exc.filename or "I/O", exc.strerror or exc))
    except Exception as exc:  # a bug: still one JSON answer, and the traceback on stderr
        import traceback

        traceback.print_exc()
        answer = messages.error_answer("agent internal error: %s: %s" % (type(exc).__name__, exc))
    return answer


def main():
    import _signal as signal  # not the signal module: it imports enum

    # The control host may go away mid-run (Ctrl-C, a dropped connection): finish the
    # transaction, including any rollback, rather than die half-way.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    try:
        request = loads(lines[-1]) if lines else messages.facts_request()
    except ValueError as exc:
        answer = messages.error_answer("the request is not JSON: %s" % exc)
    else:
        answer = handle(request if isinstance(request, dict) else {})
    try:
        sys.stdout.write(dumps(answer) + "\n")
        sys.stdout.flush()
    except OSError:
        pass
    return 0
