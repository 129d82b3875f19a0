"""Operator tools: the launcher and its supervisor, the embedded NATS, the keys and status CLIs.

Built on `gateway.runtime` and `gateway.contracts`; nothing in a serving process imports them.
"""
