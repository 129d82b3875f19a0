"""`scripts/bench`: the gateway's benchmark, runnable by anyone on one machine.

A fast fake upstream (its own process), the real stack started as `scripts/run` starts it
(nats-server, gunicorn + gevent gateway, workers, ledger), and an asyncio load driver in
its own process. Every scenario is also sent straight to the fake upstream in the same
run, so each figure comes with its overhead (a ratio and a difference) that survives a
noisy machine. Results go to `docs/benchmarks.md` and `docs/benchmarks.json`.

Modules: `payloads` (bodies and expected content), `checks` (response checks),
`fake_upstream`, `load` (the driver process), `driver` (its orchestrator side and CPU
accounting), `procs` (process groups, /proc), `stack`, `scenarios`, `report`,
`peer_litellm`, `profiling` (py-spy), `tools` (bench-only installs), `__main__` (the CLI).
"""
