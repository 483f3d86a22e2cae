"""Drives a cairn member with python3-etcd3 (Debian's etcd3 client), the way
a Python service would: KV, transactions, a watch fed by another client, and
a lease kept alive, inspected and revoked. Prints OK or raises.

Usage: etcd3_client.py HOST PORT
"""
import sys
import threading
import time

import etcd3

host, port = sys.argv[1], int(sys.argv[2])
client = etcd3.client(host=host, port=port, timeout=10)
other = etcd3.client(host=host, port=port, timeout=10)

# KV
client.put("/py/a", "1")
client.put("/py/b", "2")
value, meta = client.get("/py/a")
assert value == b"1", value
assert meta.key == b"/py/a"
assert sorted(v for v, _ in client.get_prefix("/py/")) == [b"1", b"2"]
assert client.delete("/py/b") is True
assert client.get("/py/b") == (None, None)

# A compare-and-swap transaction, both branches.
ok, _ = client.transaction(
    compare=[client.transactions.value("/py/a") == "1"],
    success=[client.transactions.put("/py/a", "10")],
    failure=[],
)
assert ok is True
ok, _ = client.transaction(
    compare=[client.transactions.value("/py/a") == "1"],
    success=[client.transactions.put("/py/a", "11")],
    failure=[client.transactions.get("/py/a")],
)
assert ok is False
assert client.get("/py/a")[0] == b"10"

# A watch that sees a put made by another client.
events, cancel = client.watch("/py/watched")
seen = []


def read_one():
    for event in events:
        seen.append(event)
        break


reader = threading.Thread(target=read_one)
reader.start()
time.sleep(0.5)
other.put("/py/watched", "hello")
reader.join(timeout=10)
cancel()
assert len(seen) == 1, seen
assert isinstance(seen[0], etcd3.events.PutEvent), seen[0]
assert seen[0].key == b"/py/watched" and seen[0].value == b"hello"

# A lease: grant, attach a key, keep alive, inspect, revoke.
lease = client.lease(30)
client.put("/py/leased", "x", lease=lease)
lease.refresh()
assert 0 < lease.remaining_ttl <= 30, lease.remaining_ttl
assert lease.granted_ttl == 30
assert lease.keys == [b"/py/leased"], lease.keys
lease.revoke()
assert client.get("/py/leased") == (None, None)

# Cluster and maintenance calls.
members = list(client.members)
assert len(members) == 1 and members[0].name, members
status = client.status()
assert status.leader is not None and status.version, status

# A backup in etcd's format: a bbolt database, then its SHA-256.
import hashlib
import io
import struct

backup = io.BytesIO()
client.snapshot(backup)
data = backup.getvalue()
assert len(data) % 512 == 32, len(data)
assert hashlib.sha256(data[:-32]).digest() == data[-32:], "the trailing hash"
assert struct.unpack_from("<I", data, 16)[0] == 0xED0CDAED, "a bbolt meta page"

print("OK")
