"""A file spctl owns that changed on the node since spctl wrote it (``plan.changed_on_node``):
remove and rollback refuse it as deploy does (tests/cases/plan/*changed-on-node*), unless
--force; status shows it as its own manifest state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spctl.desired.inventory import Node, SSHSettings
from spctl.desired.render import DesiredPod
from spctl.plan.directory import plan_remove, plan_rollback
from spctl.plan.model import PlanError
from spctl.plan.status import node_status
from tests.fakes.node_facts import facts_from_case

NODE = Node(name="my-node2", address="127.0.0.1", ssh=SSHSettings())
PATH = "/etc/kubernetes/manifests/kube-apiserver.yaml"
WROTE = "metadata: {name: kube-apiserver}\nspec: {containers: [{name: a, image: 'k:v1.30'}]}\n"
KUBEADM = "metadata: {name: kube-apiserver}\nspec: {containers: [{name: a, image: 'k:v1.31'}]}\n"


def facts(on_node: str = KUBEADM, wrote: str = WROTE):
    case = {
        "units": {
            "kubelet": {"DropInPaths": "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"}
        },
        "files": {"/var/lib/kubelet/config.yaml": "staticPodPath: /etc/kubernetes/manifests\n"},
        "dirs": {
            "/etc/kubernetes/manifests": {
                "kube-apiserver.yaml": on_node,
                "written": {"kube-apiserver.yaml": wrote},
            }
        },
    }
    return replace(
        facts_from_case(case), backups={"kube-apiserver": ("20261201T000000000000Z.yaml",)}
    )


@pytest.mark.parametrize(
    "planner, verb, what",
    [
        (plan_remove, "remove", "delete it silently"),
        (plan_rollback, "rollback", "replace it with an older version silently"),
    ],
)
def test_remove_and_rollback_refuse_a_file_changed_on_node(planner, verb, what):
    with pytest.raises(PlanError) as raised:
        planner(NODE, ["kube-apiserver"], facts())
    text = str(raised.value)
    assert text.startswith(f"node my-node2: {PATH} changed on node since spctl wrote it"), text
    assert what in text
    # No rendering here: only the sha256s, and both ways on.
    assert "spctl keeps no copy of what it wrote" in text
    assert "`spctl import kube-apiserver --force`" in text
    assert f"`spctl {verb} kube-apiserver --node my-node2 --force`" in text


@pytest.mark.parametrize("planner, action", [(plan_remove, "remove"), (plan_rollback, "rollback")])
def test_force_plans_remove_and_rollback_from_the_sha_on_the_node(planner, action):
    from hashlib import sha256

    plan = planner(NODE, ["kube-apiserver"], facts(), True)
    (step,) = plan.pods
    assert step.action == action
    # The agent checks this against the file before it writes: a change since is refused.
    assert step.expected_sha256 == sha256(KUBEADM.encode()).hexdigest()


def test_an_unchanged_file_is_removed_and_rolled_back_as_before():
    unchanged = facts(on_node=WROTE)
    assert [s.action for s in plan_remove(NODE, ["kube-apiserver"], unchanged).pods] == ["remove"]
    assert [s.action for s in plan_rollback(NODE, ["kube-apiserver"], unchanged).pods] == [
        "rollback"
    ]


def rows(node_facts, desired: str | None):
    pods = None if desired is None else [DesiredPod("kube-apiserver", "t.yaml.j2", desired)]
    return node_status(NODE, node_facts, pods, ["kube-apiserver"])


def test_status_says_changed_on_node_apart_from_drifted():
    changed = rows(facts(), WROTE)
    assert [(p.name, p.manifest) for p in changed.pods] == [("kube-apiserver", "changed-on-node")]
    assert changed.pods[0].as_dict()["manifest"] == "changed-on-node"
    assert any(
        f"{PATH} changed on node since spctl wrote it" in w
        and "spctl import kube-apiserver --force" in w
        and "spctl deploy kube-apiserver --node my-node2 --force" in w
        for w in changed.warnings
    ), changed.warnings
    # Without a rendering (a template that does not render): still changed on node.
    assert rows(facts(), None).pods[0].manifest == "changed-on-node"
    # The file is as spctl wrote it and the inventory renders something else: drifted.
    drifted = rows(facts(on_node=WROTE), KUBEADM)
    assert drifted.pods[0].manifest == "drifted"
    assert not any("changed on node" in w for w in drifted.warnings)
    # After `spctl import` the inventory renders the node's file: in sync (deploy adopts it).
    assert rows(facts(), KUBEADM).pods[0].manifest == "in-sync"


def test_refusal_takes_its_arguments_by_name():
    """Node, pod, path and verb are all strings: a call site names each, so none is swapped."""
    from spctl.plan.changed_on_node import refusal

    with pytest.raises(TypeError):
        refusal("my-node2", "kube-apiserver", PATH, facts(), "remove", None)  # type: ignore[misc]
    error = refusal(
        node="my-node2",
        pod="kube-apiserver",
        path=PATH,
        facts=facts(),
        verb="remove",
        rendered=None,
    )
    assert str(error).startswith(f"node my-node2: {PATH} changed on node"), str(error)


def _refused(on_node: str, redact: tuple[str, ...] = ()) -> str:
    from spctl.plan.changed_on_node import refusal

    # The file's text as the agent carries it (undecodable bytes as lone surrogates); the
    # refusal reads only that text and the ownership record.
    node_facts = facts()
    node_facts = replace(node_facts, files={**node_facts.files, PATH: on_node})
    error = refusal(
        node="my-node2",
        pod="kube-apiserver",
        path=PATH,
        facts=node_facts,
        verb="deploy",
        rendered=WROTE,
        redact=redact,
    )
    return str(error)


def test_the_refusal_shows_a_bounded_diff():
    """A rewrite of the whole file (kubeadm's own formatting, a file pasted over it) is not
    printed whole: the first lines, then how many more."""
    import difflib

    from spctl.plan.changed_on_node import DIFF_LINES

    big = "".join(f"# line {i}\n" for i in range(300)) + KUBEADM
    whole = list(difflib.unified_diff(WROTE.splitlines(True), big.splitlines(True), "a", "b"))
    assert len(whole) > DIFF_LINES + 10
    text = _refused(big)
    diff = text[text.index(f"--- {PATH}") :]
    shown = diff[: diff.index("\n… ")].splitlines()
    assert len(shown) == DIFF_LINES, shown
    assert f"\n… {len(whole) - DIFF_LINES} more lines\n" in diff
    assert "# line 299" not in text
    # A short diff is shown whole, with no such line.
    assert "more lines" not in _refused(KUBEADM)


def test_the_refusal_redacts_the_plans_secrets():
    token = "0123abcd" * 8  # noqa: S105 - a test token
    text = _refused(KUBEADM.replace("k:v1.31", f"k:v1.31 --token={token}"), (token,))
    assert token not in text
    assert "+metadata: {name: kube-apiserver}" not in text  # only the changed line
    assert "--token=<token>" in text


def test_the_refusal_shows_undecodable_bytes_as_replacement_characters():
    """The agent carries a file's undecodable bytes as lone surrogates; a terminal (and
    Rich) cannot print those: they are shown as U+FFFD, as the kubelet diff shows them."""
    text = _refused(KUBEADM + "# \udcff\udcfe\n")
    text.encode("utf-8")  # no lone surrogate left
    assert "+# \ufffd\ufffd" in text


def test_status_of_a_file_changed_on_node_in_its_bytes_or_imported_in_other_bytes():
    # A comment added to the file spctl wrote: still changed on node, and the way on is
    # --force (spctl import would render the same bytes as before).
    commented = rows(facts(on_node="# pinned\n" + WROTE), WROTE)
    assert commented.pods[0].manifest == "changed-on-node"
    (warning,) = [w for w in commented.warnings if "changed on node" in w]
    assert "in its bytes only" in warning and "spctl import" not in warning, warning
    assert "spctl deploy kube-apiserver --node my-node2 --force" in warning
    # kubeadm's rewrite, imported: the inventory renders its pod in spctl's spelling. Deploy
    # adopts it (no refusal): drifted, as any file deploy rewrites without a restart.
    respelled = KUBEADM.replace("'k:v1.31'", '"k:v1.31"')
    imported = rows(facts(on_node=respelled), KUBEADM)
    assert imported.pods[0].manifest == "drifted"
    assert not any("changed on node" in w for w in imported.warnings), imported.warnings
