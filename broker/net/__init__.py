"""The only place with sockets: the server, connections, the handler registry and handlers.

A connection decodes frames (``broker.protocol``), dispatches each request to the handler the
registry names, and writes responses in request order. Handlers are thin: read the kio
request, read the metadata image (``broker.metadata``), go through the replica manager
(``broker.replica``) for partition data or the controller for topic changes, return a body or
pre-encoded frame. No handler touches a log.
"""
