"""The gateway's front doors, one package per API (chat, messages, responses, embeddings), each a codec over the
one routing core (``gateway.routing.engine``)."""
