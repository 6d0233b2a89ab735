"""A real ROS 2 (rclpy, Jazzy, rmw_fastrtps_cpp) for the graph tests: what ROS 2 sees of Pollen.

    ros_graph.py watch NAME NAMESPACE TIMEOUT
        A node `ros_probe` waits until node NAME in NAMESPACE is in the graph with at least one
        publisher or subscriber, then prints one JSON line {"nodes", "publishers",
        "subscribers"} (rclpy's get_node_names_and_namespaces and
        get_{publisher,subscriber}_names_and_types_by_node) and exits 0; 1 on timeout (with
        what it saw last).
    ros_graph.py talk TOPIC TIMEOUT [PROFILE]
        A node `ros_talker` publishes std_msgs/String "ros N" on TOPIC ten times a second until
        TIMEOUT (with the QoS profile `sensor_data`, or the default), printing each graph
        change it sees (nodes) as a JSON line.

ROS_DOMAIN_ID picks the domain. Run it only inside a network namespace whose only interface is
lo (Fast DDS uses every interface it has).
"""

import json
import sys
import time

import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import String


def graph(node, name, ns):
    nodes = sorted(node.get_node_names_and_namespaces())
    pubs, subs = [], []
    if (name, ns) in nodes:
        pubs = node.get_publisher_names_and_types_by_node(name, ns)
        subs = node.get_subscriber_names_and_types_by_node(name, ns)
    return {
        "nodes": [list(n) for n in nodes],
        "publishers": [[t, list(ty)] for t, ty in sorted(pubs)],
        "subscribers": [[t, list(ty)] for t, ty in sorted(subs)],
    }


def watch(name, ns, timeout):
    node = Node("ros_probe")
    end = time.monotonic() + timeout
    seen = {}
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
        seen = graph(node, name, ns)
        if seen["publishers"] or seen["subscribers"]:
            print(json.dumps(seen), flush=True)
            return 0
    print(json.dumps(seen), flush=True)
    return 1


def talk(topic, timeout, profile):
    node = Node("ros_talker")
    qos = qos_profile_sensor_data if profile == "sensor_data" else 10
    pub = node.create_publisher(String, topic, qos)
    end = time.monotonic() + timeout
    n = 0
    last = None
    while time.monotonic() < end:
        msg = String()
        msg.data = f"ros {n}"
        pub.publish(msg)
        n += 1
        rclpy.spin_once(node, timeout_sec=0.1)
        nodes = sorted(node.get_node_names_and_namespaces())
        if nodes != last:
            print(json.dumps({"nodes": [list(x) for x in nodes]}), flush=True)
            last = nodes
    return 0


def main():
    rclpy.init()
    try:
        if sys.argv[1] == "watch":
            return watch(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        if sys.argv[1] == "talk":
            profile = sys.argv[4] if len(sys.argv) > 4 else "default"
            return talk(sys.argv[2], float(sys.argv[3]), profile)
        print(f"unknown mode {sys.argv[1]}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
