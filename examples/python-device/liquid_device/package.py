"""The `.liquid` package (docs/device-contract.md §7.4, §8): layout, checks in the contract's order,
and Ed25519 signature verification (RFC 8032, pure Python — the standard library has none).
"""

import base64
import hashlib
import json
import struct

MAGIC = b"LLNPKG"
MAX_MANIFEST = 8 * 1024 * 1024


class PackageError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# -- Ed25519 verification (RFC 8032 §5.1.7, after its §6 reference code) ------------------------

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    A = (a[1] - a[0]) * (b[1] - b[0]) % _P
    B = (a[1] + a[0]) * (b[1] + b[0]) % _P
    C = 2 * a[3] * b[3] * _D % _P
    D = 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def _mul(s, point):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, point)
        point = _add(point, point)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public_key, message, signature):
    """True when `signature` (64 bytes) is `public_key`'s (32 bytes) over `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decompress(public_key)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def public_key_from_pem(text):
    """The 32 raw bytes of an Ed25519 public key written as PEM SPKI (what our tools write)."""
    body = "".join(line for line in text.strip().splitlines() if not line.startswith("-----"))
    der = base64.b64decode(body)
    if len(der) != 44 or not der.startswith(_SPKI_PREFIX):
        raise ValueError("not an Ed25519 public key in PEM SPKI form")
    return der[12:]


# -- the package ----------------------------------------------------------------------------------


def check_package(data, ref, public_keys, hardware, skip_signature=False):
    """Check a downloaded file in the order of §7.4; returns (manifest, model bytes).

    `ref` is `desired.model` (sha256, signature). Raises PackageError with the contract's code.
    `skip_signature` exists only for the deliberately broken variant of this example.
    """
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise PackageError("PACKAGE_SHA256_MISMATCH", "the file's sha256 is not the desired one")
    if len(data) < 16 + 64 or data[:6] != MAGIC:
        raise PackageError("PACKAGE_TRUNCATED" if len(data) < 80 else "PACKAGE_MALFORMED", "not a .liquid file")
    if data[6] != 1:
        raise PackageError("PACKAGE_MALFORMED", "format version %d" % data[6])
    (m,) = struct.unpack_from("<I", data, 8)
    if m > MAX_MANIFEST:
        raise PackageError("PACKAGE_MALFORMED", "manifest length %d" % m)
    if len(data) < 16 + m + 64:
        raise PackageError("PACKAGE_TRUNCATED", "the file ends inside the manifest")
    (n,) = struct.unpack_from("<I", data, 12 + m)
    end = 16 + m + n
    if len(data) < end + 64:
        raise PackageError("PACKAGE_TRUNCATED", "the file ends before the signature")
    if len(data) > end + 64:
        raise PackageError("PACKAGE_MALFORMED", "trailing bytes after the signature")
    try:
        manifest = json.loads(data[12 : 12 + m].decode("utf-8"))
        for key in ("name", "version", "golden", "latencyThresholdMs", "modelSha256", "modelSize"):
            if key not in manifest:
                raise ValueError("no " + key)
        if manifest["modelSize"] != n:
            raise ValueError("modelSize is not the model length")
    except (ValueError, UnicodeDecodeError) as err:
        raise PackageError("PACKAGE_MANIFEST_INVALID", "manifest: %s" % err)
    signature = data[end:]
    if base64.b64encode(signature).decode() != ref["signature"]:
        raise PackageError("PACKAGE_SIGNATURE_MISMATCH", "the embedded signature is not the desired one")
    if not skip_signature and not any(ed25519_verify(k, data[:end], signature) for k in public_keys):
        raise PackageError("PACKAGE_SIGNATURE_INVALID", "no configured publisher key verifies the signature")
    model = data[16 + m : end]
    if hashlib.sha256(model).hexdigest() != manifest["modelSha256"]:
        raise PackageError("PACKAGE_MODEL_HASH_MISMATCH", "the model bytes do not have the manifest's sha256")
    wanted = manifest.get("hardware") or []
    if wanted and hardware not in wanted:
        raise PackageError("AGENT_PACKAGE_INVALID", "built for %s, not %s" % (", ".join(wanted), hardware))
    return manifest, model


def read_package(data):
    """Manifest and model of a file already checked (a slot on disk)."""
    (m,) = struct.unpack_from("<I", data, 8)
    (n,) = struct.unpack_from("<I", data, 12 + m)
    return json.loads(data[12 : 12 + m].decode("utf-8")), data[16 + m : 16 + m + n]
