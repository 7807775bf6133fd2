"""A tiny service for the Fargate example: one suspicious step, then it serves until SIGTERM.

At start it runs a "health check" through /bin/sh, which is what a command
injection looks like to pdigpy's default rules ("Shell spawned by a non-shell
program", priority Notice). Then it prints ``app: ready`` and waits for
SIGTERM (ECS StopTask), shuts down cleanly and exits 0.

``APP_FAIL_WITH=N`` in the environment makes it exit with status N right
after the health check instead, to show that pdigpy passes the app's exit
status through to ECS.

Everything goes to stdout; pdigpy's alerts go to stderr. Both end up in
CloudWatch Logs through the awslogs driver.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def main() -> int:
    print("app: starting", flush=True)
    subprocess.run(["/bin/sh", "-c", "echo app: health check ok"], check=True)
    fail = os.environ.get("APP_FAIL_WITH")
    if fail:
        print(f"app: failing with status {fail} (APP_FAIL_WITH)", flush=True)
        return int(fail)
    # Block SIGTERM and wait for it: no race between a handler and the wait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    print("app: ready", flush=True)
    sig = signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print(f"app: {signal.Signals(sig).name} received, shutting down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
