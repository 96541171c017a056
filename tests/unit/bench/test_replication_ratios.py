"""The replication benchmark's summary: which clusters it compares and how."""

from bench.replication import CONFLUENT, KCAT, ROUND_TRIP, Results, ratio_lines
from bench.workloads import Result


def figures(seconds: float, p50: float | None = None) -> Result:
    return Result("x", 1000, 100_000, seconds, 0.1, 40.0, 0.1, p50, p50 and p50 * 2)


def test_ours_is_compared_with_kafka_on_as_many_nodes_and_rf3_with_rf1():
    results: Results = {
        ("chirpstream x1", 1, KCAT): figures(1.0),
        ("chirpstream x1", 1, CONFLUENT): figures(1.0),
        ("chirpstream x1", 1, ROUND_TRIP): figures(1.0, p50=0.1),
        ("Kafka 0.9.0.1 x1", 1, KCAT): figures(2.0),
        ("Kafka 0.9.0.1 x1", 1, CONFLUENT): figures(4.0),
        ("Kafka 0.9.0.1 x1", 1, ROUND_TRIP): figures(1.0, p50=0.4),
        ("Kafka 0.9.0.1 x3", 3, KCAT): figures(4.0),
        ("Kafka 0.9.0.1 x3", 1, KCAT): figures(1.0),
    }
    lines = ratio_lines(results)
    assert "chirpstream x1 / Kafka 0.9.0.1 x1, RF=1: kcat  2.00x  confluent-kafka  4.00x  " \
        "round trip p50  0.25x  p99  0.25x" in lines  # fmt: skip
    assert "Kafka 0.9.0.1 x3, RF=3 / RF=1: kcat  0.25x  confluent-kafka   n/a" in lines


def test_a_cluster_that_did_not_run_is_left_out():
    results: Results = {("chirpstream x1", 1, KCAT): figures(1.0)}
    assert ratio_lines(results)[2:] == []


def test_our_three_node_cluster_is_compared_with_kafkas_and_rf3_with_rf1():
    results: Results = {
        ("chirpstream x3", 3, KCAT): figures(2.0),
        ("chirpstream x3", 1, KCAT): figures(1.0),
        ("Kafka 0.9.0.1 x3", 3, KCAT): figures(4.0),
    }
    lines = ratio_lines(results)
    assert "chirpstream x3, RF=3 / RF=1: kcat  0.50x  confluent-kafka   n/a" in lines
    assert any(
        line.startswith("chirpstream x3 / Kafka 0.9.0.1 x3, RF=3: kcat  2.00x") for line in lines
    )
