"""The pipeline benchmark's failover window (from the kill until the acked and committed rates
recover) and its per-second figures."""

from bench.pipeline import committed_rate, p99_per_second, per_second, read_per_second, recovery_s


def samples_at(rates: list[int], step: float = 0.5) -> list[tuple[float, int]]:
    """Samples every ``step`` s of a group committing ``rates[k]`` tweets/s in second k."""
    samples, total = [], 0
    for i in range(int(len(rates) / step) + 1):
        samples.append((i * step, total))
        if i * step < len(rates):
            total += int(rates[int(i * step)] * step)
    return samples


def test_committed_rate_between_the_samples_inside_the_interval():
    samples = samples_at([1000] * 10)
    assert committed_rate(samples, 0.0, 10.0) == 1000
    assert committed_rate(samples, 3.2, 3.4) is None  # no two samples inside


def test_the_window_ends_when_committed_per_second_is_back_to_ninety_percent():
    # 1,000/s for 10 s, killed at 10 s: nothing for 4 s, a trickle, then 1,000/s again.
    samples = samples_at([1000] * 10 + [0] * 4 + [300] * 2 + [1000] * 10)
    before = committed_rate(samples, 0.0, 10.0)
    # Back at 16 s; measured over 2 s, that is seen first at 18 s: 8 s after the kill.
    assert recovery_s(samples, 10.0, before) == 8.0


def test_a_catch_up_burst_counts_as_recovered():
    samples = samples_at([1000] * 10 + [0] * 3 + [3000] * 3 + [1000] * 5)
    assert recovery_s(samples, 10.0, 1000.0) == 4.0  # 12-14 s: 3,000/s for 1 s of the 2


def test_a_window_that_never_ends_is_none():
    samples = samples_at([1000] * 10 + [500] * 10)
    assert recovery_s(samples, 10.0, 1000.0) is None


def test_per_second_rates_from_the_kill_and_none_where_the_coordinator_did_not_answer():
    samples = samples_at([1000] * 4 + [0] * 2 + [2000] * 2)
    assert per_second(samples, 4.0, 4) == [0, 0, 2000, 2000]
    unanswered = [(t, n) for t, n in samples if not 4.0 < t < 5.5]
    assert per_second(unanswered, 4.0, 4) == [None, 0, 2000, 2000]


def test_reads_per_second_count_each_partition_s_newly_covered_offsets():
    # (timestamp ms, partition, first, last): partials grow a run, a repeat adds nothing.
    ranges = [
        (1000, 0, 0, 9),
        (1200, 0, 0, 19),
        (1300, 1, 0, 4),
        (2100, 0, 0, 19),
        (2500, 0, 20, 49),
        (3900, 1, 5, 5),
    ]
    read = read_per_second(ranges, 1000, 3)
    assert [dict(second) for second in read] == [{0: 20, 1: 5}, {0: 30}, {1: 1}]


def test_the_p99_of_the_tweets_produced_in_each_second():
    latency = [(1000 + k, 100) for k in range(99)] + [(1500, 5000), (2500, 300)]
    assert p99_per_second(latency, 1000, 3) == [5000, 300, 0]
