"""Contracts shared by the gateway, workers and ledger; imports only msgspec and stdlib."""
