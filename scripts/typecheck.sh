#!/usr/bin/env bash
# mypy over ember as it is installed: backend/ and tui/ seen as ember.backend and ember.tui.
# mypy does not follow setuptools' editable-install finder, so it reads them through a folder of links.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir "$root/ember"
ln -s "$PWD/backend" "$root/ember/backend"
ln -s "$PWD/tui" "$root/ember/tui"
cd "$root"
MYPYPATH="$root" "$OLDPWD/.venv/bin/mypy" "$@" --cache-dir "$OLDPWD/.mypy_cache" --config-file "$OLDPWD/pyproject.toml" \
    --python-executable "$OLDPWD/.venv/bin/python" -p ember.backend -p ember.tui
