#!/usr/bin/env python3
"""Writes the seeds of the `reassembly` and `stream` fuzz targets from the captured vectors.

reassembly: records `kind u8 | len u16 LE | RTPS message` (kind odd = a message whose DATA_FRAGs
are fed; bit 1 picks the reader), every datagram of one captured sample, in order, reversed and
interleaved, plus synthetic fragment records (kind even).
stream: `cut u8 | framed messages` (Cyclone framing: the header, then submessage 0x81 with the
total length), the vectors of each vendor framed and concatenated.
Run from the repository root: python3 fuzz/make_fragment_seeds.py
"""
import glob
import os
import struct

root = os.path.dirname(os.path.abspath(__file__))
vectors = os.path.join(root, "..", "vectors")


def write(target, name, data):
    with open(os.path.join(root, "seeds", target, name), "wb") as f:
        f.write(data)


def record(kind, msg):
    return bytes([kind]) + struct.pack("<H", len(msg)) + msg


def synthetic(writer, sn, size, frag, first, count, data):
    kind = (writer & 1) << 2
    return (bytes([kind, sn]) + struct.pack("<I", size)[:3] + struct.pack("<HHBH", frag, first, count, len(data)) + data)


sets = sorted({p.rsplit("-", 1)[0] for p in glob.glob(os.path.join(vectors, "*", "datafrag-sample-*.bin"))})
for s in sets:
    parts = sorted(glob.glob(s + "-*.bin"), key=lambda p: int(p.rsplit("-", 1)[1][:-4]))
    msgs = [open(p, "rb").read() for p in parts]
    name = os.path.basename(s)
    write("reassembly", name + "-in-order", b"".join(record(1, m) for m in msgs))
    write("reassembly", name + "-reversed", b"".join(record(3, m) for m in reversed(msgs)))
    write("reassembly", name + "-twice", b"".join(record(1, m) for m in msgs[::2] + msgs + msgs[1::2]))

write("reassembly", "synthetic-small", synthetic(0, 1, 10, 4, 1, 1, b"\x00\x01\x00\x00") + synthetic(0, 1, 10, 4, 2, 2, b"abcdef"))
write("reassembly", "synthetic-huge-claim", synthetic(1, 2, 0xFFFFFF, 1, 1, 1, b"x"))
write("reassembly", "synthetic-overlap", synthetic(0, 3, 100, 16, 1, 3, bytes(48)) + synthetic(0, 3, 100, 8, 2, 3, bytes(24)))


def frame(msg):
    total = len(msg) + 8
    return msg[:20] + bytes([0x81, 0x01, 4, 0]) + struct.pack("<I", total) + msg[20:]


for vendor in ("cyclone", "cyclone11", "fastdds"):
    msgs = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(vectors, vendor, "*.bin")))]
    small = [m for m in msgs if len(m) < 4000][:40]
    write("stream", vendor + "-cut7", bytes([7]) + b"".join(frame(m) for m in small))
    write("stream", vendor + "-cut200", bytes([200]) + b"".join(frame(m) for m in small))
write("stream", "garbage", bytes([3]) + b"GET / HTTP/1.1\r\n\r\n")
write("stream", "bad-length", bytes([0]) + b"RTPS\x02\x01\x00\x00" + bytes(12) + bytes([0x81, 1, 4, 0]) + struct.pack("<I", 3))
