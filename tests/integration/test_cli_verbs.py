"""The Kafka-style verbs (topics, produce, consume, groups) as students run them: subprocesses
of ``python -m chirpstream`` against a real broker, output read the way a person would."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import defaultdict

from tests.support.broker_process import ROOT

PRINT_ALL = [
    "--property",
    "print.key=true",
    "--property",
    "print.partition=true",
    "--property",
    "print.offset=true",
]


def _cmd(verb: str, bootstrap: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "chirpstream", verb, "--bootstrap-servers", bootstrap, *args]


def run(verb: str, bootstrap: str, *args: str, stdin: str | None = None, ok: bool = True):
    done = subprocess.run(
        _cmd(verb, bootstrap, *args),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """A failure is one ``error:`` line; exit code 1, or 2 for a bad flag (as argparse)."""
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    return lines[0]


def table(stdout: str) -> list[dict[str, str]]:
    """Rows of a kafka-consumer-groups style table, keyed by header."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("GROUP "))
    header = lines[start].split()
    rows = [dict(zip(header, line.split(), strict=True)) for line in lines[start + 1 :]]
    # Columns are aligned: every cell starts where its header does.
    for line in lines[start + 1 :]:
        for name in header[1:]:
            col = lines[start].index(f" {name}") + 1
            assert line[col - 1] == " " and line[col] != " ", (lines[start], line)
    return rows


def consume(bootstrap: str, topic: str, *args: str, expect: int | None = None) -> list[str]:
    """The lines a console consumer prints. With ``expect`` it stops after that many messages
    (a slow machine only waits longer); without, after 2 s of silence (nothing expected)."""
    flags = (
        ["--timeout-ms", "2000"]
        if expect is None
        else ["--timeout-ms", "60000", "--max-messages", str(expect)]
    )
    done = run("consume", bootstrap, "--topic", topic, *flags, *args)
    return done.stdout.splitlines()


def produce_keyed(bootstrap: str, topic: str, lines: list[str]) -> list[tuple[int, int]]:
    done = run(
        "produce",
        bootstrap,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        "--verbose",
        stdin="".join(f"{line}\n" for line in lines),
    )
    acks = [line.split() for line in done.stdout.splitlines()]
    assert all(a[0] == "partition" and a[2] == "offset" for a in acks), done.stdout
    return [(int(a[1]), int(a[3])) for a in acks]


def test_topics_create_list_describe_alter_delete(shared_broker):
    b = shared_broker.bootstrap
    created = run(
        "topics", b, "--create", "--topic", "words", "--partitions", "3",
        "--replication-factor", "1", "--config", "retention.ms=123456",
    )  # fmt: skip
    assert created.stdout.strip() == "Created topic words."
    one_error_line(run("topics", b, "--create", "--topic", "words", "--partitions", "3", ok=False))

    listed = run("topics", b, "--list").stdout.split()
    assert "words" in listed
    # Like kafka-topics.sh: internal topics are listed unless --exclude-internal.
    if "__consumer_offsets" in listed:
        excluded = run("topics", b, "--list", "--exclude-internal").stdout.split()
        assert "words" in excluded and "__consumer_offsets" not in excluded

    described = run("topics", b, "--describe", "--topic", "words").stdout.splitlines()
    head = described[0].split("\t")
    assert head[0] == "Topic: words"
    assert head[1].startswith("TopicId: ") and len(head[1]) > len("TopicId: ")
    assert head[2:4] == ["PartitionCount: 3", "ReplicationFactor: 1"]
    assert head[4] == "Configs: retention.ms=123456"
    parts = [line.strip().split("\t") for line in described[1:]]
    assert [p[:2] for p in parts] == [["Topic: words", f"Partition: {i}"] for i in range(3)]
    for p in parts:
        assert p[2].startswith("Leader: ") and p[3].startswith("Replicas: ")
        assert p[4].startswith("Isr: ")

    run("topics", b, "--alter", "--topic", "words", "--partitions", "5")
    described = run("topics", b, "--describe", "--topic", "words").stdout.splitlines()
    assert "PartitionCount: 5" in described[0] and len(described) == 6
    line = one_error_line(
        run("topics", b, "--alter", "--topic", "words", "--partitions", "2", ok=False)
    )
    assert "5" in line

    run("topics", b, "--delete", "--topic", "words")
    deadline = time.monotonic() + 10
    while "words" in run("topics", b, "--list").stdout.split():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    line = one_error_line(run("topics", b, "--describe", "--topic", "words", ok=False))
    assert "words" in line
    one_error_line(run("topics", b, "--delete", "--topic", "words", ok=False))


def test_produce_keys_then_consume_from_beginning(shared_broker):
    b = shared_broker.bootstrap
    run("topics", b, "--create", "--topic", "keyed", "--partitions", "4")
    lines = [f"user{i % 5}:message {i}" for i in range(40)]
    acks = produce_keyed(b, "keyed", lines)
    assert len(acks) == 40

    out = consume(b, "keyed", "--from-beginning", *PRINT_ALL, expect=40)
    assert len(out) == 40
    seen = {}
    partition_of_key: dict[str, set[int]] = defaultdict(set)
    for line in out:
        # DefaultMessageFormatter: Partition:P<sep>Offset:O<sep>key<sep>value
        part, offset, key, value = line.split("\t")
        assert part.startswith("Partition:") and offset.startswith("Offset:")
        p, o = int(part.removeprefix("Partition:")), int(offset.removeprefix("Offset:"))
        seen[(p, o)] = f"{key}:{value}"
        partition_of_key[key].add(p)
    # Every produced line came back, at the partition and offset the producer reported.
    assert seen == dict(zip(acks, lines, strict=True))
    assert all(len(parts) == 1 for parts in partition_of_key.values()), partition_of_key
    assert len(partition_of_key) == 5

    # Only the value by default; --max-messages stops early.
    plain = consume(b, "keyed", "--from-beginning", expect=3)
    assert len(plain) == 3 and all(v.startswith("message ") for v in plain)
    # A custom separator is used between every field.
    custom = consume(
        b, "keyed", "--from-beginning", "--property", "print.key=true",
        "--property", "key.separator= | ", expect=1,
    )  # fmt: skip
    assert len(custom) == 1 and custom[0].startswith("user") and " | message " in custom[0]

    # A keyed line without the separator is refused with one line.
    bad = run(
        "produce", b, "--topic", "keyed", "--property", "parse.key=true",
        stdin="no separator here\n", ok=False,
    )  # fmt: skip
    assert "line number 1" in one_error_line(bad)


def test_consume_partition_and_offset(shared_broker):
    b = shared_broker.bootstrap
    run("topics", b, "--create", "--topic", "one", "--partitions", "2")
    acks = produce_keyed(b, "one", [f"k:v{i}" for i in range(6)])
    partition = acks[0][0]
    assert {p for p, _ in acks} == {partition}  # one key, one partition
    out = consume(
        b, "one", "--partition", str(partition), "--offset", "2", "--property", "print.offset=true",
        expect=4,
    )  # fmt: skip
    assert out == [f"Offset:{i}\tv{i}" for i in range(2, 6)]
    other = 1 - partition
    assert consume(b, "one", "--partition", str(other), "--offset", "earliest") == []
    line = one_error_line(run("consume", b, "--topic", "one", "--offset", "2", ok=False))
    assert "--partition" in line


def test_groups_describe_and_reset(shared_broker):
    b = shared_broker.bootstrap
    run("topics", b, "--create", "--topic", "stream", "--partitions", "2")
    acks = produce_keyed(b, "stream", [f"k{i}:m{i}" for i in range(10)])
    per_partition = defaultdict(int)
    for p, _ in acks:
        per_partition[p] += 1
    assert min(per_partition[0], per_partition[1]) >= 3, per_partition  # murmur2 is fixed

    first = consume(b, "stream", "--group", "readers", "--from-beginning", expect=6)
    assert len(first) == 6
    assert "readers" in run("groups", b, "--list").stdout.split()

    described = run("groups", b, "--describe", "--group", "readers").stdout
    rows = {int(r["PARTITION"]): r for r in table(described)}
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows.values()) == 6
    for p, r in rows.items():
        assert r["GROUP"] == "readers" and r["TOPIC"] == "stream"
        assert int(r["LOG-END-OFFSET"]) == per_partition[p]
        assert int(r["LAG"]) == per_partition[p] - int(r["CURRENT-OFFSET"])
        assert r["CONSUMER-ID"] == r["HOST"] == r["CLIENT-ID"] == "-"  # nobody is consuming
    before = {p: int(r["CURRENT-OFFSET"]) for p, r in rows.items()}

    # Dry run: prints the plan, changes nothing.
    plan = run(
        "groups", b, "--reset-offsets", "--group", "readers", "--topic", "stream", "--to-earliest"
    ).stdout
    assert {(r["PARTITION"], r["NEW-OFFSET"]) for r in table(plan)} == {("0", "0"), ("1", "0")}
    after = table(run("groups", b, "--describe", "--group", "readers").stdout)
    assert {int(r["PARTITION"]): int(r["CURRENT-OFFSET"]) for r in after} == before

    # The group continues where it stopped: the 4 messages it has not read.
    # (--from-beginning only matters for a partition the first run read nothing from: with
    # no commit there, auto.offset.reset=latest would skip its messages, as in Kafka.)
    rest = consume(b, "stream", "--group", "readers", "--from-beginning", expect=4)
    assert sorted(first + rest) == sorted(f"m{i}" for i in range(10))

    # --execute: the group reads everything again.
    run("groups", b, "--reset-offsets", "--group", "readers", "--topic", "stream",
        "--to-earliest", "--execute")  # fmt: skip
    again = consume(b, "stream", "--group", "readers", expect=10)
    assert sorted(again) == sorted(f"m{i}" for i in range(10))

    # --to-offset on one partition, --shift-by relative to the committed offset.
    p = 0
    run("groups", b, "--reset-offsets", "--group", "readers", "--topic", f"stream:{p}",
        "--to-offset", "3", "--execute")  # fmt: skip
    rows = {int(r["PARTITION"]): r for r in table(
        run("groups", b, "--describe", "--group", "readers").stdout)}  # fmt: skip
    assert int(rows[p]["CURRENT-OFFSET"]) == 3
    assert int(rows[p]["LAG"]) == per_partition[p] - 3
    assert int(rows[1 - p]["CURRENT-OFFSET"]) == per_partition[1 - p]
    run("groups", b, "--reset-offsets", "--group", "readers", "--topic", "stream",
        "--shift-by", "-2", "--execute")  # fmt: skip
    rows = {int(r["PARTITION"]): r for r in table(
        run("groups", b, "--describe", "--group", "readers").stdout)}  # fmt: skip
    assert int(rows[p]["CURRENT-OFFSET"]) == 1
    assert int(rows[1 - p]["CURRENT-OFFSET"]) == per_partition[1 - p] - 2
    reread = consume(b, "stream", "--group", "readers", *PRINT_ALL, expect=per_partition[p] + 1)
    assert sorted((int(x.split("\t")[0][10:]), int(x.split("\t")[1][7:])) for x in reread) == (
        sorted([(p, o) for o in range(1, per_partition[p])]
               + [(1 - p, o) for o in range(per_partition[1 - p] - 2, per_partition[1 - p])])
    )  # fmt: skip

    # --to-datetime far in the past is the earliest offset.
    plan = run("groups", b, "--reset-offsets", "--group", "readers", "--topic", "stream",
               "--to-datetime", "2000-01-01T00:00:00.000", "--dry-run").stdout  # fmt: skip
    assert {r["NEW-OFFSET"] for r in table(plan)} == {"0"}


def test_reset_refused_while_group_active_and_client_config(shared_broker, tmp_path):
    b = shared_broker.bootstrap
    run("topics", b, "--create", "--topic", "live", "--partitions", "1")
    props = tmp_path / "client.properties"
    props.write_text("# a comment\n\nclient.id = from-file\nsocket.timeout.ms=30000\n")
    member = subprocess.Popen(
        _cmd("consume", b, "--topic", "live", "--group", "busy", "--command-config", str(props)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            done = run("groups", b, "--describe", "--group", "busy", ok=False)
            if done.returncode == 0 and "from-file" in done.stdout:
                break
            assert time.monotonic() < deadline, done.stderr
            time.sleep(0.3)
        row = table(done.stdout)[0]
        assert row["CLIENT-ID"] == "from-file"
        assert re.fullmatch(r"from-file-[0-9a-f]{8}…", row["CONSUMER-ID"]), row  # fits a screen
        full = table(run("groups", b, "--describe", "--group", "busy", "--full-ids").stdout)[0]
        assert re.fullmatch(rf"{row['CONSUMER-ID'][:-1]}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}",
                            full["CONSUMER-ID"]), full  # fmt: skip
        assert row["HOST"] != "-"
        refused = run("groups", b, "--reset-offsets", "--group", "busy", "--topic", "live",
                      "--to-earliest", "--execute", ok=False)  # fmt: skip
        assert "inactive" in one_error_line(refused)
    finally:
        member.send_signal(signal.SIGTERM)  # like Ctrl-C: leave the group, say how many
        _, err = member.communicate(timeout=30)
    assert "Traceback" not in err and "Processed a total of 0 messages" in err
    left = run("groups", b, "--describe", "--group", "busy").stdout
    assert "Consumer group 'busy' has no active members." in left

    # -X wins over the file; an unknown setting is one error line.
    unknown = run(
        "topics", b, "--list", "--command-config", str(props), "-X", "no.such.setting=1", ok=False
    )
    line = one_error_line(unknown)
    assert "no.such.setting" in line
    missing = run("topics", b, "--list", "--command-config", str(tmp_path / "nope"), ok=False)
    line = one_error_line(missing)
    assert "nope" in line


def test_errors_are_one_line(shared_broker):
    unreachable = "127.0.0.1:1"
    for verb, args in [
        ("topics", ["--list"]),
        ("consume", ["--topic", "t", "--timeout-ms", "1000"]),
        ("groups", ["--list"]),
    ]:
        line = one_error_line(run(verb, unreachable, *args, ok=False))
        assert "cannot reach Kafka at 127.0.0.1:1" in line
    line = one_error_line(run("produce", unreachable, "--topic", "t", stdin="x\n", ok=False))
    assert "cannot reach Kafka" in line
    b = shared_broker.bootstrap
    assert "missing" in one_error_line(
        run("consume", b, "--topic", "missing", "--timeout-ms", "500", ok=False)
    )
    assert "--bogus" in one_error_line(run("topics", b, "--list", "--bogus", ok=False), code=2)
    one_error_line(run("topics", b, ok=False))
    one_error_line(run("groups", b, "--describe", ok=False))
