"""Inbound dialects other than Chat Completions, one package each, beside the providers.

A dialect converts its request to the chat shape the providers speak and the chat
answer back to its own shape (or passes through where the provider speaks it natively);
the Job's `dialect` picks it. Adding one touches no provider.
"""
