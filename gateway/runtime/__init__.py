"""What every process shares: NATS set-up, metrics, tracing, status answering, pricing.

Imports only `gateway.contracts` (and third-party libraries); the gateway, workers, ledger
and the operator tools build on it.
"""
