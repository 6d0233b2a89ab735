//! Pollen in the graph of a real ROS 2 (rclpy from ROS 2 Jazzy, rmw_fastrtps_cpp, the Python
//! wheels of shared/PEERS.md), and the ROS 2 graph as `pollen ls --ros` shows it.
//!
//! Each test runs in a network namespace of its own whose only interface is `lo`, so rclpy
//! (Fast DDS) and `pollen` keep their default configurations, domain 0 included. The rclpy side is
//! tests/peers/ros_graph.py.
//!
//! These tests need root (for `ip netns`), `ip` and the Python with rclpy
//! ($POLLEN_ROS_PYTHON or .venv-ros): without them they FAIL, they never skip.

mod common;

use common::{Netns, Proc};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The Python with rclpy: $POLLEN_ROS_PYTHON or `.venv-ros` at the workspace root; checked.
fn ros_python() -> String {
    let python = std::env::var("POLLEN_ROS_PYTHON").unwrap_or_else(|_| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join(".venv-ros/bin/python").display().to_string()
    });
    // Imports only: no participant is created out here.
    let ok = Command::new(&python)
        .args(["-c", "import rclpy, std_msgs.msg"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "no rclpy at {python}: set POLLEN_ROS_PYTHON or create .venv-ros \
         (pip install 'ros-jazzy-rclpy[fastrtps]' ros-jazzy-std-msgs, shared/PEERS.md)"
    );
    python
}

/// tests/peers/ros_graph.py inside `ns`, on ROS 2's default domain (0: the namespace is
/// ours alone).
fn rclpy(ns: &Netns, args: &[&str]) -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/ros_graph.py");
    let python = ros_python();
    let mut all = vec![script];
    all.extend_from_slice(args);
    ns.command(&python, &all)
}

/// The JSON line a watcher printed last.
fn last_json(p: &mut Proc) -> Value {
    let t = p.transcript();
    t.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON from ros_graph.py:\n{t}"))
}

/// Waits (30 s at most) for `p` to exit with success, failing with `what` and both
/// transcripts otherwise.
fn finish(p: &mut Proc, other: &mut Proc, what: &str) {
    let status = p.wait(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{what}:\n{}\n{}",
        p.transcript(),
        other.transcript()
    );
}

/// rclpy's graph calls see a Pollen publisher as a node with its publisher, under the name and
/// namespace given on the command line, with ROS names for the topic and type.
#[test]
fn rclpy_sees_a_pollen_publisher_node() {
    let ns = Netns::new("ros-pub");
    let mut pollen = Proc::spawn(
        "pollen pub",
        ns.pollen(&[
            "pub",
            "chatter",
            "hello",
            "--node",
            "talker",
            "--namespace",
            "/robot1",
            "--count",
            "200",
            "--rate",
            "10",
            "--wait-readers",
            "0",
            "--timeout",
            "25",
        ]),
    );
    let mut watch = Proc::spawn(
        "rclpy watch",
        rclpy(&ns, &["watch", "talker", "/robot1", "20"]),
    );
    let status = watch.wait(Duration::from_secs(40));
    let seen = last_json(&mut watch);
    assert!(
        status.is_some_and(|s| s.success()),
        "rclpy never saw /robot1/talker with an endpoint: {seen}\n{}",
        pollen.transcript()
    );
    let nodes = seen["nodes"].as_array().expect("nodes");
    assert!(
        nodes.contains(&serde_json::json!(["talker", "/robot1"])),
        "{seen}"
    );
    assert_eq!(
        seen["publishers"],
        serde_json::json!([["/chatter", ["std_msgs/msg/String"]]]),
        "the node's publishers as rclpy lists them"
    );
    assert_eq!(seen["subscribers"], serde_json::json!([]));
}

/// A Pollen subscriber node, as rclpy sees it; and an rclpy talker's node with its
/// publishers, subscribers and parameter services, as `pollen ls --ros` shows it.
#[test]
fn rclpy_and_pollen_see_each_others_nodes() {
    let ns = Netns::new("ros-sub");
    let mut talker = Proc::spawn("rclpy talk", rclpy(&ns, &["talk", "/chatter", "30"]));
    let mut sub = Proc::spawn(
        "pollen sub",
        ns.pollen(&[
            "sub",
            "chatter",
            "--node",
            "listener",
            "--count",
            "1000",
            "--timeout",
            "30",
        ]),
    );
    // Samples flow from rclpy to Pollen.
    assert!(
        sub.wait_for_line(Duration::from_secs(20), |l| l.starts_with("ros ")),
        "no sample from rclpy:\n{}\n{}",
        sub.transcript(),
        talker.transcript()
    );
    let mut watch = Proc::spawn("rclpy watch", rclpy(&ns, &["watch", "listener", "/", "20"]));
    let status = watch.wait(Duration::from_secs(40));
    let seen = last_json(&mut watch);
    assert!(
        status.is_some_and(|s| s.success()),
        "rclpy never saw /listener: {seen}"
    );
    assert_eq!(
        seen["subscribers"],
        serde_json::json!([["/chatter", ["std_msgs/msg/String"]]])
    );

    let out = ns
        .pollen(&["ls", "--ros", "--json", "--duration", "4"])
        .output()
        .expect("pollen ls runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("pollen ls --ros --json");
    let node = |full: &str| {
        v["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["full_name"] == full))
            .unwrap_or_else(|| panic!("no node {full} in {v}"))
            .clone()
    };
    let talker_node = node("/ros_talker");
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .map(|l| {
                l.iter()
                    .map(|e| e["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let pubs = names(&talker_node["publishers"]);
    assert!(pubs.contains(&"/chatter".to_string()), "{talker_node}");
    assert!(pubs.contains(&"/rosout".to_string()), "{talker_node}");
    let chatter = talker_node["publishers"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == "/chatter"))
        .expect("/chatter");
    assert_eq!(chatter["type"], "std_msgs/msg/String");
    // Every rclpy node serves its parameters.
    assert!(
        names(&talker_node["service_servers"]).contains(&"/ros_talker/get_parameters".to_string()),
        "{talker_node}"
    );
    let listener = node("/listener");
    assert_eq!(
        names(&listener["subscribers"]),
        vec!["/chatter".to_string()]
    );
    sub.kill();
    talker.kill();
}

/// ROS 2 QoS profiles both ways with a real ROS 2: an rclpy `sensor_data` (best-effort)
/// publisher reaches `pollen sub --qos sensor_data`, and a default (reliable) `pollen sub`
/// says, in ROS 2's words, why it gets nothing from it.
#[test]
fn qos_profiles_and_incompatibility_in_ros_terms() {
    let ns = Netns::new("ros-qos");
    let mut talker = Proc::spawn(
        "rclpy talk",
        rclpy(&ns, &["talk", "/chatter", "30", "sensor_data"]),
    );
    let mut sensor = Proc::spawn(
        "pollen sub --qos sensor_data",
        ns.pollen(&[
            "sub",
            "chatter",
            "--ros",
            "--qos",
            "sensor_data",
            "--count",
            "3",
            "--timeout",
            "25",
        ]),
    );
    let mut strict = Proc::spawn(
        "pollen sub (reliable)",
        ns.pollen(&["sub", "chatter", "--ros", "--timeout", "25"]),
    );
    finish(
        &mut sensor,
        &mut talker,
        "the sensor_data subscription got nothing from the sensor_data publisher",
    );
    assert!(
        strict.wait_for_err_line(Duration::from_secs(20), |l| {
            l.contains("a publisher on \"/chatter\"") && l.contains("RELIABILITY_QOS_POLICY")
        }),
        "the reliable subscription did not say why nothing arrives:\n{}",
        strict.transcript()
    );
    strict.kill();
    talker.kill();
}

/// The prefix of the ROS 2 install (the venv the Python runs from): where the message
/// definitions are, as AMENT_PREFIX_PATH names it.
fn ros_prefix() -> String {
    let python = PathBuf::from(ros_python());
    python
        .parent()
        .and_then(|bin| bin.parent())
        .map(|p| p.display().to_string())
        .expect("the Python is in PREFIX/bin")
}

/// tests/peers/ros_types.py inside `ns`.
fn rclpy_types(ns: &Netns, args: &[&str]) -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/ros_types.py");
    let python = ros_python();
    let mut all = vec![script];
    all.extend_from_slice(args);
    ns.command(&python, &all)
}

/// `pollen args` inside `ns` with the ROS 2 definitions on AMENT_PREFIX_PATH.
fn pollen_typed(ns: &Netns, args: &[&str]) -> Command {
    let mut c = ns.pollen(args);
    c.env("AMENT_PREFIX_PATH", ros_prefix());
    c
}

/// A message of `ty` from `pollen pub` (YAML) reaches rclpy with `expected`'s values, and one
/// from rclpy (`expected` itself) reaches `pollen sub --json` with the same values.
fn both_ways(tag: &str, ty: &str, yaml: &str, expected: Value) {
    let ns = Netns::new(tag);
    let topic = format!("/{tag}");
    // Pollen → rclpy.
    let mut echo = Proc::spawn(
        "rclpy echo",
        rclpy_types(&ns, &["echo", &topic, ty, "2", "25"]),
    );
    let mut publisher = Proc::spawn(
        "pollen pub",
        pollen_typed(
            &ns,
            &[
                "pub",
                &topic,
                ty,
                yaml,
                "--count",
                "300",
                "--rate",
                "10",
                "--timeout",
                "30",
            ],
        ),
    );
    finish(
        &mut echo,
        &mut publisher,
        &format!("rclpy got no {ty} from pollen"),
    );
    assert_eq!(last_json(&mut echo), expected, "the values rclpy received");
    publisher.kill();

    // rclpy → Pollen.
    let back = format!("{topic}_back");
    let json = expected.to_string();
    let mut sender = Proc::spawn(
        "rclpy send",
        rclpy_types(&ns, &["send", &back, ty, &json, "30"]),
    );
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_typed(
            &ns,
            &["sub", &back, "--json", "--count", "2", "--timeout", "25"],
        ),
    );
    finish(
        &mut sub,
        &mut sender,
        &format!("pollen got no {ty} from rclpy"),
    );
    let line = last_json(&mut sub);
    assert_eq!(line["value"], expected, "the values pollen received");
    sender.kill();
}

/// `geometry_msgs/msg/Twist` both ways, values compared (`ros2 topic pub` habits: fields left
/// out are zero).
#[test]
fn twist_both_ways() {
    both_ways(
        "cmd_vel",
        "geometry_msgs/msg/Twist",
        "{linear: {x: 0.5, y: -2}, angular: {z: 1.25}}",
        serde_json::json!({
            "linear": {"x": 0.5, "y": -2.0, "z": 0.0},
            "angular": {"x": 0.0, "y": 0.0, "z": 1.25}
        }),
    );
}

/// `sensor_msgs/msg/LaserScan` both ways: a nested header (with a nested time and a string)
/// and float32 sequences.
#[test]
fn laser_scan_both_ways() {
    both_ways(
        "scan",
        "sensor_msgs/msg/LaserScan",
        "{header: {stamp: {sec: 7, nanosec: 9}, frame_id: laser}, angle_min: -1.5, \
         angle_max: 1.5, angle_increment: 0.25, scan_time: 0.125, range_min: 0.5, \
         range_max: 30, ranges: [1, 2.5, 4], intensities: [10, 20, 30.5]}",
        serde_json::json!({
            "header": {"stamp": {"sec": 7, "nanosec": 9}, "frame_id": "laser"},
            "angle_min": -1.5, "angle_max": 1.5, "angle_increment": 0.25,
            "time_increment": 0.0, "scan_time": 0.125, "range_min": 0.5, "range_max": 30.0,
            "ranges": [1.0, 2.5, 4.0], "intensities": [10.0, 20.0, 30.5]
        }),
    );
}

/// `pollen call` against a real rclpy node's parameter service (every rclpy node serves
/// `~/get_parameters`): the request/reply mapping and the related sample identity as
/// rmw_fastrtps uses them, a response with a sequence of nested messages.
#[test]
fn pollen_calls_an_rclpy_service() {
    let ns = Netns::new("ros-call");
    let mut talker = Proc::spawn("rclpy talk", rclpy(&ns, &["talk", "/chatter", "30"]));
    let mut call = Proc::spawn(
        "pollen call",
        pollen_typed(
            &ns,
            &[
                "call",
                "/ros_talker/get_parameters",
                "rcl_interfaces/srv/GetParameters",
                "{names: [use_sim_time]}",
                "--json",
                "--timeout",
                "25",
            ],
        ),
    );
    finish(
        &mut call,
        &mut talker,
        "no response from rclpy's parameter service",
    );
    let v = last_json(&mut call);
    // One value: use_sim_time, a bool (PARAMETER_BOOL = 1), false.
    let values = v["values"].as_array().expect("values");
    assert_eq!(values.len(), 1, "{v}");
    assert_eq!(values[0]["type"], 1, "{v}");
    assert_eq!(values[0]["bool_value"], false, "{v}");
    talker.kill();
}

/// An rclpy client calls `pollen serve`: rclpy's `wait_for_service` finds it, the request
/// arrives with its values and the reply, naming the request, reaches the client.
#[test]
fn rclpy_calls_a_pollen_service() {
    let ns = Netns::new("ros-serve");
    let mut serve = Proc::spawn(
        "pollen serve",
        pollen_typed(
            &ns,
            &[
                "serve",
                "/pollen/get_parameters",
                "rcl_interfaces/srv/GetParameters",
                "--reply",
                "{values: [{type: 2, integer_value: 42}, {type: 4, string_value: hi}]}",
                "--json",
                "--count",
                "1",
                "--timeout",
                "30",
            ],
        ),
    );
    let mut client = Proc::spawn(
        "rclpy call",
        rclpy_types(
            &ns,
            &[
                "call",
                "/pollen/get_parameters",
                "rcl_interfaces/srv/GetParameters",
                r#"{"names": ["answer", "greeting"]}"#,
                "25",
            ],
        ),
    );
    finish(
        &mut client,
        &mut serve,
        "rclpy got no response from pollen serve",
    );
    let v = last_json(&mut client);
    let values = v["values"].as_array().expect("values");
    assert_eq!(values.len(), 2, "{v}");
    assert_eq!(values[0]["type"], 2);
    assert_eq!(values[0]["integer_value"], 42);
    assert_eq!(values[1]["string_value"], "hi");
    // The server printed the request it answered.
    let request = last_json(&mut serve);
    assert_eq!(
        request["request"],
        serde_json::json!({"names": ["answer", "greeting"]})
    );
}

/// A type with no local definition: `pollen sub` (no AMENT_PREFIX_PATH) asks the writer's
/// node, an rclpy node, for it through ROS 2 Jazzy's `~/get_type_description` (the hash from
/// the writer's USER_DATA, the node from the graph) and decodes the messages with the answer:
/// a LaserScan, with its nested header and time.
#[test]
fn a_type_from_the_network_decodes_rclpy_messages() {
    let ns = Netns::new("ros-typedesc");
    let scan = serde_json::json!({
        "header": {"stamp": {"sec": 3, "nanosec": 4}, "frame_id": "base"},
        "angle_min": -0.5, "angle_max": 0.5, "angle_increment": 0.25,
        "time_increment": 0.0, "scan_time": 0.0, "range_min": 0.0, "range_max": 8.0,
        "ranges": [1.0, 2.0, 3.0, 4.0, 5.0], "intensities": []
    });
    let mut sender = Proc::spawn(
        "rclpy send",
        rclpy_types(
            &ns,
            &[
                "send",
                "/net_scan",
                "sensor_msgs/msg/LaserScan",
                &scan.to_string(),
                "30",
            ],
        ),
    );
    let mut sub = {
        let mut c = ns.pollen(&[
            "sub",
            "/net_scan",
            "--json",
            "--count",
            "2",
            "--timeout",
            "25",
            "-v",
        ]);
        c.env_remove("AMENT_PREFIX_PATH");
        Proc::spawn("pollen sub", c)
    };
    finish(
        &mut sub,
        &mut sender,
        "pollen could not decode the rclpy messages without local definitions",
    );
    let transcript = sub.transcript();
    assert!(
        transcript.contains("described by its writer's node"),
        "the type came from elsewhere:\n{transcript}"
    );
    assert_eq!(last_json(&mut sub)["value"], scan);
    sender.kill();
}

/// Typed interop with Cyclone DDS 11 as well (Python `cyclonedds`, its own IDL-typed Twist on
/// the ROS 2 DDS names): `pollen sub` decodes Cyclone's Twist from the installed definition,
/// and Cyclone decodes `pollen pub`'s, values compared.
#[test]
fn twist_with_cyclone_both_ways() {
    let ns = Netns::new("ros-cyclone");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/ros_twist.py");
    let cyclone = |args: &[&str]| {
        let mut all = vec![script];
        all.extend_from_slice(args);
        ns.command(&common::peers_python(), &all)
    };
    let mut cpub = Proc::spawn(
        "cyclone pub",
        cyclone(&["pub", "rt/cy_in", "0.75", "-2.5", "30"]),
    );
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_typed(
            &ns,
            &["sub", "/cy_in", "--json", "--count", "1", "--timeout", "25"],
        ),
    );
    finish(&mut sub, &mut cpub, "pollen got no Twist from Cyclone");
    assert_eq!(
        last_json(&mut sub)["value"],
        serde_json::json!({"linear": {"x": 0.75, "y": 0.0, "z": 0.0},
                           "angular": {"x": 0.0, "y": 0.0, "z": -2.5}})
    );
    cpub.kill();

    let mut csub = Proc::spawn("cyclone sub", cyclone(&["sub", "rt/cy_out", "25"]));
    let mut publisher = Proc::spawn(
        "pollen pub",
        pollen_typed(
            &ns,
            &[
                "pub",
                "/cy_out",
                "geometry_msgs/msg/Twist",
                "{linear: {y: 4}, angular: {x: -0.125}}",
                "--count",
                "300",
                "--rate",
                "10",
                "--timeout",
                "30",
            ],
        ),
    );
    finish(
        &mut csub,
        &mut publisher,
        "Cyclone got no Twist from pollen",
    );
    assert_eq!(
        last_json(&mut csub),
        serde_json::json!({"linear": {"x": 0.0, "y": 4.0, "z": 0.0},
                           "angular": {"x": -0.125, "y": 0.0, "z": 0.0}})
    );
    publisher.kill();
}
