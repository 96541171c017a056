"""What wakes an idle node, and what each wake-up costs: one node of a bench cluster run
under cProfile, with signals marking the measured window.

``profile(node, out)`` makes the node start as ``python -m broker`` under a profiler that
writes a snapshot at the first SIGUSR2 and another at the second (SIGUSR1 is taken: the
node logs its connection and task counts on it) while its event loop goes on serving; the
window is their difference. Every callback its event loop runs (``Handle._run``) is also
counted, by what it ran (the coroutine a task resumed, a timer's or a socket's callback),
with the CPU it took. ``wakeup_table(out, seconds)`` prints those wake-ups, then the
functions that cost most.
"""

from __future__ import annotations

import asyncio
import marshal
import signal
import sys
from pathlib import Path
from types import CodeType

from tests.support.cluster import NodeProcess

# ``python -m broker`` as tests/support/broker_process.py runs it, profiled from the start:
# a profiler switched on inside a signal handler would see nothing on Python 3.11 (it
# traces only frames entered after it from the handler's own), so the window is the
# difference of the two snapshots that two SIGUSR2s write. Times are the event loop thread's
# CPU time, not wall time, so that other processes on a busy machine do not show as cost.
# Builtins are not profiled on their own (their time is their callers'), and entries of one
# label are summed: profiled on their own, or kept as pstats keeps them (one entry a label),
# entries went missing between the snapshots, and the callbacks under them.
# The garbage collector's passes, which the profiler charges to whatever function was
# running, are also counted on their own, as "garbage collection" of each generation.
RUN_PROFILED = """\
import cProfile, gc, marshal, os, runpy, signal, sys, time
sys.modules['hypothesis'] = None
out = sys.argv.pop(1)
profiler = cProfile.Profile(time.thread_time, builtins=False)
collected = {}  # generation -> [collections, CPU seconds]
started = [0.0]
def timed_gc(phase, info):
    if phase == 'start':
        started[0] = time.thread_time()
    else:
        row = collected.setdefault(info['generation'], [0, 0.0])
        row[0] += 1
        row[1] += time.thread_time() - started[0]
gc.callbacks.append(timed_gc)
import asyncio, asyncio.events
woken = {}  # what a callback ran -> [runs, CPU seconds]
def name_of(callback):
    owner = getattr(callback, '__self__', None)
    if isinstance(owner, asyncio.Task):  # a task resumed: its coroutine
        callback = owner.get_coro()
    code = getattr(callback, '__code__', None) or getattr(callback, 'cr_code', None)
    if code is None:
        return ('~', 0, getattr(callback, '__qualname__', type(callback).__name__))
    return (code.co_filename, code.co_firstlineno, code.co_name)
run_callback = asyncio.events.Handle._run
def counted_run(handle):
    began = time.thread_time()
    try:
        return run_callback(handle)
    finally:
        row = woken.setdefault(name_of(handle._callback), [0, 0.0])
        row[0] += 1
        row[1] += time.thread_time() - began
asyncio.events.Handle._run = counted_run
def snapshot(target):
    stats = {}  # label -> [cc, nc, tt, ct, callers], summed over entries of one label
    entries = profiler.getstats()
    for entry in entries:
        row = stats.setdefault(cProfile.label(entry.code), [0, 0, 0.0, 0.0, {}])
        row[0] += entry.callcount - entry.reccallcount
        row[1] += entry.callcount
        row[2] += entry.inlinetime
        row[3] += entry.totaltime
    for entry in entries:
        for sub in entry.calls or ():
            callers = stats.setdefault(cProfile.label(sub.code), [0, 0, 0.0, 0.0, {}])[4]
            was = callers.get(cProfile.label(entry.code), (0, 0, 0.0, 0.0))
            callers[cProfile.label(entry.code)] = (
                was[0] + sub.callcount,
                was[1] + sub.callcount - sub.reccallcount,
                was[2] + sub.inlinetime,
                was[3] + sub.totaltime,
            )
    stats = {key: tuple(row) for key, row in stats.items()}
    for generation, (count, seconds) in list(collected.items()):
        stats[('~gc', generation, 'garbage collection')] = (count, count, seconds, seconds, {})
    for (where, line, name), (count, seconds) in list(woken.items()):
        stats[('~woke ' + where, line, name)] = (count, count, seconds, seconds, {})
    with open(target + '.part', 'wb') as file:
        marshal.dump(stats, file)
    os.replace(target + '.part', target)
signal.signal(
    signal.SIGUSR2,
    lambda *_: snapshot(out + ('.end' if os.path.exists(out + '.start') else '.start')),
)
profiler.enable()
runpy.run_module('broker', run_name='__main__', alter_sys=True)
"""


def _label(code: CodeType) -> tuple[str, int, str]:
    return code.co_filename, code.co_firstlineno, code.co_name


WOKE = "~woke "  # the snapshot's rows of callbacks run, by what they ran
LOOP_TURN = _label(asyncio.base_events.BaseEventLoop._run_once.__code__)
Func = tuple[str, int, str]
_NONE = (0, 0, 0.0, 0.0)


def profile(node: NodeProcess, out: Path) -> None:
    """Start ``node`` (when it is launched next) under the signalled profiler."""
    command = [sys.executable, "-c", RUN_PROFILED, str(out), str(node.layout.properties_path)]
    node.command = lambda: command  # type: ignore[method-assign]


def start(node: NodeProcess) -> None:
    """The window starts: the node writes ``<out>.start``."""
    assert node.proc is not None
    node.proc.send_signal(signal.SIGUSR2)


def stop(node: NodeProcess) -> None:
    """The window ends: the node writes ``<out>.end``."""
    assert node.proc is not None
    node.proc.send_signal(signal.SIGUSR2)


def files(out: Path) -> tuple[Path, Path]:
    """The two snapshots: at the window's start and at its end."""
    return Path(f"{out}.start"), Path(f"{out}.end")


def written(out: Path) -> bool:
    return files(out)[1].exists()


def _window(out: Path) -> dict[Func, tuple[int, int, float, float, dict]]:
    """The profile of the window: the end snapshot less the start one."""
    start, end = (marshal.loads(path.read_bytes()) for path in files(out))
    window = {}
    for func, (cc, nc, tt, ct, callers) in end.items():
        before = start.get(func, (0, 0, 0.0, 0.0, {}))
        if nc - before[1] <= 0:
            continue
        callers_then = before[4]
        window[func] = (
            cc - before[0],
            nc - before[1],
            tt - before[2],
            ct - before[3],
            {who: _less(row, callers_then.get(who, _NONE)) for who, row in callers.items()},
        )
    return window


def _name(func: Func) -> str:
    path, line, name = func
    if path == "~":
        return name
    if path == "~gc":
        return f"{name} of generation {line}"
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if "site-packages" not in parts else Path(path).name
    return f"{short}:{line} {name}"


def _less(row: tuple, before: tuple) -> tuple:
    return tuple(now - then for now, then in zip(row, before, strict=True))


def wakeup_table(out: Path, seconds: float, top: int = 25) -> str:
    """The wake-ups per ``seconds`` and the costliest functions of the profile at ``out``."""
    table = _window(out)
    woken = sorted(
        (row[1], row[3], _name((func[0].removeprefix(WOKE), func[1], func[2])))
        for func, row in table.items()
        if func[0].startswith(WOKE)
    )
    total_wakes = sum(count for count, _, _ in woken)
    # the collector's time is in the functions' own already
    total_cpu = sum(row[2] for func, row in table.items() if func[0][0] != "~")
    polls = table.get(LOOP_TURN, (0, 0))[1]
    lines = [
        f"in {seconds:.0f} s: {polls} event-loop turns, {total_wakes} callbacks "
        f"run, {total_cpu:.3f} s of profiled CPU; what the callbacks ran (calls, CPU ms "
        "inclusive):"
    ]
    for count, cost, name in woken[::-1][:top]:
        lines.append(f"  {count:6d} {1000 * cost:8.1f} ms  {name}")
    lines.append(f"costliest functions (own CPU), top {top}:")
    own = sorted(
        (
            (tt, calls, _name(func))
            for func, (_, calls, tt, _, _) in table.items()
            if not func[0].startswith(WOKE)
        ),
        reverse=True,
    )
    for tt, calls, name in own[:top]:
        lines.append(f"  {calls:7d} {1000 * tt:8.1f} ms  {name}")
    return "\n".join(lines)
