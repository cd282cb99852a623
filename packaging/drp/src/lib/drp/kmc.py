"""KMC crypto and client. Cipher: HMAC-SHA256 in counter mode + HMAC-SHA256 tag
(encrypt-then-MAC, separate derived keys); stdlib only, as the nodes have no pip packages."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import urllib.request

CIPHER = "v1"


class KMCError(Exception):
    pass


def _derive(key, label):
    return hmac.new(key, label, hashlib.sha256).digest()


def _stream(key, nonce, n):
    out = bytearray()
    ctr = 0
    while len(out) < n:
        out += hmac.new(key, nonce + ctr.to_bytes(8, "big"), hashlib.sha256).digest()
        ctr += 1
    return bytes(out[:n])


def key_id(key):
    return hashlib.sha256(key).hexdigest()[:16]


def encrypt(key, plaintext):
    ek, mk = _derive(key, b"enc"), _derive(key, b"mac")
    nonce = os.urandom(16)
    data = plaintext.encode()
    ct = bytes(a ^ b for a, b in zip(data, _stream(ek, nonce, len(data))))
    tag = hmac.new(mk, nonce + ct, hashlib.sha256).digest()
    return ":".join([CIPHER, key_id(key)] + [base64.b64encode(x).decode() for x in (nonce, ct, tag)])


def decrypt(key, token):
    try:
        ver, kid, nonce, ct, tag = token.split(":")
        nonce, ct, tag = (base64.b64decode(x) for x in (nonce, ct, tag))
    except ValueError:
        raise KMCError("malformed ciphertext") from None
    if ver != CIPHER or kid != key_id(key):
        raise KMCError("ciphertext is for another key (%s)" % kid)
    mk = _derive(key, b"mac")
    if not hmac.compare_digest(tag, hmac.new(mk, nonce + ct, hashlib.sha256).digest()):
        raise KMCError("authentication tag mismatch")
    ek = _derive(key, b"enc")
    return bytes(a ^ b for a, b in zip(ct, _stream(ek, nonce, len(ct)))).decode()


def read_key(path):
    with open(path) as f:
        return bytes.fromhex(f.read().strip())


def call(url, token, op, payload, timeout=3):
    """POST {url}/{op} with the cluster token; return the JSON answer."""
    req = urllib.request.Request(url.rstrip("/") + "/" + op, data=json.dumps(payload).encode(),  # noqa: S310
                                 headers={"Content-Type": "application/json", "X-DRP-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (http URL from the config)
            return json.loads(r.read().decode())
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise KMCError(str(e)) from None
