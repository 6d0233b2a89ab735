"""A real ROS 2 (rclpy, Jazzy, rmw_fastrtps_cpp) std_msgs/String peer for pollen-js's tests.

    rclpy_string.py pub TOPIC COUNT TIMEOUT   wait for a subscriber, publish COUNT strings
                                              "ros N" (reliable, volatile, depth 100), wait
                                              for their acknowledgements; exit 0 on success
    rclpy_string.py sub TOPIC COUNT TIMEOUT   print the first COUNT strings received, one per
                                              line; exit 0 when all came, 1 on timeout

ROS_DOMAIN_ID picks the domain; SIZE=N pads each published string with 'x' to N characters. Run it only inside a network namespace whose only interface is
lo (Fast DDS uses every interface it has).
"""

import os
import sys
import time

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def pub(topic, count, timeout):
    node = Node("js_test_talker")
    p = node.create_publisher(String, topic, QOS)
    end = time.monotonic() + timeout
    while p.get_subscription_count() < 1:
        if time.monotonic() > end:
            print("timed out waiting for a subscriber", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    # Let the subscriber's side match our writer too.
    time.sleep(0.5)
    for i in range(count):
        msg = String()
        msg.data = pad(f"ros {i}")
        p.publish(msg)
    left = max(0.5, end - time.monotonic())
    if not p.wait_for_all_acked(Duration(seconds=left)):
        print("not all samples acknowledged", file=sys.stderr)
        return 1
    return 0


def sub(topic, count, timeout):
    node = Node("js_test_listener")
    got = []

    def on_msg(msg):
        got.append(msg.data)
        print(msg.data, flush=True)

    node.create_subscription(String, topic, on_msg, QOS)
    end = time.monotonic() + timeout
    while len(got) < count:
        if time.monotonic() > end:
            print(f"timed out with {len(got)} of {count}", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    return 0


def pad(s):
    """s padded with ' xxx...' to SIZE characters (from the environment), if that is longer."""
    size = int(os.environ.get("SIZE", "0"))
    return s + " " + "x" * (size - len(s) - 1) if size > len(s) + 1 else s


def main():
    mode, topic, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    rclpy.init()
    try:
        if mode == "pub":
            return pub(topic, count, timeout)
        if mode == "sub":
            return sub(topic, count, timeout)
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
