"""geometry_msgs/msg/Twist on Cyclone DDS 11 (Python cyclonedds), typed, for the typed interop
tests: the ROS 2 DDS names and XCDR1 (what ROS 2 uses), no ROS 2 install.

    ros_twist.py pub TOPIC LX AZ TIMEOUT   wait for a reader, write Twist(linear.x=LX,
                                           angular.z=AZ) ten times a second until TIMEOUT
    ros_twist.py sub TOPIC TIMEOUT         print the first Twist received as a JSON line; exit
                                           0, or 1 on timeout

TOPIC is the DDS name (rt/cmd_vel). DOMAIN picks the domain. Run it inside a network
namespace with only lo, or with CYCLONEDDS_URI pinning Cyclone to loopback.
"""

import json
import os
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import float64
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64
    y: float64
    z: float64


@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    linear: Vector3
    angular: Vector3


def plain(v):
    return {"x": v.x, "y": v.y, "z": v.z}


def main():
    mode, topic_name = sys.argv[1], sys.argv[2]
    dp = DomainParticipant(int(os.environ.get("DOMAIN", "0")))
    qos = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.Durability.Volatile,
        Policy.History.KeepLast(10),
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )
    topic = Topic(dp, topic_name, Twist, qos=qos)
    if mode == "pub":
        lx, az, timeout = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
        end = time.monotonic() + timeout
        w = DataWriter(dp, topic, qos=qos)
        msg = Twist(linear=Vector3(lx, 0.0, 0.0), angular=Vector3(0.0, 0.0, az))
        while time.monotonic() < end:
            w.write(msg)
            time.sleep(0.1)
        return 0
    end = time.monotonic() + float(sys.argv[3])
    r = DataReader(dp, topic, qos=qos)
    while time.monotonic() < end:
        for s in r.take(N=10):
            if isinstance(s, Twist):
                print(json.dumps({"linear": plain(s.linear), "angular": plain(s.angular)}), flush=True)
                return 0
        time.sleep(0.02)
    print("timed out", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
