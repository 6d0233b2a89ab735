"""A real ROS 2 (rclpy, Jazzy, rmw_fastrtps_cpp) geometry_msgs Twist / TwistStamped peer for
pollen-js's typed ROS tests.

    rclpy_twist.py pub TOPIC TYPE COUNT TIMEOUT   wait for a subscriber, publish COUNT
                                                  messages (message i: linear.x = i + 0.5,
                                                  angular.z = -i; stamped: header.stamp.sec =
                                                  i, header.frame_id = "f<i>"), wait for their
                                                  acknowledgements; exit 0 on success
    rclpy_twist.py sub TOPIC TYPE COUNT TIMEOUT   print the first COUNT messages received as
                                                  JSON lines; exit 0 when all came, 1 on timeout

TYPE is twist or twist_stamped. Run it only inside a network namespace whose only interface
is lo (Fast DDS uses every interface it has).
"""

import json
import sys
import time

import rclpy
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
TYPES = {"twist": Twist, "twist_stamped": TwistStamped}


def vec(v):
    return {"x": v.x, "y": v.y, "z": v.z}


def plain(msg):
    if isinstance(msg, TwistStamped):
        h = msg.header
        return {
            "header": {"stamp": {"sec": h.stamp.sec, "nanosec": h.stamp.nanosec}, "frame_id": h.frame_id},
            "twist": plain(msg.twist),
        }
    return {"linear": vec(msg.linear), "angular": vec(msg.angular)}


def make(kind, i):
    t = Twist()
    t.linear.x = i + 0.5
    t.angular.z = float(-i)
    if kind == "twist":
        return t
    m = TwistStamped()
    m.header.stamp.sec = i
    m.header.frame_id = f"f{i}"
    m.twist = t
    return m


def pub(node, topic, kind, count, timeout):
    p = node.create_publisher(TYPES[kind], topic, QOS)
    end = time.monotonic() + timeout
    while p.get_subscription_count() < 1:
        if time.monotonic() > end:
            print("timed out waiting for a subscriber", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    # Let the subscriber's side match our writer too.
    time.sleep(0.5)
    for i in range(count):
        p.publish(make(kind, i))
    left = max(0.5, end - time.monotonic())
    if not p.wait_for_all_acked(Duration(seconds=left)):
        print("not all samples acknowledged", file=sys.stderr)
        return 1
    return 0


def sub(node, topic, kind, count, timeout):
    got = []

    def on_msg(msg):
        got.append(msg)
        print(json.dumps(plain(msg)), flush=True)

    node.create_subscription(TYPES[kind], topic, on_msg, QOS)
    end = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > end:
            print(f"timed out with {len(got)} of {count}", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    return 0


def main():
    mode, topic, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    count, timeout = int(sys.argv[4]), float(sys.argv[5])
    if kind not in TYPES or mode not in ("pub", "sub"):
        print(f"usage: {sys.argv[0]} pub|sub TOPIC twist|twist_stamped COUNT TIMEOUT", file=sys.stderr)
        return 2
    rclpy.init()
    try:
        node = Node(f"js_test_twist_{mode}")
        return (pub if mode == "pub" else sub)(node, topic, kind, count, timeout)
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
