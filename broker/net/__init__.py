"""The only place with sockets: the server, connections, the handler registry and handlers.

A connection decodes frames (``broker.protocol``), dispatches each request to the handler the
registry names, and writes responses in request order. Handlers are thin: read the kio
request, call ``broker.cluster``, return a body or pre-encoded frame.
"""
