"""Benchmarks for the bundled broker. Run with ``make bench``; never part of the test suite.

Each workload starts a fresh broker subprocess, drives it with a real client, and prints
messages/s, MB/s, the broker's CPU seconds and its peak RSS.
"""
