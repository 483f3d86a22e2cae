#!/usr/bin/python3
"""Memory per idle watcher and per watch stream of a running member, from
its RSS before and after opening them (python3-etcd3 as the client).

    bench/watch_memory.py PID HOST PORT watchers 10000   # N watchers on one stream
    bench/watch_memory.py PID HOST PORT streams 500      # N streams, one watcher each

PID is the member's process (cairn or etcd), read from /proc/PID/status.
"""
import sys
import time

import etcd3

pid, host, port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])


def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS")


client = etcd3.client(host=host, port=port)
client.put("/watch-memory/warm", "x")
time.sleep(1)
before = rss_kb()
if mode == "watchers":
    ids = [client.add_watch_callback(f"/watch-memory/{i}", lambda event: None) for i in range(n)]
    what = "watcher (all on one stream)"
else:
    clients = [etcd3.client(host=host, port=port) for _ in range(n)]
    ids = [c.add_watch_callback(f"/watch-memory/{i}", lambda event: None) for i, c in enumerate(clients)]
    what = "stream (its own connection, one watcher)"
time.sleep(3)
after = rss_kb()
print(f"{n} x {mode}: RSS {before} kB -> {after} kB: {(after - before) * 1024 / n:.0f} bytes per {what}")
