"""The pdigpy command ends its process without the interpreter's teardown (pdigpy.cli._exit_now).

Each test runs ``main()`` the way the ``pdigpy`` script does (no argv) in a fresh interpreter,
with something of its own planted first: an atexit callback, an object whose finaliser reports
the teardown, a thread that is not a daemon. The traced app is /bin/sh with a known status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# argv[1]: what to plant; the rest is pdigpy's command line.
PROBE = """
import atexit, sys, threading, time
plant = sys.argv[1]
if plant == "atexit":
    atexit.register(lambda: sys.stderr.write("probe: atexit ran\\n"))
elif plant == "finaliser":
    class Witness:
        def __del__(self):
            sys.stderr.write("probe: teardown ran\\n")
    witness = Witness()
elif plant == "gc":
    import gc
    atexit.register(lambda: sys.stderr.write(f"probe: gc enabled={gc.isenabled()} frozen={gc.get_freeze_count() > 0}\\n"))
elif plant == "thread":
    def late():
        time.sleep(0.5)
        sys.stderr.write("probe: thread finished\\n")
    threading.Thread(target=late, daemon=False).start()
sys.argv = ["pdigpy"] + sys.argv[2:]
from pdigpy.cli import main
main()
sys.stderr.write("probe: main returned\\n")
"""


def _run(tmp_path: Path, plant: str, *args: str) -> subprocess.CompletedProcess:
    rules = tmp_path / "empty.yaml"
    rules.write_text("[]\n")
    env = dict(os.environ, PDIGPY_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-c", PROBE, plant, "-r", str(rules), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_command_exits_with_the_apps_status_and_skips_the_teardown(tmp_path):
    res = _run(tmp_path, "finaliser", "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 7")
    assert res.returncode == 7
    assert res.stdout == "out\n"  # the app's stdout, and nothing else
    assert "err\n" in res.stderr
    assert "probe: main returned" not in res.stderr  # main() did not return: it ended the process
    assert "probe: teardown ran" not in res.stderr  # and the interpreter was not torn down


def test_atexit_callbacks_still_run(tmp_path):
    res = _run(tmp_path, "atexit", "--", "/bin/sh", "-c", "exit 3")
    assert res.returncode == 3
    assert "probe: atexit ran" in res.stderr


def test_a_thread_that_is_not_a_daemon_is_waited_for(tmp_path):
    res = _run(tmp_path, "thread", "--", "/bin/sh", "-c", "exit 5")
    assert res.returncode == 5
    assert "probe: thread finished" in res.stderr


def test_main_with_argv_returns(tmp_path):
    """Callers that pass argv (tests, bench/soak.py) get the status back, as before."""
    rules = tmp_path / "empty.yaml"
    rules.write_text("[]\n")
    code = ("import sys\nfrom pdigpy.cli import main\n"
            f"status = main(['-r', {str(rules)!r}, '--', '/bin/sh', '-c', 'exit 4'])\n"
            "sys.stderr.write(f'probe: main returned {status}\\n')\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PDIGPY_CACHE_DIR=str(tmp_path / "cache")))
    assert res.returncode == 0
    assert "probe: main returned 4" in res.stderr


def test_the_trace_runs_with_the_collector_and_start_up_frozen(tmp_path):
    """Start-up runs without the cyclic collector; the trace (which can be long) runs with it,
    minus the frozen start-up objects."""
    res = _run(tmp_path, "gc", "--", "/bin/sh", "-c", "exit 0")
    assert res.returncode == 0
    assert "probe: gc enabled=True frozen=True" in res.stderr
