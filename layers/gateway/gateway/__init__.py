"""byok-gateway shared layer: routing, providers, key store, logs.

Import submodules directly (``from gateway import routing``); this package imports nothing eagerly so each
Lambda pays at cold start only for what it uses.
"""
