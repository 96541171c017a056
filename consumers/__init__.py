"""Analytics workers in one consumer group, and the pure analytics they run.

Not built yet: issue #5 delivers it. It will never import ``broker``.
"""
