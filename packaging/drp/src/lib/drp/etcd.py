"""Minimal etcd v3 client over the JSON gRPC gateway (/v3/kv/*), stdlib only."""
import base64
import http.client
import json
import urllib.request


class EtcdError(Exception):
    pass


def _b64(s):
    return base64.b64encode(s.encode()).decode()


def _call(endpoints, path, body, timeout=3):
    last = None
    for ep in endpoints:
        req = urllib.request.Request(ep.rstrip("/") + path, data=json.dumps(body).encode(),  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (http URLs from the config)
                return json.loads(r.read().decode() or "{}")
        except (OSError, ValueError, http.client.HTTPException) as e:  # try the next member
            last = e
    raise EtcdError("no etcd endpoint answered: %s" % last)


def put(endpoints, key, value, timeout=3):
    _call(endpoints, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, timeout)


def get(endpoints, key, timeout=3):
    r = _call(endpoints, "/v3/kv/range", {"key": _b64(key)}, timeout)
    kvs = r.get("kvs") or []
    return base64.b64decode(kvs[0]["value"]).decode() if kvs and "value" in kvs[0] else None


def get_prefix(endpoints, prefix, timeout=3):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    r = _call(endpoints, "/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)}, timeout)
    out = {}
    for kv in r.get("kvs") or []:
        out[base64.b64decode(kv["key"]).decode()] = base64.b64decode(kv.get("value", "")).decode()
    return out
