"""A KeyedSeq peer (ddsperf's type) on Cyclone DDS (Python cyclonedds 11), for interop tests.

    keyed.py tl-pub TOPIC KEYS SECONDS   transient-local writer: one sample per key 0..KEYS-1,
                                         then dispose key 1; stays SECONDS so late joiners
                                         get the history
    keyed.py sub TOPIC COUNT TIMEOUT     reliable KEEP_ALL reader: prints "state seq keyval"
                                         per sample; exit 0 when COUNT arrived, 1 on timeout

Set CYCLONEDDS_URI to pin Cyclone to loopback and DOMAIN to pick the domain.
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


def main():
    mode, topic_name = sys.argv[1], sys.argv[2]
    dp = DomainParticipant(int(os.environ.get("DOMAIN", "0")))
    if mode == "tl-pub":
        keys, stay = int(sys.argv[3]), float(sys.argv[4])
        qos = Qos(
            Policy.Reliability.Reliable(duration(seconds=1)),
            Policy.Durability.TransientLocal,
            Policy.History.KeepLast(1),
        )
        topic = Topic(dp, topic_name, KeyedSeq, qos=qos)
        w = DataWriter(dp, topic, qos=qos)
        for k in range(keys):
            w.write(KeyedSeq(seq=k, keyval=k, baggage=[1, 2, 3]))
        w.dispose(KeyedSeq(seq=0, keyval=1, baggage=[]))
        print("written", flush=True)
        time.sleep(stay)
        return 0
    count, timeout = int(sys.argv[3]), float(sys.argv[4])
    end = time.monotonic() + timeout
    qos = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepAll,
    )
    topic = Topic(dp, topic_name, KeyedSeq, qos=qos)
    r = DataReader(dp, topic, qos=qos)
    got = 0
    while got < count:
        if time.monotonic() > end:
            print(f"timed out with {got} of {count}", file=sys.stderr)
            return 1
        for s in r.take(N=100):
            state = str(s.sample_info.instance_state).split(".")[-1]
            print(state, s.seq, s.keyval, flush=True)
            got += 1
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
