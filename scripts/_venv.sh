# Shared by scripts/*: make sure .venv exists with the project installed.
# Usage: . scripts/_venv.sh [extras]   (sets VENV and PY)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
extras="${1:-}"
stamp="$VENV/.installed${extras:+-$extras}"
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
# Reinstall when pyproject.toml changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$PY" -m pip install --quiet --upgrade pip >/dev/null
  if [ -n "$extras" ]; then
    "$PY" -m pip install --quiet -e ".[$extras]"
  else
    "$PY" -m pip install --quiet -e .
  fi
  touch "$stamp"
fi
