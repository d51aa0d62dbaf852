"""python3 -m liquid_device --id cam-7 --secret … --broker mqtt://127.0.0.1:1883 --publisher-key key.pem"""

import argparse
import os
import signal
import sys
import threading
import urllib.parse

from .device import Device
from .package import public_key_from_pem

BREAKS = ("signature", "command-expiry", "unknown-command", "status-slots", "rollback", "seconds")


def config(argv):
    p = argparse.ArgumentParser(prog="liquid_device", description=__doc__)
    p.add_argument("--id", required=True, help="device id: the MQTT client id and username")
    p.add_argument("--secret", default=os.environ.get("LLN_DEVICE_SECRET"), help="the broker secret (or LLN_DEVICE_SECRET)")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    p.add_argument("--root", default="lln/v1", help="topic root")
    p.add_argument("--state-dir", required=True, help="where state, slots and counters survive restarts")
    p.add_argument("--publisher-key", action="append", required=True, help="an Ed25519 public key, PEM (repeatable)")
    p.add_argument("--hardware", default="python-host", help="hardware class reported")
    p.add_argument("--window-ms", type=int, default=1000, help="telemetry window, ms")
    p.add_argument("--keepalive", type=int, default=30, help="MQTT keepalive, s (at most 300)")
    p.add_argument("--infer-every-ms", type=int, default=250, help="the application's inference period, ms (0: none)")
    p.add_argument("--reconnect-max-s", type=float, default=60.0, help="largest reconnect back-off, s")
    p.add_argument("--buffer-windows", type=int, default=600, help="telemetry windows kept while offline")
    p.add_argument("--break", dest="breaks", action="append", default=[], choices=BREAKS,
                   help="break one clause on purpose (a conformance kit demonstration)")
    a = p.parse_args(argv)
    if a.secret is None:
        p.error("--secret or LLN_DEVICE_SECRET is required")
    if not 1 <= a.keepalive <= 300 or not 10 <= a.window_ms <= 86_400_000:
        p.error("--keepalive must be 1-300 s and --window-ms 10 ms-24 h")
    url = urllib.parse.urlparse(a.broker)
    if url.scheme != "mqtt" or url.hostname is None:
        p.error("--broker must be mqtt://host:port")
    keys = []
    for path in a.publisher_key:
        with open(path, encoding="utf-8") as f:
            keys.append(public_key_from_pem(f.read()))
    return argparse.Namespace(
        device_id=a.id, secret=a.secret, host=url.hostname, port=url.port or 1883, root=a.root, state_dir=a.state_dir,
        public_keys=keys, hardware=a.hardware, window_ms=a.window_ms, keepalive_s=a.keepalive,
        infer_every_ms=a.infer_every_ms, reconnect_max_s=a.reconnect_max_s, buffer_windows=a.buffer_windows, breaks=a.breaks,
    )


def main(argv=None):
    device = Device(config(sys.argv[1:] if argv is None else argv))
    done = threading.Event()

    def stop(signum, frame):
        if not done.is_set():
            done.set()
            device.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    device.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
