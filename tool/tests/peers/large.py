"""Large KeyedSeq samples (ddsperf's type) on Cyclone DDS (Python cyclonedds 11), for the
fragmentation tests.

    large.py pub TOPIC SIZE COUNT TIMEOUT   reliable KEEP_ALL writer: waits for a reader, writes
                                            COUNT samples (seq 0..COUNT-1, keyval 0) with SIZE
                                            bytes of baggage (byte j of sample i is
                                            (i + j) % 251), waits until they are acknowledged,
                                            prints "acknowledged COUNT"
    large.py sub TOPIC COUNT TIMEOUT        reliable KEEP_ALL reader: prints "seq keyval LEN WHAT"
                                            per sample, WHAT telling what the baggage holds:
                                            "pattern" (the one above), "zeros" or "other";
                                            exit 0 when COUNT arrived

Both exit 1 on timeout. Set CYCLONEDDS_URI to pin Cyclone to loopback and DOMAIN to pick the
domain.
"""

import os
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Qos, Policy
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.annotations import key
import cyclonedds.idl.types as types
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class KeyedSeq(IdlStruct, typename="KeyedSeq"):
    seq: types.uint32
    keyval: types.uint32
    key("keyval")
    baggage: types.sequence[types.uint8]


PATTERN = bytes(range(251)) * 2


def baggage(i, size):
    """Bytes (i + j) % 251 for j in 0..size."""
    start = i % 251
    reps = size // 251 + 2
    return (PATTERN[start:251] + bytes(range(251)) * reps)[:size]


def main():
    mode, topic_name = sys.argv[1], sys.argv[2]
    dp = DomainParticipant(int(os.environ.get("DOMAIN", "0")))
    qos = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepAll,
    )
    topic = Topic(dp, topic_name, KeyedSeq, qos=qos)
    if mode == "pub":
        size, count, timeout = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        end = time.monotonic() + timeout
        w = DataWriter(dp, topic, qos=qos)
        while w.get_matched_subscriptions() == []:
            if time.monotonic() > end:
                print("no reader matched", file=sys.stderr)
                return 1
            time.sleep(0.02)
        for i in range(count):
            w.write(KeyedSeq(seq=i, keyval=0, baggage=baggage(i, size)))
        left = max(end - time.monotonic(), 0.1)
        if not w.wait_for_acks(duration(seconds=left)):
            print("not acknowledged", file=sys.stderr)
            return 1
        print("acknowledged", count, flush=True)
        return 0
    count, timeout = int(sys.argv[3]), float(sys.argv[4])
    end = time.monotonic() + timeout
    r = DataReader(dp, topic, qos=qos)
    got = 0
    while got < count:
        if time.monotonic() > end:
            print(f"timed out with {got} of {count}", file=sys.stderr)
            return 1
        for s in r.take(N=100):
            b = bytes(s.baggage)
            if b == baggage(s.seq, len(b)):
                what = "pattern"
            elif b.count(0) == len(b):
                what = "zeros"
            else:
                what = "other"
            print(s.seq, s.keyval, len(b), what, flush=True)
            got += 1
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
