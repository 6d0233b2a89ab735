"""A ROS 2 std_msgs/String peer on Cyclone DDS (Python cyclonedds 11), for interop tests.

    ros_string.py pub TOPIC COUNT TIMEOUT   wait for a reader, write COUNT strings "msg N",
                                            wait for acknowledgements; exit 0 on success
    ros_string.py sub TOPIC COUNT TIMEOUT   print COUNT received strings, one per line; exit 0
                                            when all arrived, 1 on timeout

TOPIC is the DDS name (rt/chatter). Set CYCLONEDDS_URI to pin Cyclone to loopback and
DOMAIN to pick the domain; SIZE=N pads each published string with 'x' to N characters.
"""

import os
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Qos, Policy
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class String_(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str


def pad(s):
    """s padded with ' xxx...' to SIZE characters (from the environment), if that is longer."""
    size = int(os.environ.get("SIZE", "0"))
    return s + " " + "x" * (size - len(s) - 1) if size > len(s) + 1 else s


def main():
    mode, topic_name, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    end = time.monotonic() + timeout
    dp = DomainParticipant(int(os.environ.get("DOMAIN", "0")))
    qos = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepAll,
    )
    topic = Topic(dp, topic_name, String_, qos=qos)
    if mode == "pub":
        w = DataWriter(dp, topic, qos=qos)
        while w.get_publication_matched_status().current_count < 1:
            if time.monotonic() > end:
                print("timed out waiting for a reader", file=sys.stderr)
                return 1
            time.sleep(0.05)
        # Give the reader's side a moment to match our writer too.
        time.sleep(0.5)
        for i in range(count):
            w.write(String_(data=pad(f"msg {i}")))
        left = max(0.1, end - time.monotonic())
        if not w.wait_for_acks(duration(seconds=left)):
            print("not all samples acknowledged", file=sys.stderr)
            return 1
        return 0
    r = DataReader(dp, topic, qos=qos)
    got = 0
    while got < count:
        if time.monotonic() > end:
            print(f"timed out with {got} of {count}", file=sys.stderr)
            return 1
        for s in r.take(N=100):
            if isinstance(s, String_):
                print(s.data, flush=True)
                got += 1
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
