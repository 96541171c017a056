"""The broker at its file-descriptor limit (issue 12, item 14): it says so once per interval
instead of a traceback per attempt, keeps serving the connections it has, and accepts the
waiting clients as soon as descriptors free up."""

from __future__ import annotations

import os
import resource
import select
import socket
import time

from tests.support.waiting import eventually
from tests.support.wire import WireClient

API_VERSIONS_BODY = {"client_software_name": "t", "client_software_version": "1"}
REPORT_INTERVAL_S = 10  # broker.net.server.LIMIT_LOG_INTERVAL_S


def answered(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets with an answer (or EOF) ready to read."""
    readable, _, _ = select.select(socks, [], [], 0)
    return readable


def test_at_the_fd_limit_the_broker_logs_once_serves_and_recovers(broker_factory):
    broker = broker_factory(config={"offsets.topic.num.partitions": "1"})
    pid = broker.proc.pid
    keepers = [WireClient(broker.port) for _ in range(3)]
    for keeper in keepers:
        assert keeper.request(18, 3, API_VERSIONS_BODY).error_code == 0
    original = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (highest + 1, original[1]))
    waiting: list[socket.socket] = []
    try:
        started = time.monotonic()
        request = keepers[0].encode(18, 3, API_VERSIONS_BODY)
        for _ in range(20):  # the kernel completes these connections; the broker cannot
            sock = socket.create_connection(("127.0.0.1", broker.port))
            sock.sendall(request)
            waiting.append(sock)
        eventually(lambda: "Too many open files" in broker.read_log(), "EMFILE reported")
        time.sleep(1.0)  # the old accept loop logged thousands of tracebacks in this second
        assert keepers[0].request(18, 3, API_VERSIONS_BODY).error_code == 0
        for keeper in keepers:
            keeper.close()  # three descriptors free up in the broker
        eventually(lambda: answered(waiting), "a waiting client is accepted and answered")
        elapsed = time.monotonic() - started
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, original)
        for sock in waiting:
            sock.close()
    log = broker.read_log()
    assert log.count("Too many open files") <= 1 + elapsed / REPORT_INTERVAL_S, log[-3000:]
    assert "Traceback" not in log
    assert "accepting connections again" in log
    with WireClient(broker.port) as late:
        assert late.request(18, 3, API_VERSIONS_BODY).error_code == 0
