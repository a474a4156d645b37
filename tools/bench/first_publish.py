#!/usr/bin/python3
"""Measures the time from exec to the first MQTT PUBLISH on the wire.

  first_publish.py --port P [--timeout S] -- COMMAND...

Listens on 127.0.0.1:P as a minimal MQTT broker (CONNACK to any CONNECT, MQTT 3.1.1 or 5, nothing
else answered), starts COMMAND, and stops it with SIGKILL as soon as the first PUBLISH packet has
arrived completely, so a store it had open stays uncleanly stopped. Prints one JSON line:
{"exec_to_connect_ms":..., "exec_to_publish_ms":..., "topic":...}. The clock starts just before the
fork that execs COMMAND.
"""
import argparse
import json
import signal
import socket
import subprocess
import sys
import time


def read_exact(conn, n, deadline):
    data = b''
    while len(data) < n:
        conn.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError('the client closed the connection')
        data += chunk
    return data


def read_packet(conn, deadline):
    """One MQTT control packet: (type, flags, body)."""
    first = read_exact(conn, 1, deadline)[0]
    length, shift = 0, 0
    while True:
        b = read_exact(conn, 1, deadline)[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return first >> 4, first & 0x0F, read_exact(conn, length, deadline) if length else b''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--timeout', type=float, default=120)
    ap.add_argument('command', nargs='+')
    args = ap.parse_args()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', args.port))
    listener.listen(8)
    t0 = time.monotonic()
    child = subprocess.Popen(args.command)
    deadline = t0 + args.timeout
    result = {}
    try:
        while 'exec_to_publish_ms' not in result:
            if child.poll() is not None:
                result['error'] = 'the command exited with %d before publishing' % child.returncode
                break
            if time.monotonic() > deadline:
                raise socket.timeout()
            listener.settimeout(0.1)
            try:
                conn, _ = listener.accept()  # the client reconnects if a connection is lost
            except socket.timeout:
                continue
            try:
                while True:
                    kind, _, body = read_packet(conn, deadline)
                    now = time.monotonic()
                    if kind == 1:  # CONNECT: 2-byte name length, "MQTT", protocol level
                        result.setdefault('exec_to_connect_ms', round((now - t0) * 1000, 1))
                        v5 = len(body) > 6 and body[6] == 5
                        conn.sendall(b'\x20\x03\x00\x00\x00' if v5 else b'\x20\x02\x00\x00')
                    elif kind == 3:  # PUBLISH
                        tlen = int.from_bytes(body[:2], 'big')
                        result['exec_to_publish_ms'] = round((now - t0) * 1000, 1)
                        result['topic'] = body[2:2 + tlen].decode(errors='replace')
                        break
            except (EOFError, ConnectionError):
                conn.close()
                continue
            conn.close()
    except socket.timeout:
        result['error'] = 'no PUBLISH within %g s' % args.timeout
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
    print(json.dumps(result))
    return 0 if 'exec_to_publish_ms' in result else 1


if __name__ == '__main__':
    sys.exit(main())
