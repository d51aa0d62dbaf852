"""State that must survive a power cut (docs/device-contract.md §6.10): written atomically —
a temporary file, fsync, rename — and read back at start."""

import json
import os

DEFAULT_STATE = {
    "session": 0,  # §2.4: +1 before every connection attempt
    "seq": -1,  # §10.2: the last telemetry window number used
    "generation": 0,  # §6.1: the last desired generation acted on
    "rolloutId": None,
    "phase": "idle",
    "error": None,
    "reason": None,
    "slots": {},  # "a" | "b" -> {"model": {name, version, sha256}, "role": ...}
    "trial": None,  # {"generation", "startedAt", "trialMs", "policy"} while a trial runs
    "replies": [],  # §9.2: the last 256 answers, [command id, reply body]
    "running": False,  # True between start and a clean shutdown: a crash leaves it set
}


class Store:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "state.json")
        self.state = dict(DEFAULT_STATE)
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                self.state.update(json.load(f))

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def slot_file(self, slot):
        return os.path.join(self.dir, "slot-%s.liquid" % slot)

    def write_slot(self, slot, data):
        tmp = self.slot_file(slot) + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.slot_file(slot))

    def free_slot(self, slot):
        """Frees the slot's file; returns the bytes freed."""
        path = self.slot_file(slot)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size:
            os.remove(path)
        self.state["slots"].pop(slot, None)
        return size
