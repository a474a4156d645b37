#!/usr/bin/python3
"""The independent subscriber of the fault suite: paho-mqtt (Debian's python3-paho-mqtt), MQTT 3.1.1,
clean session false, QoS 1 on `site/#` and `probe/#`. Every message is appended to OUT as one JSON line
`[topic, payload]` (payload bytes kept as they came: invalid UTF-8 escaped, never dropped). Reconnects
on its own; flushes every 0.2 s and at SIGTERM.

  subscriber.py PORT OUT CLIENT_ID
"""
import json
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, out_path, client_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = open(out_path, 'a', buffering=1 << 20)
lock = threading.Lock()
stop = threading.Event()


def on_connect(client, userdata, flags, rc):
    if rc == 0:
        # Loss reports take sequence numbers from the same numbering as readings.
        client.subscribe([('site/#', 1), ('probe/#', 1), ('outpost/+/loss', 1)])


def on_message(client, userdata, msg):
    line = json.dumps([msg.topic, msg.payload.decode('utf-8', 'surrogateescape')], ensure_ascii=True)
    with lock:
        out.write(line + '\n')


def flusher():
    while not stop.wait(0.2):
        with lock:
            out.flush()


client = mqtt.Client(client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
client.on_connect = on_connect
client.on_message = on_message
client.max_inflight_messages_set(1000)
client.reconnect_delay_set(0.1, 1)
signal.signal(signal.SIGTERM, lambda *_: stop.set())
threading.Thread(target=flusher, daemon=True).start()
while not stop.is_set():
    try:
        client.connect('127.0.0.1', port, keepalive=30)
        break
    except OSError:
        time.sleep(0.2)
client.loop_start()
stop.wait()
client.loop_stop()
with lock:
    out.flush()
    out.close()
