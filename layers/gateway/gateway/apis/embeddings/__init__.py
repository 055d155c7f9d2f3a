"""``POST /v1/embeddings``: OpenAI's embeddings request on the routing core (``gateway.routing.engine.serve``).

``schema`` is the request, ``service`` the codec and the answer, ``adapters`` one module per provider wire format
(each a pure transform of one batch slice into one upstream call and back).
"""
