"""A minimal MQTT 3.1.1 client over a plain TCP socket (standard library only).

Enough for a Liquid Edge device (docs/device-contract.md §2): CONNECT with CleanSession = 1, a
keepalive and a Last Will; SUBSCRIBE at QoS 1; PUBLISH at QoS 0 and 1 (PUBACK both ways);
PINGREQ; DISCONNECT. One reader thread hands every application message to `on_message`.
"""

import socket
import struct
import threading
import time

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14


class MqttError(Exception):
    pass


def _encode_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n > 0 else 0))
        if n == 0:
            return bytes(out)


def _string(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


class MqttClient:
    def __init__(self, host, port, client_id, username, password, keepalive_s=30, will=None):
        self.host, self.port = host, port
        self.client_id, self.username, self.password = client_id, username, password
        self.keepalive_s = keepalive_s
        self.will = will  # (topic, payload bytes, qos, retain)
        self.on_message = lambda topic, payload: None
        self.on_close = lambda: None
        self._sock = None
        self._send_lock = threading.Lock()
        self._next_id = 0
        self._acks = {}  # packet id -> threading.Event
        self._last_sent = time.monotonic()
        self._closed = threading.Event()

    def connect(self, timeout_s=10):
        """Open the socket, send CONNECT, wait for CONNACK. Raises MqttError with the return code."""
        self._sock = socket.create_connection((self.host, self.port), timeout=timeout_s)
        flags = 0x02  # CleanSession = 1 (§2.2)
        payload = _string(self.client_id)
        if self.will is not None:
            topic, message, qos, retain = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _string(topic) + _string(message)
        if self.username is not None:
            flags |= 0x80
            payload += _string(self.username)
        if self.password is not None:
            flags |= 0x40
            payload += _string(self.password)
        variable = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive_s)
        self._write(CONNECT << 4, variable + payload)
        kind, _, body = self._read_packet()
        if kind != CONNACK or len(body) != 2:
            raise MqttError("expected CONNACK")
        if body[1] != 0:
            raise MqttError("CONNACK return code %d" % body[1], body[1])
        self._sock.settimeout(None)
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._pinger, daemon=True).start()

    @property
    def closed(self):
        return self._closed.is_set()

    def subscribe(self, topics, qos=1, timeout_s=10):
        pid = self._packet_id()
        body = struct.pack("!H", pid) + b"".join(_string(t) + bytes([qos]) for t in topics)
        self._request(SUBSCRIBE << 4 | 0x02, body, pid, timeout_s)

    def publish(self, topic, payload, qos=0, retain=False, wait_s=None):
        """QoS 1 waits for the PUBACK when `wait_s` is given (a clean disconnect needs it)."""
        header = PUBLISH << 4 | (qos << 1) | (1 if retain else 0)
        body = _string(topic)
        if self._peer_closed():
            raise MqttError("the broker closed the connection")
        if qos == 0:
            self._write(header, body + payload)
            return
        pid = self._packet_id()
        if wait_s is None:
            self._write(header, body + struct.pack("!H", pid) + payload)
        else:
            self._request(header, body + struct.pack("!H", pid) + payload, pid, wait_s)

    def disconnect(self):
        try:
            self._write(DISCONNECT << 4, b"")
        except OSError:
            pass
        self.close()

    def close(self):
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if not self._closed.is_set():
            self._closed.set()
            self.on_close()

    # -- internals ---------------------------------------------------------------------------

    def _packet_id(self):
        with self._send_lock:
            self._next_id = self._next_id % 65535 + 1
            return self._next_id

    def _peer_closed(self):
        # A QoS 0 message written after the broker's FIN is lost without a trace: look before
        # writing, without waiting for the reader thread to notice.
        try:
            return self._sock is None or self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _request(self, header, body, pid, timeout_s):
        done = threading.Event()
        self._acks[pid] = done
        self._write(header, body)
        if not done.wait(timeout_s):
            raise MqttError("no acknowledgement for packet %d" % pid)

    def _write(self, header, body):
        data = bytes([header]) + _encode_length(len(body)) + body
        with self._send_lock:
            if self._sock is None:
                raise MqttError("not connected")
            self._sock.sendall(data)
            self._last_sent = time.monotonic()

    def _read_exact(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self._sock.recv(n - len(out))
            if not chunk:
                raise MqttError("connection closed")
            out += chunk
        return bytes(out)

    def _read_packet(self):
        first = self._read_exact(1)[0]
        length, shift = 0, 0
        while True:
            byte = self._read_exact(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return first >> 4, first & 0x0F, self._read_exact(length)

    def _reader(self):
        try:
            while True:
                kind, flags, body = self._read_packet()
                if kind == PUBLISH:
                    qos = (flags >> 1) & 0x03
                    (tlen,) = struct.unpack("!H", body[:2])
                    topic = body[2 : 2 + tlen].decode("utf-8")
                    rest = body[2 + tlen :]
                    if qos > 0:
                        pid = rest[:2]
                        rest = rest[2:]
                        self._write(PUBACK << 4, pid)
                    self.on_message(topic, rest)
                elif kind in (PUBACK, SUBACK):
                    (pid,) = struct.unpack("!H", body[:2])
                    done = self._acks.pop(pid, None)
                    if done is not None:
                        done.set()
        except (OSError, MqttError):
            pass
        finally:
            self.close()

    def _pinger(self):
        # PINGREQ when nothing was sent for half the keepalive, so the broker never times us out.
        while not self._closed.wait(1):
            if time.monotonic() - self._last_sent >= self.keepalive_s / 2:
                try:
                    self._write(PINGREQ << 4, b"")
                except (OSError, MqttError):
                    self.close()
