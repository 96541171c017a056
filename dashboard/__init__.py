"""The Streamlit dashboard and its collector.

Not built yet: issue #6 delivers it. It will never import ``broker``.
"""
