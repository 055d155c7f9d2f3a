"""The gateway's front doors, one package per API, each a codec over the one routing core (``gateway.chat``)."""
