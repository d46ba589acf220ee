"""What spctl owns on the node: {"manifests": {path: {"pod", "sha256"}}}."""

from .files import atomic_write, read_text
from .jsonfast import loads


def load_state(node):
    text = read_text(node.paths.state_file, follow=False)
    if not text:
        return {"manifests": {}}
    try:
        state = loads(text)
    except ValueError:
        return {"manifests": {}}
    state.setdefault("manifests", {})
    return state


def save_state(node, state):
    import json

    node.fs.makedirs(node.paths.state_dir, 0o700)
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    atomic_write(node.paths.state_file, data, 0o600, node.fs)
