"""`make bench`: warm overhead, AWS calls, cold start and memory of the gateway, side by side with LiteLLM."""
