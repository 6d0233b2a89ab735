"""Typed ROS 2 messages with a real rclpy (Jazzy, rmw_fastrtps_cpp), for the type tests.

    ros_types.py echo TOPIC TYPE COUNT TIMEOUT
        Subscribes to TOPIC (TYPE like geometry_msgs/msg/Twist) and prints each of the first
        COUNT messages as one JSON line (fields in definition order); exit 0 when all came,
        1 on timeout.
    ros_types.py send TOPIC TYPE JSON TIMEOUT
        Publishes the message JSON (a mapping of fields; missing ones keep their defaults)
        ten times a second until TIMEOUT.
    ros_types.py call SERVICE TYPE JSON TIMEOUT
        Waits for the service (TYPE like rcl_interfaces/srv/GetParameters), calls it with the
        request JSON and prints the response as one JSON line; exit 1 on timeout.

Run it only inside a network namespace whose only interface is lo.
"""

import importlib
import json
import sys
import time

import rclpy
from rclpy.node import Node


def msg_class(name):
    pkg, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)


def to_plain(v):
    """A message (or a field value) as JSON-able values, fields in definition order."""
    if hasattr(v, "get_fields_and_field_types"):
        return {f: to_plain(getattr(v, f)) for f in v.get_fields_and_field_types()}
    if isinstance(v, (list, tuple)) or type(v).__name__ in ("array", "ndarray"):
        return [to_plain(x) for x in v]
    if isinstance(v, bytes):
        return list(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def fill(msg, values):
    """Sets the fields of `msg` from a mapping, recursing into nested messages."""
    for k, v in values.items():
        cur = getattr(msg, k)
        if hasattr(cur, "get_fields_and_field_types"):
            fill(cur, v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            cls = type(cur[0]) if cur else None
            items = []
            for x in v:
                m = cls() if cls else None
                fill(m, x)
                items.append(m)
            setattr(msg, k, items)
        else:
            setattr(msg, k, v)


def echo(topic, ty, count, timeout):
    node = Node("ros_echo")
    got = []

    def on(msg):
        got.append(msg)
        print(json.dumps(to_plain(msg)), flush=True)

    node.create_subscription(msg_class(ty), topic, on, 10)
    end = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0 if len(got) >= count else 1


def send(topic, ty, values, timeout):
    node = Node("ros_send")
    cls = msg_class(ty)
    pub = node.create_publisher(cls, topic, 10)
    msg = cls()
    fill(msg, values)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0


def call(service, ty, values, timeout):
    node = Node("ros_client")
    cls = msg_class(ty)
    client = node.create_client(cls, service)
    if not client.wait_for_service(timeout_sec=timeout):
        print("no service", file=sys.stderr)
        return 1
    req = cls.Request()
    fill(req, values)
    future = client.call_async(req)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        print("no response", file=sys.stderr)
        return 1
    print(json.dumps(to_plain(future.result())), flush=True)
    return 0


def main():
    rclpy.init()
    try:
        if sys.argv[1] == "echo":
            return echo(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        if sys.argv[1] == "call":
            return call(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5]))
        if sys.argv[1] == "send":
            return send(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), float(sys.argv[5]))
        print(f"unknown mode {sys.argv[1]}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
