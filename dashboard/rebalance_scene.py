"""The rebalance scene: the same add-then-remove of a member, played at once in two small
groups on ``tweets``, one with the eager ``range`` assignor and one with
``cooperative-sticky``, so a class sees the stop-the-world pause of the first disappear in
the second.

Each member is a confluent-kafka consumer in its own child process of the page's process
(``python -m dashboard.rebalance_member``). Its rebalance
callbacks do what librdkafka asks of each protocol (eager: ``assign``/``unassign`` the whole
set; cooperative: ``incremental_assign``/``incremental_unassign`` of the change) and print
each one as a JSON line with its time: the scene's picture is made of those, to the
millisecond (``dashboard.rebalance.ownership_from_callbacks``). A member stopped with
SIGTERM closes its consumer: it gives up its partitions and leaves the group at once. Each
member's stdin is a pipe from this process that gets its client settings; should this process
die (a Streamlit killed mid-scene), the pipe's end stops the member the same way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from chirpstream.settings import TWEETS_PARTITIONS
from dashboard.rebalance import Callback
from dashboard.rebalance_member import ASSIGNORS

# A rebalance waits for every member's next heartbeat (3 s); a member starting on a busy
# machine takes longer.
SETTLE_TIMEOUT_S = 60.0
HOLD_S = 2.0  # how long the scene shows each settled state
POLL_S = 0.1


@dataclass
class SceneResult:
    """One group's scene: its members' callbacks and the moments the scene acted."""

    assignor: str
    group: str
    callbacks: list[Callback] = field(default_factory=list)
    steps: list[tuple[int, str]] = field(default_factory=list)  # (ts_ms, what the scene did)
    end_ms: int = 0

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> SceneResult:
        callbacks = [
            Callback(c["ts_ms"], c["member"], c["kind"], tuple(c["partitions"]))  # type: ignore[index]
            for c in raw["callbacks"]  # type: ignore[union-attr]
        ]
        steps = [(int(t), str(what)) for t, what in raw["steps"]]  # type: ignore[union-attr]
        return cls(str(raw["assignor"]), str(raw["group"]), callbacks, steps, int(raw["end_ms"]))  # type: ignore[arg-type]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Scene:
    """One group of scene members, started and stopped by this process."""

    def __init__(self, bootstrap: str, config: dict[str, str], assignor: str) -> None:
        self.bootstrap, self.config, self.assignor = bootstrap, config, assignor
        self.result = SceneResult(assignor, f"stage-{assignor}-{now_ms()}")
        self.members: dict[str, subprocess.Popen[str]] = {}
        self.lock = threading.Lock()

    def add(self, name: str) -> None:
        self.result.steps.append((now_ms(), f"add {name}"))
        process = subprocess.Popen(
            [
                sys.executable, "-m", "dashboard.rebalance_member",
                "--bootstrap-server", self.bootstrap,
                "--group", self.result.group, "--assignor", self.assignor, "--name", name,
            ],
            stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stdin is not None
        process.stdin.write(json.dumps(self.config) + "\n")
        process.stdin.flush()  # kept open: its end tells the member this process is gone
        self.members[name] = process
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            raw = json.loads(line)
            with self.lock:
                self.result.callbacks.append(
                    Callback(raw["ts_ms"], raw["member"], raw["kind"], tuple(raw["partitions"]))
                )

    def remove(self, name: str) -> None:
        self.result.steps.append((now_ms(), f"remove {name}"))
        self.members[name].send_signal(signal.SIGTERM)
        self.members[name].wait(SETTLE_TIMEOUT_S)

    def owners(self) -> dict[int, str]:
        """Who holds each partition now, by the callbacks so far."""
        held: dict[int, str] = {}
        with self.lock:
            for callback in sorted(self.result.callbacks, key=lambda c: c.ts_ms):
                for partition in callback.partitions:
                    if callback.kind == "assigned":
                        held[partition] = callback.member
                    elif held.get(partition) == callback.member:
                        del held[partition]
        return held

    def settled(self, members: set[str]) -> bool:
        """Every partition held, by exactly ``members``."""
        owners = self.owners()
        return len(owners) == TWEETS_PARTITIONS and set(owners.values()) == members

    def stop(self) -> None:
        self.result.end_ms = now_ms()
        for process in self.members.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.members.values():
            try:
                process.wait(SETTLE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdin is not None
            process.stdin.close()


def wait_for(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the scene's group did not settle: {what}")
        time.sleep(POLL_S)


def play(scene: Scene) -> SceneResult:
    """Two members; a third joins; the second leaves: each state held ``HOLD_S``."""
    try:
        scene.add("m0")
        scene.add("m1")
        wait_for(lambda: scene.settled({"m0", "m1"}), "two members")
        time.sleep(HOLD_S)
        scene.add("m2")
        wait_for(lambda: scene.settled({"m0", "m1", "m2"}), "the third member joining")
        time.sleep(HOLD_S)
        scene.remove("m1")
        wait_for(lambda: scene.settled({"m0", "m2"}), "the second member leaving")
        time.sleep(HOLD_S)
    finally:
        scene.stop()
    return scene.result


def run(bootstrap: str, config: dict[str, str]) -> dict[str, SceneResult]:
    """The scene in a group per assignor, both at once; their results by assignor."""
    scenes = [Scene(bootstrap, config, assignor) for assignor in ASSIGNORS]
    results: dict[str, SceneResult] = {}
    errors: list[BaseException] = []

    def one(scene: Scene) -> None:
        try:
            results[scene.assignor] = play(scene)
        except (TimeoutError, OSError, ValueError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(scene,)) for scene in scenes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
