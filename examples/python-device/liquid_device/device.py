"""A Liquid Edge device written from docs/device-contract.md alone. Section numbers (§6.5) are the
contract's. Threads: the MQTT reader hands messages to one dispatcher; an update (download, checks,
self-test) runs on a thread of its own so commands stay answered; a ticker closes telemetry windows
and trials; an application thread runs inference as a real device's sensors would ask for it.
"""

import collections
import json
import os
import queue
import random
import re
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

from .mqtt import MqttClient, MqttError
from .onnx import Model, OnnxError
from .package import PackageError, check_package, read_package
from .store import Store

AGENT_VERSION = "python-device/0.1.0"
TIME_MIN, TIME_MAX = 10**12, 4_102_444_800_000  # §5.2
ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
KINDS = {"ping", "status", "rollback", "switch", "decommission", "verify", "profile", "evaluate", "logs", "cancel"}
SERVING = ("active", "trial")
UPDATING = ("downloading", "verifying", "staging")


def now_ms():
    return int(time.time() * 1000)


class Refusal(Exception):
    """A command answered `ok: false` with a contract error code."""

    def __init__(self, code, message, retryable=False):
        super().__init__(message)
        self.code, self.retryable = code, retryable


def error(code, message, retryable=False, details=None):
    e = {"code": code, "message": message, "retryable": retryable}
    if details:
        e["details"] = details
    return e


def quantile(sorted_values, q):
    """Nearest rank."""
    return sorted_values[max(0, min(len(sorted_values) - 1, int(q * len(sorted_values) + 0.999999) - 1))]


class Device:
    def __init__(self, cfg):
        self.cfg = cfg
        self.id = cfg.device_id
        self.root = cfg.root
        self.breaks = set(cfg.breaks)
        self.store = Store(cfg.state_dir)
        self.s = self.store.state
        self.lock = threading.RLock()
        self.models = {}  # slot -> (manifest, Model)
        self.client = None
        self.online = threading.Event()
        self.stopping = threading.Event()
        self.inbox = queue.Queue()
        self.update = None  # (generation, cancel Event, thread)
        self.window = {"start": now_ms(), "inferences": 0, "errors": 0, "latencies": []}
        self.trial_stats = {"attempts": 0, "errors": 0, "latencies": []}
        self.buffer = collections.deque()  # telemetry envelopes kept while offline (§10.4)
        self.dropped = 0
        self.events = collections.deque(maxlen=100)
        self.logs = collections.deque(maxlen=1000)
        self.started = time.monotonic()
        self.telemetry_lock = threading.Lock()

    # -- messages ---------------------------------------------------------------------------

    def topic(self, name):
        return "%s/devices/%s/%s" % (self.root, self.id, name)

    def envelope(self, kind, body):
        return {"v": 1, "type": kind, "id": str(uuid.uuid4()), "ts": now_ms(), "deviceId": self.id, "body": body}

    def publish(self, name, envelope, qos=1, retain=False, wait_s=None):
        client = self.client
        if client is None or not self.online.is_set():
            return False
        try:
            client.publish(self.topic(name), json.dumps(envelope).encode(), qos, retain, wait_s)
            return True
        except (OSError, MqttError):
            return False

    def log(self, level, msg, **fields):
        line = {"ts": now_ms(), "level": level, "msg": msg + ("" if not fields else " " + json.dumps(fields))}
        self.logs.append(line)
        print("%s %s %s" % (level, self.id, line["msg"]), file=sys.stderr, flush=True)

    def event(self, name, **extra):
        body = {"event": name, **{k: v for k, v in extra.items() if v is not None}}
        env = self.envelope("event", body)
        if not self.publish("events", env):
            self.events.append(env)  # §11: raised while offline, sent on reconnect

    def status(self, online):
        return self.envelope(
            "status", {"online": online, "session": self.s["session"], "agentVersion": AGENT_VERSION, "hardware": self.cfg.hardware}
        )

    def slots(self):
        return [{"slot": k, "model": v["model"], "role": v["role"]} for k, v in sorted(self.s["slots"].items())]

    def report(self, progress=None):
        """§6.8: the retained reported state, on every phase change and connect."""
        with self.lock:
            body = {
                "generation": self.s["generation"],
                "rolloutId": self.s["rolloutId"],
                "phase": self.s["phase"],
                "slots": self.slots(),
                "error": self.s["error"],
                "reason": self.s["reason"],
                "agentVersion": AGENT_VERSION,
                "hardware": self.cfg.hardware,
            }
            if progress is not None:
                body["progress"] = progress
            self.store.save()
            env = self.envelope("reported", body)
        self.publish("reported", env, retain=True)

    def set_phase(self, phase, err=None, progress=None):
        with self.lock:
            self.s["phase"], self.s["error"] = phase, err
            self.log("info", "phase", phase=phase, generation=self.s["generation"], error=err and err["code"])
        self.report(progress)

    def role(self, role):
        return next((k for k, v in self.s["slots"].items() if v["role"] == role), None)

    def serving(self):
        return next((k for k, v in self.s["slots"].items() if v["role"] in SERVING), None)

    # -- start, connection, shutdown (§2) ---------------------------------------------------------

    def run(self):
        with self.lock:
            crashed = self.s["running"]
            self.s["running"] = True
            for slot in list(self.s["slots"]):
                self.load_slot(slot)
            if self.s["trial"] is not None:  # §6.5: a restart during a trial reverts it
                self.revert(error("AGENT_TRIAL_INTERRUPTED", "the device restarted during the trial"), report=False)
            elif self.s["phase"] in UPDATING:
                self.s["phase"] = "failed"
                self.s["error"] = error("AGENT_INTERNAL", "the device restarted during the update", True)
            self.store.save()
        self.event("started")
        if crashed:
            self.event("crashed")
        for target in (self.dispatch, self.ticker, self.application):
            threading.Thread(target=target, daemon=True).start()
        self.connect_loop()

    def connect_loop(self):
        backoff = 1.0
        while not self.stopping.is_set():
            with self.lock:
                self.s["session"] += 1  # §2.4: stored before the CONNECT is sent
                self.store.save()
            will = (self.topic("status"), json.dumps(self.status(False)).encode(), 1, True)
            client = MqttClient(self.cfg.host, self.cfg.port, self.id, self.id, self.cfg.secret, self.cfg.keepalive_s, will)
            client.on_message = lambda topic, payload: self.inbox.put((topic, payload))
            closed = threading.Event()
            client.on_close = closed.set
            try:
                client.connect()
            except MqttError as err:
                refused = len(err.args) > 1 and err.args[1] in (2, 4, 5)
                self.log("warn", "connect refused" if refused else "connect failed", reason=str(err))
                # §2.8: after a refused CONNECT wait at least 30 s
                self.stopping.wait(max(30.0, backoff) if refused else backoff * random.uniform(0.5, 1.0))
                backoff = min(self.cfg.reconnect_max_s, backoff * 2)
                continue
            except OSError as err:
                self.log("warn", "connect failed", reason=str(err))
                self.stopping.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(self.cfg.reconnect_max_s, backoff * 2)
                continue
            self.client = client
            try:
                client.subscribe([self.topic("desired"), self.topic("cmd")])  # §2.6
                self.online.set()
                self.publish("status", self.status(True), retain=True)
                self.report()
                self.drain()
                self.log("info", "online", session=self.s["session"])
                backoff = 1.0
            except (OSError, MqttError) as err:
                self.log("warn", "connection lost while starting", reason=str(err))
                client.close()
            while not closed.wait(0.5) and not self.stopping.is_set():
                pass
            self.online.clear()
            if not self.stopping.is_set():
                self.log("warn", "connection lost")
                self.stopping.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(self.cfg.reconnect_max_s, backoff * 2)

    def drain(self):
        """§10.4 and §11: what was kept while offline, oldest first, at QoS 1, before live windows."""
        with self.telemetry_lock:
            while self.buffer:
                env = self.buffer[0]
                if self.dropped:
                    env["body"]["dropped"] = env["body"].get("dropped", 0) + self.dropped
                if not self.publish("telemetry", env, qos=1):
                    return
                self.dropped = 0
                self.buffer.popleft()
        while self.events:
            if not self.publish("events", self.events[0]):
                return
            self.events.popleft()

    def shutdown(self):
        """§2.7: offline status, wait for its PUBACK, DISCONNECT (the broker drops the Last Will)."""
        self.stopping.set()
        self.publish("status", self.status(False), retain=True, wait_s=5)
        if self.client is not None:
            self.client.disconnect()
        with self.lock:
            self.s["running"] = False
            self.store.save()

    # -- the dispatcher -------------------------------------------------------------------------

    def dispatch(self):
        while True:
            topic, payload = self.inbox.get()
            try:
                env = json.loads(payload.decode("utf-8"))
                if not isinstance(env, dict) or env.get("v") != 1 or env.get("deviceId") != self.id:
                    continue
                if topic == self.topic("desired") and env.get("type") == "desired":
                    self.on_desired(env["body"])
                elif topic == self.topic("cmd"):
                    self.on_command(env)
            except Exception as err:  # a bad message never stops the loop
                self.log("error", "message refused", topic=topic, err=repr(err))

    # -- desired state (§6) ---------------------------------------------------------------------

    def on_desired(self, d):
        gen = d.get("generation")
        if not isinstance(gen, int) or gen <= self.s["generation"]:
            return  # §6.1: not newer — ignored, no report
        self.supersede()
        with self.lock:
            if self.s["trial"] is not None:  # §6.3: a trial of an older generation is reverted
                self.revert(error("AGENT_SUPERSEDED", "a newer generation arrived during the trial"), report=False)
            self.s["generation"], self.s["rolloutId"], self.s["reason"] = gen, d.get("rolloutId"), None
            expires = d.get("expiresAt")
            if expires is not None and expires <= now_ms():
                return self.set_phase("failed", error("AGENT_DESIRED_EXPIRED", "the desired state expired before it was applied"))
            model = d.get("model")
            if model is None:  # §6.4
                for slot in list(self.s["slots"]):
                    self.store.free_slot(slot)
                    self.models.pop(slot, None)
                self.s["reason"] = d.get("reason")
                self.set_phase("idle")
                return self.event("model-unloaded")
            serving = self.serving()
            if serving is not None and self.s["slots"][serving]["model"]["sha256"] == model["sha256"]:
                self.s["slots"][serving]["role"] = "active"
                return self.set_phase("active")
            cancel = threading.Event()
            thread = threading.Thread(target=self.apply, args=(gen, d, cancel), daemon=True)
            self.update = (gen, cancel, thread)
            thread.start()

    def supersede(self):
        """§6.3: the update in progress is abandoned (never activated, no report of its own)."""
        current = self.update
        if current is not None:
            current[1].set()
            current[2].join()
            self.update = None

    def apply(self, gen, d, cancel):
        model, mode = d["model"], d.get("mode", "activate")
        policy = d.get("policy") or {}
        slot = None
        try:
            with self.lock:
                resident = next((k for k, v in self.s["slots"].items() if v["model"]["sha256"] == model["sha256"]), None)
                serving = self.serving()
                slot = resident or ("b" if serving == "a" else "a")
                if resident is None and slot in self.s["slots"]:
                    self.store.free_slot(slot)  # the standby slot's old model makes room
                    self.models.pop(slot, None)
            if resident is None:
                self.set_phase("downloading", progress=0)
                data = self.download(model, cancel)
                if cancel.is_set():
                    return
                self.set_phase("verifying")
                manifest, raw = check_package(
                    data, model, self.cfg.public_keys, self.cfg.hardware, skip_signature="signature" in self.breaks
                )
                self.set_phase("staging")
                self.store.write_slot(slot, data)
                try:
                    loaded = Model(raw)
                except OnnxError as err:
                    raise PackageError("AGENT_LOAD_FAILED", str(err))
                self.set_phase("verifying")
            else:
                self.set_phase("verifying")
                manifest, loaded = self.models[slot]
            previous = resident is not None and self.s["slots"][resident]["role"] == "previous"
            back = previous and policy.get("trialMs", 60000) == 0
            self.self_test(manifest, loaded, check_latency=not back)
            with self.lock:
                if cancel.is_set():
                    return
                expires = d.get("expiresAt")
                if expires is not None and expires <= now_ms():
                    raise PackageError("AGENT_DESIRED_EXPIRED", "the desired state expired before the model was activated")
                self.models[slot] = (manifest, loaded)
                ref = {"name": model["name"], "version": model["version"], "sha256": model["sha256"]}
                self.finish(slot, ref, mode, policy, back)
        except Exception as err:  # every failed step ends the generation failed, the running model untouched
            code = err.code if isinstance(err, PackageError) else "AGENT_INTERNAL"
            with self.lock:
                if cancel.is_set():
                    return
                if slot is not None and slot not in self.s["slots"]:
                    self.store.free_slot(slot)
                if code == "AGENT_SELF_TEST_FAILED":
                    self.event("self-test-failed", error=error(code, str(err)))
                self.set_phase("failed", error(code, str(err), code == "AGENT_DOWNLOAD_FAILED"))
        finally:
            with self.lock:
                if self.update is not None and self.update[0] == gen and not cancel.is_set():
                    self.update = None

    def finish(self, slot, ref, mode, policy, back):
        """§6.5: the new slot becomes staged, trial or (a way back) active."""
        serving = self.serving()
        for k, v in list(self.s["slots"].items()):
            if k != slot and v["role"] == "staged":
                v["role"] = "previous"
        self.s["slots"][slot] = {"model": ref, "role": "staged"}
        if mode == "stage":
            return self.set_phase("staged")
        if serving is not None and serving != slot:
            self.s["slots"][serving]["role"] = "previous"
        if back or policy.get("trialMs", 60000) == 0:
            self.s["slots"][slot]["role"] = "active"
            return self.set_phase("active")
        self.s["slots"][slot]["role"] = "trial"
        self.s["trial"] = {"generation": self.s["generation"], "startedAt": now_ms(), "policy": policy}
        self.trial_stats = {"attempts": 0, "errors": 0, "latencies": []}
        self.set_phase("trial")
        self.event("trial-started", model={"name": ref["name"], "version": ref["version"]})

    def download(self, model, cancel):
        """§7: a plain GET without credentials; resumes a partial file with Range and If-Range."""
        size, have, attempts = model["size"], b"", 0
        reported = 0
        while len(have) < size:
            if cancel.is_set():
                return b""
            headers = {"Range": "bytes=%d-" % len(have), "If-Range": '"%s"' % model["sha256"]} if have else {}
            try:
                with urllib.request.urlopen(urllib.request.Request(model["url"], headers=headers), timeout=15) as res:
                    if res.status == 200:
                        have = b""  # the server sent all of it: start over
                    elif res.status != 206:
                        raise PackageError("AGENT_DOWNLOAD_FAILED", "HTTP %d" % res.status)
                    while True:
                        chunk = res.read(16384)
                        if not chunk or cancel.is_set():
                            break
                        have += chunk
                        if len(have) > size:
                            raise PackageError("AGENT_ARTIFACT_TOO_LARGE", "more than %d bytes" % size)
                        if len(have) * 4 // size > reported:  # progress at least every 25 %
                            reported = len(have) * 4 // size
                            self.report(progress=min(1, len(have) / size))
            except (urllib.error.URLError, OSError) as err:
                attempts += 1
                if attempts >= 3:
                    raise PackageError("AGENT_DOWNLOAD_FAILED", "download failed: %s" % err)
        return have

    def self_test(self, manifest, model, check_latency=True):
        """§8.5: golden vectors within tolerance and under the latency threshold of this hardware class.
        Each vector counts its fastest of three runs: one run preempted on a busy host is not the model."""
        budget = (manifest.get("budgets") or {}).get(self.cfg.hardware) or {}
        threshold = budget.get("latencyThresholdMs", manifest["latencyThresholdMs"])
        tolerance = manifest.get("tolerance", 1e-4)
        for i, g in enumerate(manifest["golden"]):
            best, out = None, None
            for _ in range(3):
                t = time.perf_counter()
                out = model.run(g["input"])
                ms = (time.perf_counter() - t) * 1000
                best = ms if best is None else min(best, ms)
            if len(out) != len(g["output"]) or any(abs(a - b) > tolerance for a, b in zip(out, g["output"])):
                raise PackageError("AGENT_SELF_TEST_FAILED", "golden vector %d: output outside the tolerance %g" % (i, tolerance))
            if check_latency and best > threshold:
                raise PackageError("AGENT_SELF_TEST_FAILED", "golden vector %d: %.3f ms over the %g ms threshold" % (i, best, threshold))
        return threshold

    # -- trials (§6.9) ----------------------------------------------------------------------------

    def judge(self, final):
        """The trial's breach, if any: error rate, p95 latency, and unmeasured budgets at its end."""
        trial = self.s["trial"]
        p = trial["policy"]
        b = (p.get("budgets") or {}).get(self.cfg.hardware) or {}
        optional = b.get("optional", p.get("optional") or [])
        st = self.trial_stats
        if st["attempts"] >= p.get("minSamples", 20) and st["attempts"] > 0:
            rate = st["errors"] / st["attempts"]
            if rate > p.get("maxErrorRate", 0.1):
                return error("AGENT_TRIAL_ERROR_RATE", "error rate %.3f" % rate, details={"observed": rate})
            if st["latencies"]:
                limit = b.get("latencyThresholdMs", p.get("latencyThresholdMs")) * (1 + p.get("latencyTolerance", 0.5))
                p95 = quantile(sorted(st["latencies"]), 0.95)
                if p95 > limit:
                    return error("AGENT_TRIAL_LATENCY", "p95 %.3f ms over %g ms" % (p95, limit), details={"observed": p95, "threshold": limit})
        if final:
            # This device has no power meter and no memory figure: unknown is never a pass.
            for measure, key in (("energy", "energyBudgetMw"), ("memory", "memoryBudgetBytes")):
                if b.get(key, p.get(key)) is not None and measure not in optional:
                    return error("AGENT_TRIAL_UNMEASURED", "this device does not measure %s" % measure, details={"measure": measure})
        return None

    def revert(self, err, report=True):
        """Back on the previous model; the trial slot freed (§6.5)."""
        trial_slot, previous = self.role("trial"), self.role("previous")
        if trial_slot is not None:
            self.store.free_slot(trial_slot)
            self.models.pop(trial_slot, None)
        if previous is not None:
            self.s["slots"][previous]["role"] = "active"
        self.s["trial"] = None
        self.event("local-revert", error=err)
        if report:
            self.set_phase("reverted", err)

    def confirm(self):
        slot = self.role("trial")
        self.s["slots"][slot]["role"] = "active"
        self.s["trial"] = None
        self.set_phase("active")
        self.event("trial-confirmed", model={k: self.s["slots"][slot]["model"][k] for k in ("name", "version")})

    # -- inference and telemetry (§10) --------------------------------------------------------------

    def infer(self, values):
        with self.lock:
            slot = self.serving()
            if slot is None or slot not in self.models:
                raise Refusal("AGENT_NO_MODEL", "no model is active on this device")
            model = self.models[slot][1]
        t = time.perf_counter()
        ok = True
        try:
            out = model.run(values)
        except Exception:
            ok, out = False, None
        ms = (time.perf_counter() - t) * 1000
        with self.lock:
            w = self.window
            w["inferences"] += 1
            w["errors"] += 0 if ok else 1
            if ok:
                w["latencies"].append(ms)
            if self.s["trial"] is not None and self.serving() == slot:
                st = self.trial_stats
                st["attempts"] += 1
                st["errors"] += 0 if ok else 1
                if ok:
                    st["latencies"].append(ms)
                breach = self.judge(final=False)
                if breach is not None:
                    self.revert(breach)
        if not ok:
            raise Refusal("DEVICE_INFERENCE_FAILED", "the model failed to run")
        return out, ms

    def application(self):
        """The device's own application: a sensor window every `infer_every_ms`, through the model."""
        rng = random.Random()
        if self.cfg.infer_every_ms <= 0:
            return
        while not self.stopping.wait(self.cfg.infer_every_ms / 1000):
            with self.lock:
                slot = self.serving()
                manifest = self.models.get(slot, (None,))[0] if slot else None
            if manifest is None:
                continue
            base = manifest["golden"][0]["input"]
            try:
                self.infer([v + rng.gauss(0, 0.05) for v in base])
            except Refusal:
                pass

    def ticker(self):
        while not self.stopping.wait(0.05):
            with self.lock:
                trial = self.s["trial"]
                if trial is not None and now_ms() >= trial["startedAt"] + trial["policy"].get("trialMs", 60000):
                    breach = self.judge(final=True)
                    self.revert(breach) if breach is not None else self.confirm()
            if now_ms() >= self.window["start"] + self.cfg.window_ms:
                self.close_window()

    def close_window(self):
        with self.lock:
            w = self.window
            end = w["start"] + self.cfg.window_ms
            self.window = {"start": end, "inferences": 0, "errors": 0, "latencies": []}
            self.s["seq"] += 1
            self.store.save()  # §10.2: seq is never reused, across restarts too
            slot = self.serving()
            model = self.s["slots"][slot]["model"] if slot else None
            lat = sorted(w["latencies"])
            body = {
                "seq": self.s["seq"],
                "windowStart": w["start"],
                "windowMs": self.cfg.window_ms,
                "model": None if model is None else {"name": model["name"], "version": model["version"]},
                "inferences": w["inferences"],
                "errors": w["errors"],
                "latencyMs": None if not lat else {q: quantile(lat, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} | {"max": lat[-1]},
                "energy": None,  # §10.3: no power meter — null, never 0
                "temperatureC": None,
                "memory": None,
                "hardware": self.cfg.hardware,
            }
            env = self.envelope("telemetry", body)
            if "seconds" in self.breaks:
                env["ts"] //= 1000
        with self.telemetry_lock:
            if not self.buffer:
                if self.dropped:
                    body["dropped"] = self.dropped
                if self.publish("telemetry", env, qos=0):
                    self.dropped = 0
                    return
                body.pop("dropped", None)
            if len(self.buffer) >= self.cfg.buffer_windows:
                self.buffer.popleft()
                self.dropped += 1
            self.buffer.append(env)

    # -- commands (§9) ----------------------------------------------------------------------------

    def on_command(self, env):
        cid = env.get("id")
        if not isinstance(cid, str) or not ID.match(cid):
            return
        cached = next((r for i, r in self.s["replies"] if i == cid), None)
        if cached is not None:  # §9.2: the first answer again, nothing run
            return self.publish("reply", self.envelope("reply", cached))
        body = env.get("body") if isinstance(env.get("body"), dict) else {}
        try:
            kind = body.get("kind")
            if kind not in KINDS:
                if "unknown-command" in self.breaks:
                    raise Refusal("PROTO_INVALID_PAYLOAD", "invalid command")
                raise Refusal("PROTO_UNKNOWN_COMMAND", "this device does not know command kind %r" % kind)
            expires = body.get("expiresAt")
            if not isinstance(expires, int):
                raise Refusal("PROTO_INVALID_PAYLOAD", "expiresAt is required")
            if not TIME_MIN <= expires <= TIME_MAX:
                raise Refusal("PROTO_TIME_UNIT", "expiresAt is not epoch milliseconds")
            if expires <= now_ms() and "command-expiry" not in self.breaks:
                raise Refusal("AGENT_COMMAND_EXPIRED", "the command expired before it arrived")
            reply = {"commandId": cid, "part": 0, "final": True, "ok": True, "result": getattr(self, "cmd_" + kind)(body)}
        except Refusal as r:
            reply = {"commandId": cid, "part": 0, "final": True, "ok": False, "error": error(r.code, str(r), r.retryable)}
        with self.lock:
            self.s["replies"] = (self.s["replies"] + [[cid, reply]])[-256:]
            self.store.save()
        self.publish("reply", self.envelope("reply", reply))

    def busy(self, also_trial=False):
        if self.s["phase"] in UPDATING or (also_trial and self.s["trial"] is not None):
            raise Refusal("AGENT_BUSY", "an update is in progress", True)

    def cmd_ping(self, body):
        return {"kind": "ping", "uptimeMs": int((time.monotonic() - self.started) * 1000), "agentVersion": AGENT_VERSION}

    def cmd_status(self, body):
        metric = body.get("metric")
        if metric == "slots":
            slots = self.slots()
            if "status-slots" in self.breaks:
                slots = [s for s in slots if s["role"] in SERVING]
            return {"kind": "status", "slots": slots}
        if metric == "storage":
            disk = shutil.disk_usage(self.store.dir)
            used = sum(os.path.getsize(self.store.slot_file(k)) for k in self.s["slots"])
            return {"kind": "status", "storage": {"totalBytes": disk.total, "freeBytes": disk.free, "usedByModelsBytes": used}}
        raise Refusal("DEVICE_UNSUPPORTED", "this device does not measure %s" % metric)

    def cmd_rollback(self, body):
        to = body.get("to") or {}
        with self.lock:
            self.busy()
            previous = self.role("previous")
            if to.get("to") == "version":
                previous = next((k for k, v in self.s["slots"].items() if v["model"]["version"] == to.get("version")), None)
            if previous is None:
                raise Refusal("AGENT_NO_PREVIOUS_MODEL", "no previous model on this device")
            if self.s["trial"] is not None:
                self.revert(error("AGENT_TRIAL_INTERRUPTED", "a rollback command interrupted the trial"))
            elif "rollback" in self.breaks:
                pass  # the broken variant answers, and stays where it is
            else:
                serving = self.serving()
                if serving is not None:
                    self.s["slots"][serving]["role"] = "previous"
                self.s["slots"][previous]["role"] = "active"
                self.set_phase("active")
            active = self.s["slots"][self.serving()]["model"]
            changed = "rollback" not in self.breaks
            return {"kind": "rollback", "activeVersion": active["version"], "slots": self.slots(), "changed": changed}

    def cmd_switch(self, body):
        with self.lock:
            self.busy()
            staged = self.role("staged")
            if staged is None:
                raise Refusal("AGENT_NO_STAGED_MODEL", "nothing is staged")
            serving = self.serving()
            if serving is not None:
                self.s["slots"][serving]["role"] = "previous"
            self.s["slots"][staged]["role"] = "active"
            self.set_phase("active")
            return {"kind": "switch", "activeVersion": self.s["slots"][staged]["model"]["version"], "slots": self.slots(), "changed": True}

    def cmd_decommission(self, body):
        with self.lock:
            self.busy(also_trial=True)
            previous = self.role("previous")
            freed = 0
            if previous is not None:
                freed = self.store.free_slot(previous)
                self.models.pop(previous, None)
                self.report()
            return {"kind": "decommission", "slots": self.slots(), "freedBytes": freed}

    def active_manifest(self):
        slot = self.serving()
        if slot is None or slot not in self.models:
            raise Refusal("AGENT_NO_MODEL", "no model is active on this device")
        return self.models[slot][0]

    def cmd_verify(self, body):
        if body.get("suite") != "smoke":
            raise Refusal("DEVICE_UNSUPPORTED", "this device runs the smoke suite only")
        manifest = self.active_manifest()
        slot = self.serving()
        checks = []
        try:
            threshold = self.self_test(manifest, self.models[slot][1])
            checks.append({"name": "golden", "passed": True, "threshold": threshold})
        except PackageError as err:
            checks.append({"name": "golden", "passed": False, "code": "AGENT_SELF_TEST_FAILED", "detail": str(err)})
        return {"kind": "verify", "suite": "smoke", "passed": all(c["passed"] for c in checks), "modelVersion": manifest["version"], "checks": checks}

    def cmd_profile(self, body):
        manifest = self.active_manifest()
        result = {"kind": "profile", "metric": body.get("metric"), "modelVersion": manifest["version"]}
        if body.get("metric") != "latency":
            return {**result, "unit": "mW", "quantiles": None}  # §9.7: cannot measure power
        values = manifest["golden"][0]["input"]
        samples = [self.infer(values)[1] for _ in range(min(body.get("samples", 100), 1000))]
        lat = sorted(samples)
        q = {"samples": len(lat), "mean": sum(lat) / len(lat), "max": lat[-1]}
        q.update({k: quantile(lat, v) for k, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))})
        return {**result, "unit": "ms", "quantiles": q}

    def cmd_evaluate(self, body):
        manifest = self.active_manifest()
        ev = manifest.get("evaluation")
        if ev is None or ev.get("name") != body.get("dataset"):
            raise Refusal("AGENT_NO_DATASET", "the active model has no evaluation set %r" % body.get("dataset"))
        correct = 0
        for sample in ev["samples"]:
            out = self.infer(sample["input"])[0]
            correct += 1 if max(range(len(out)), key=out.__getitem__) == sample["label"] else 0
        n = len(ev["samples"])
        return {"kind": "evaluate", "dataset": ev["name"], "modelVersion": manifest["version"], "samples": n, "correct": correct, "accuracy": correct / n if n else 0}

    def cmd_logs(self, body):
        if body.get("follow"):
            raise Refusal("DEVICE_UNSUPPORTED", "this device does not stream its logs")
        return {"kind": "logs", "lines": list(self.logs)[-body.get("lines", 100) :]}

    def cmd_cancel(self, body):
        return {"kind": "cancel", "commandId": body.get("commandId", ""), "cancelled": False}

    def load_slot(self, slot):
        try:
            with open(self.store.slot_file(slot), "rb") as f:
                manifest, raw = read_package(f.read())
            self.models[slot] = (manifest, Model(raw))
        except (OSError, ValueError, OnnxError) as err:
            self.log("error", "slot unreadable", slot=slot, err=repr(err))
            self.store.free_slot(slot)

