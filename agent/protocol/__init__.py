"""The contract between spctl on the control host and its agent on a node.

Both sides import this module (the control host as ``spctl_agent.protocol``), so every fact
they must agree on is written here once. It runs on the node's python (3.6 or newer) and
imports nothing at module level, so importing it costs nothing on either side.

One call is one JSON request on the agent's stdin (the last non-empty line) and one JSON
answer on its stdout: ``{"ok": true, "error": null, ...}`` plus the op's fields, or
``{"ok": false, "error": "what went wrong"}``.

``facts`` request::

    {"op": "facts", "pods": [name...], "units": [unit...], "read": [path...],
     "read_globs": [pattern...], "read_env_files": bool, "manifest_dirs": [dir...],
     "healthz_url": url}

answer: hostname, python, os_release, files {path: text|null} (the "read" paths, every
file a "read_globs" pattern matches, and with "read_env_files" every EnvironmentFiles path
of the units; those two with the values of secret-looking settings such as K3S_TOKEN or
``token:`` redacted, see ``facts.redact``), globs {pattern: [path...]}, units {unit: systemd properties, EnvironmentFiles
and ExecStart as lists of lines, + "cmdline"}, dirs {dir: {"exists", "entries": [{name, type, size, mtime,
sha256, pod_name}]}}, owned {path: {pod, sha256}}, backups {pod: [name...]}, runtime
{"runtime", "endpoint", "error", "pods": [summary...]} (see ``pods.summarize``), healthz,
lock, kubelets {unit: what the running kubelet watches, see ``kubelet.running_kubelets``},
journal (a transaction another run is carrying out now, or null), recovered (an unfinished
transaction this call finished or undid, see ``journal.recover``, or null). File texts
keep undecodable bytes as lone surrogates (``files.read_text``); dir entries carry
``unsafe`` (why root must not write there) and types file, dir, symlink, fifo,
char-device, block-device, socket.

``apply`` request::

    {"op": "apply", "node_name", "manifest_dir", "holder", "wait_lock", "timeout",
     "stable_for", "kubelet": {unit, files: [{path, content, expected_sha256}],
     daemon_reload, healthz_url, timeout, flag: [name, value], dir_before, expect_dir} | null,
     "changes": [{pod, action, file, content, expected_sha256, from_path?, from_sha256?}],
     "wait_running": [pod | {pod, file, expected_sha256}...], "planned_while_busy": bool}

A change with ``from_path`` retires that file (the pod's manifest in the directory the
kubelet is moved away from); action ``move`` writes its bytes at ``file``.

answer: kubelet_restarted, kubelet_restored?, pods [{name, action, ok, phase, error,
rolled_back?}], errors?, recovered?
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


#: The systemd units a kubelet runs as (kubeadm's packages, k3s, rke2), for the agent to
#: find the running kubelet's command line when a request names none.
KUBELET_UNITS = ("kubelet", "k3s", "k3s-agent", "rke2-server", "rke2-agent")
