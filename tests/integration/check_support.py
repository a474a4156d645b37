"""What the Python integration checks in this folder share: how they end and how they report.

A check raises Skip (exit 77, ctest's SKIP_RETURN_CODE) with a precise reason when something it needs is
missing, or Failure (exit 1) with what it found; say() prints at once, so a check killed by ctest's
timeout still shows how far it got. run_check() runs one in a work directory of its own.

The checks compare wall-clock times (a reading's timestamp with its arrival), so a step of the wall clock
(an NTP step, a host setting the guest's time) in the middle of one makes its latencies meaningless. A check
that fails while the wall clock was stepped by more than CLOCK_STEP_S is run once more, and says why.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import traceback

SKIP = 77
CLOCK_STEP_S = 0.5  # far above what NTP slews a second (0.5 ms), far below any latency bound checked


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def say(text):
    print(text, flush=True)


def listening(port):
    """Something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(('127.0.0.1', port), 0.5).close()
        return True
    except OSError:
        return False


def audit(outpost, capture, work, gateway_id, hex_payloads=False):
    """`outpost audit --json` over a mosquitto_sub capture (`--hex` for `%x` payloads); the report is kept
    in the work directory. Returns its exit code and the report of `gateway_id`."""
    argv = [outpost, 'audit', '--capture', capture, '--json', '--log-format', 'text']
    r = subprocess.run(argv + (['--hex'] if hex_payloads else []), capture_output=True, text=True, timeout=300)
    with open(os.path.join(work, 'audit.json'), 'w') as f:
        f.write(r.stdout)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        raise Failure('outpost audit printed no JSON (rc %d):\n%s\n%s' % (r.returncode, r.stdout[:2000],
                                                                          r.stderr[:2000]))
    g = report.get('gateways', {}).get(gateway_id)
    if not isinstance(g, dict):
        raise Failure('the audit saw no gateway %s (rc %d): %s' % (gateway_id, r.returncode, r.stdout[:2000]))
    return r.returncode, g


class ClockWatch(threading.Thread):
    """Samples the wall clock against the monotonic one five times a second; `step` is the largest change
    of their difference since the start, in seconds (0 while nobody sets the clock)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.origin = time.time() - time.monotonic()
        self.step = 0.0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            self.step = max(self.step, abs(time.time() - time.monotonic() - self.origin))

    def stop(self):
        self.done.set()
        self.join(5)
        self.step = max(self.step, abs(time.time() - time.monotonic() - self.origin))
        return self.step


def run_check(label, body, prefix, cleanup=None):
    """Runs body(work) in a fresh temporary directory and returns the exit code: 0 pass, SKIP, 1 fail
    (a Failure, or any other exception: a broken harness is a failure too). cleanup(work), if given, runs
    however the body ended and returns False when something was left behind (that fails the check). The
    directory is removed, or kept on failure when OUTPOST_KEEP_WORK is set. A Failure while the wall clock
    was stepped gets one more run."""
    for attempt in (1, 2):
        rc, step = run_once(label, body, prefix, cleanup)
        if rc != 1 or step <= CLOCK_STEP_S or attempt == 2:
            return rc
        say('the wall clock was stepped by %.1f s during the check (against the monotonic clock): the '
            'wall-clock times it compared mean nothing; running it once more' % step)


def run_once(label, body, prefix, cleanup):
    work = tempfile.mkdtemp(prefix=prefix)
    began = time.monotonic()
    clock = ClockWatch()
    clock.start()
    rc = 1
    failure = None
    try:
        body(work)
        rc = 0
        say('PASS: %s' % label)
    except Skip as e:
        say('SKIP: %s' % e)
        rc = SKIP
    except Failure as e:
        failure = e
        say('FAIL: %s: %s' % (label, e))
    except Exception:  # noqa: BLE001  (the cleanup still runs)
        say('FAIL: %s: %s' % (label, traceback.format_exc()))
    finally:
        step = clock.stop()
        if cleanup and not cleanup(work):
            say('FAIL: %s: processes were left running' % label)
            rc = 1
        if rc == 1 and os.environ.get('OUTPOST_KEEP_WORK'):
            say('work dir kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        say('total %.1f s' % (time.monotonic() - began))
    return rc, (step if failure is not None else 0.0)
