"""OpenAI's Responses dialect in (`POST /v1/responses`), to every provider.

- dialect.py      `prepare`: history, pass-through or conversion (workers/dialects/__init__.py)
- request.py      Responses request -> the chat request providers convert from
- parts.py        content parts -> chat parts (a tool output's images apart)
- params.py       chat parameter names -> the caller's Responses fields, for errors
- response.py     the response object: shell, whole-completion output, usage, status
- stream.py       chat chunks -> the Responses event sequence
- output.py       chat output leaving in this dialect (events framed as SSE, the object)
- passthrough.py  Responses as sent to an OpenAI upstream with `responses = true`
- store.py        stored responses (`store`, `previous_response_id`) in the NATS KV bucket
"""
