#!/usr/bin/env bash
# spctl as a user installs it: build the sdist from a copy of the tree (the files git
# tracks, and new ones it does not ignore), the wheel from that sdist, install the wheel
# into a fresh venv and run spctl from it, far from the source tree (nothing of it on
# sys.path). Fails when a package, the agent or a data file spctl reads is left out.
set -euo pipefail
py="${PY:-.venv/bin/python}"
repo="$(pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/spctl-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT

mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp -P --parents -t "$work/src"
"$py" -m build --sdist --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 1; }
sdist="$(ls "$work"/dist/spctl-*.tar.gz)"
"$py" -m pip wheel -q --no-deps --wheel-dir "$work/dist" "$sdist" >"$work/wheel.log" 2>&1 \
  || { cat "$work/wheel.log"; exit 1; }
wheel="$(ls "$work"/dist/spctl-*.whl)"

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[lab]" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
cd "$work"  # not the source tree: only the installed package can be imported
spctl="$work/venv/bin/spctl"
"$spctl" --version
"$spctl" -i "$repo/inventory/example.yaml" validate
"$spctl" -i "$repo/inventory/example.yaml" render --all >/dev/null
# The installed agent is the source tree's, byte for byte (the archive a node runs).
hash_of='from spctl.transport import agent_archive; print(agent_archive.AGENT_HASH)'
installed="$("$work/venv/bin/python" -c "$hash_of")"
source="$(cd "$repo" && "$py" -c "$hash_of")"
[ "$installed" = "$source" ] || {
  echo "spctl: the wheel's agent ($installed) is not the source tree's ($source)" >&2
  exit 1
}
# The lab's node image carries the kubelet stand-in's modules; its inventory, the templates.
"$work/venv/bin/python" - <<'PY'
from spctl_lab.cluster import TEMPLATES
from spctl_lab.images import standin_files

assert (TEMPLATES / "static-web.yaml.j2").is_file(), f"no example templates in {TEMPLATES}"
assert any(path.endswith("/standin/main.py") for path in standin_files()), "no stand-in"
PY
echo "spctl: the wheel installs and runs (agent $installed)"
