# Shared by scripts/test and scripts/compat: the pinned versions of the real agents the
# end-to-end tests drive (tests/e2e/test_claude_code.py, tests/e2e/responses/test_codex.py)
# and their npm install. Usage: . scripts/_agents.sh; install_pinned_agents  (needs VENV)
# They go into the venv when node and npm are here.
# Without npm those tests skip, saying why. A failed install only warns on a developer's
# machine, but is fatal under CI=true: there the agent tests must run, not skip
# (tests/e2e/agents.py fails them too). scripts/compat tries other versions.
CLAUDE_CODE_VERSION="2.1.332"
CODEX_VERSION="0.171.0"
install_agent() {  # install_agent PREFIX PACKAGE VERSION
  local prefix="$1" package="$2" version="$3"
  if grep -qs "\"version\": \"$version\"" "$prefix/node_modules/$package/package.json"; then
    return 0
  fi
  echo "installing $package@$version into $prefix ..." >&2
  if ! npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "$package@$version" >&2; then
    if [ "${CI:-}" = "true" ]; then
      echo "error: $package@$version did not install (CI=true: its end-to-end tests must run)" >&2
      exit 1
    fi
    echo "warning: $package@$version did not install; its end-to-end tests will skip" >&2
  fi
}
install_pinned_agents() {  # into the venv ($VENV), where tests/e2e/agents.py looks by default
  if command -v npm >/dev/null 2>&1; then
    install_agent "$VENV/claude-code" @anthropic-ai/claude-code "$CLAUDE_CODE_VERSION"
    install_agent "$VENV/node-agents" @openai/codex "$CODEX_VERSION"
  fi
}
