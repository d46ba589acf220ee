"""The contract between spctl on the control host and its agent on a node: the constants both
sides must agree on.

Both sides import this package (the control host as ``spctl_agent.protocol``), so every fact
of the contract is written here once. It runs on the node's python (3.6 or newer) and its
modules import nothing at module level, so importing them costs nothing on either side.

    (this module)   ops, actions, paths, limits, ports, annotations; a flag's value as
                    the kubelet reads its command line
    messages        every request and answer: one builder and one reader each, and the
                    documentation of every field
    probe_spec      what the agent needs of a pod to probe it
    pod_summary     how a pod summary's container fields read (its last exit)
    systemd_show    the systemctl show properties asked for, and how their output reads
"""

OP_FACTS = "facts"
OP_APPLY = "apply"
OPS = (OP_FACTS, OP_APPLY)
#: The ops that change nothing the control host asked for, so that a call cut off by a
#: dropped SSH session may be sent again. (A facts call finishes or undoes a transaction a
#: killed run left, under the node's lock; that is meant to be repeated, and a repeat finds
#: it done.) ``apply`` is never sent twice.
READ_ONLY_OPS = (OP_FACTS,)

#: What a change may do to one manifest (``apply`` request, ``changes[].action``).
ACTIONS = ("create", "update", "remove", "rollback", "adopt", "move")

#: How an apply refusal starts when its plan was made from facts read while another run
#: was changing the node: the control host reads facts again and plans once more.
STALE_PLAN = "stale plan"

#: Where the agent keeps its state, its lock, its backups and itself.
STATE_DIR = "/var/lib/spctl"

#: The kubelet reads a manifest file with a 10 MiB limit (pkg/kubelet/config/common.go,
#: maxConfigLength) and refuses a file once it has read that many bytes.
MAX_MANIFEST_BYTES = 10 * 1024 * 1024

#: The suffix of the files spctl writes into a manifest directory.
MANIFEST_SUFFIX = ".yaml"

#: The kubelet's healthz port and address when its configuration sets none
#: (KubeletConfiguration healthzPort / healthzBindAddress defaults).
HEALTHZ_PORT = 10248
HEALTHZ_ADDRESS = "127.0.0.1"
DEFAULT_HEALTHZ_URL = "http://%s:%d/healthz" % (HEALTHZ_ADDRESS, HEALTHZ_PORT)

#: Where static pods come from, as the kubelet annotates them
#: (pkg/kubelet/types/pod_update.go: ConfigSourceAnnotationKey, FileSource, HTTPSource).
CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"
SOURCE_FILE = "file"
SOURCE_HTTP = "http"


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


#: The systemd units a kubelet runs as (kubeadm's packages, k3s, rke2), for the agent to
#: find the running kubelet's command line when a request names none.
KUBELET_UNITS = ("kubelet", "k3s", "k3s-agent", "rke2-server", "rke2-agent")
