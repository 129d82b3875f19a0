# Shared by scripts/*: make sure .venv exists with the locked dependencies and the project.
# Usage: . scripts/_venv.sh [runtime|dev]   (sets VENV and PY)
# Installs exactly what requirements/<lock>.txt pins, every file checked against its hash,
# so a new release upstream cannot change what a fresh machine gets (scripts/lock refreshes
# the locks on purpose). GATEWAY_VENV puts the environment elsewhere.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${GATEWAY_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
lock="requirements/${1:-runtime}.txt"
stamp="$VENV/.installed-${1:-runtime}"
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
# Reinstall when the lock or pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing the locked dependencies ($lock) into $VENV ..." >&2
  "$PY" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  # The project itself: its dependencies are the lock's, its build backend too.
  # NOTE: its output is shown only on failure (the backend warns about every editable install).
  if ! out=$("$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  touch "$stamp"
fi
