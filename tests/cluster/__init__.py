"""Tests of the multi-node cluster: the ``chirpstream cluster`` verb, and integration and fault
tests on real node processes (marked ``cluster``: slow, run one at a time)."""
