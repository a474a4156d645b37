"""What the Python integration checks in this folder share: how they end and how they report.

A check raises Skip (exit 77, ctest's SKIP_RETURN_CODE) with a precise reason when something it needs is
missing, or Failure (exit 1) with what it found; say() prints at once, so a check killed by ctest's
timeout still shows how far it got. run_check() runs one in a work directory of its own.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import traceback

SKIP = 77


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


def run_check(label, body, prefix, cleanup=None):
    """Runs body(work) in a fresh temporary directory and returns the exit code: 0 pass, SKIP, 1 fail
    (a Failure, or any other exception: a broken harness is a failure too). cleanup(work), if given, runs
    however the body ended and returns False when something was left behind (that fails the check). The
    directory is removed, or kept on failure when OUTPOST_KEEP_WORK is set."""
    work = tempfile.mkdtemp(prefix=prefix)
    began = time.monotonic()
    rc = 1
    try:
        body(work)
        rc = 0
        say('PASS: %s' % label)
    except Skip as e:
        say('SKIP: %s' % e)
        rc = SKIP
    except Failure as e:
        say('FAIL: %s: %s' % (label, e))
    except Exception:  # noqa: BLE001  (the cleanup still runs)
        say('FAIL: %s: %s' % (label, traceback.format_exc()))
    finally:
        if cleanup and not cleanup(work):
            say('FAIL: %s: processes were left running' % label)
            rc = 1
        if rc == 1 and os.environ.get('OUTPOST_KEEP_WORK'):
            say('work dir kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
        say('total %.1f s' % (time.monotonic() - began))
    return rc
