"""OpenAI's Responses API (``/v1/responses``) on the gateway's routing core.

- ``schema``: the inbound request, typed and bounded, and ``ResponsesCall`` (what routing reads of it).
- ``native``: OpenAI models: the client's body goes to OpenAI's own ``/responses``.
- ``translate``: every other model: the request onto the chat adapters (``items`` and ``events``: their answers
  back into output items and semantic events).
- ``stream``: the streamed body (sequence numbers, keep-alives, the final event, the commit rule's aftermath).
- ``store``: stored responses, one object per conversation, encrypted at rest, owner-only, with a TTL.
- ``service``: the codec and the operations the function calls (create, retrieve, input items, delete).
"""
