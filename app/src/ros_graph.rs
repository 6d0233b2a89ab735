//! The ROS 2 graph: which node owns which endpoints.
//!
//! ROS 2 (rmw_fastrtps, rmw_cyclonedds, through rmw_dds_common) keeps its graph on the DDS
//! topic `ros_discovery_info`: each participant publishes one `ParticipantEntitiesInfo`, its
//! GID and, per node, the node's namespace and name with the GIDs of its readers and writers.
//! A GID is the 16 bytes of the endpoint's (or participant's) GUID, so the graph ties a node
//! to the endpoints SEDP announces. The writer is reliable, transient-local, keep-last 1, so a
//! participant that joins later gets the current value; a new sample replaces the old one.
//!
//! `--node NAME` (and `--namespace NS`) on `pollen pub`/`sub` puts the tool in the graph: ROS 2
//! tools (`ros2 node list`, rclpy's `get_node_names_and_namespaces`) then see it as a node with
//! its publisher or subscriber. [`RosGraph`] also reads everyone else's entries, for
//! `pollen ls --ros`.

use std::collections::BTreeMap;

use crate::host::Host;
use pollen_engine::wire::{Guid, GuidPrefix, Time};
use pollen_engine::{
    Durability, History, ReaderHandle, ReaderQos, Reliability, TopicSpec, WriterHandle, WriterQos,
};

/// The graph topic and its type, as rmw_dds_common names them.
pub const TOPIC: &str = "ros_discovery_info";
pub const TYPE: &str = "rmw_dds_common::msg::dds_::ParticipantEntitiesInfo_";

/// Bytes of a GID (`rmw_dds_common/msg/Gid`: `char[16] data`, from Jazzy on).
const GID_LEN: usize = 16;
/// The bound of the node name and namespace strings (`string<=256`).
const MAX_NAME: usize = 256;
/// Entries refused beyond these when decoding a peer's sample (a hostile one cannot make us
/// allocate much).
const MAX_NODES: usize = 1024;
const MAX_GIDS: usize = 65_536;

/// A GID: an entity's GUID.
pub type Gid = [u8; GID_LEN];

/// The GID of `guid`.
pub fn gid(guid: &Guid) -> Gid {
    let mut g = [0u8; GID_LEN];
    g[..12].copy_from_slice(&guid.prefix.0);
    g[12..].copy_from_slice(&guid.entity.0);
    g
}

/// The GID of the participant with `prefix` (its GUID's entity is ENTITYID_PARTICIPANT).
pub fn participant_gid(prefix: GuidPrefix) -> Gid {
    let mut g = [0u8; GID_LEN];
    g[..12].copy_from_slice(&prefix.0);
    g[12..].copy_from_slice(&[0, 0, 1, 0xc1]);
    g
}

/// One node of a participant (`rmw_dds_common/msg/NodeEntitiesInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub namespace: String,
    pub name: String,
    pub readers: Vec<Gid>,
    pub writers: Vec<Gid>,
}

/// One participant's entry (`rmw_dds_common/msg/ParticipantEntitiesInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantInfo {
    pub gid: Gid,
    pub nodes: Vec<NodeInfo>,
}

/// Why a peer's `ParticipantEntitiesInfo` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not CDR (the 4-byte encapsulation header names another representation).
    Encapsulation,
    /// It ends inside `field`.
    Truncated(&'static str),
    /// `field` is longer than its bound or than we accept.
    TooLong(&'static str),
    /// `field` is not a NUL-terminated UTF-8 string.
    BadString(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Encapsulation => write!(f, "not a CDR payload"),
            DecodeError::Truncated(field) => write!(f, "truncated in {field}"),
            DecodeError::TooLong(field) => write!(f, "{field} is too long"),
            DecodeError::BadString(field) => write!(f, "{field} is not a terminated UTF-8 string"),
        }
    }
}

/// CDR (XCDR1) writing in little-endian: alignment counts from after the encapsulation header.
struct Out(Vec<u8>);

impl Out {
    fn align(&mut self, n: usize) {
        while (self.0.len() - 4) % n != 0 {
            self.0.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.align(4);
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
    }
    fn gids(&mut self, gids: &[Gid]) {
        self.u32(gids.len() as u32);
        for g in gids {
            self.0.extend_from_slice(g);
        }
    }
}

impl ParticipantInfo {
    /// The serialized sample, encapsulation header (CDR_LE) included.
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Out(crate::payload::cdr_le_header(0).to_vec());
        o.0.extend_from_slice(&self.gid);
        o.u32(self.nodes.len() as u32);
        for n in &self.nodes {
            o.string(&n.namespace);
            o.string(&n.name);
            o.gids(&n.readers);
            o.gids(&n.writers);
        }
        o.0
    }

    /// Parses a peer's sample (CDR in either byte order).
    pub fn decode(payload: &[u8]) -> Result<ParticipantInfo, DecodeError> {
        let little = match crate::payload::xcdr1_endian(payload) {
            Some(e) => e == pollen_engine::wire::Endian::Little,
            None => return Err(DecodeError::Encapsulation),
        };
        let mut c = In {
            body: &payload[4.min(payload.len())..],
            pos: 0,
            little,
        };
        let gid = c.gid("gid")?;
        let n = c.count("node_entities_info_seq", MAX_NODES)?;
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(NodeInfo {
                namespace: c.string("node_namespace")?,
                name: c.string("node_name")?,
                readers: c.gids("reader_gid_seq")?,
                writers: c.gids("writer_gid_seq")?,
            });
        }
        Ok(ParticipantInfo { gid, nodes })
    }
}

/// CDR reading: bounds-checked, alignment from the start of the body.
struct In<'a> {
    body: &'a [u8],
    pos: usize,
    little: bool,
}

impl In<'_> {
    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.body.len())
            .ok_or(DecodeError::Truncated(field))?;
        let b = &self.body[self.pos..end];
        self.pos = end;
        Ok(b)
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let pad = (4 - self.pos % 4) % 4;
        self.bytes(pad, field)?;
        let b: [u8; 4] = self.bytes(4, field)?.try_into().expect("4 bytes");
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn count(&mut self, field: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        if n > max {
            return Err(DecodeError::TooLong(field));
        }
        Ok(n)
    }
    fn gid(&mut self, field: &'static str) -> Result<Gid, DecodeError> {
        Ok(self.bytes(GID_LEN, field)?.try_into().expect("16 bytes"))
    }
    fn gids(&mut self, field: &'static str) -> Result<Vec<Gid>, DecodeError> {
        let n = self.count(field, MAX_GIDS)?;
        // Each GID takes 16 bytes: a count beyond what is left is refused before allocating.
        if n.saturating_mul(GID_LEN) > self.body.len() - self.pos.min(self.body.len()) {
            return Err(DecodeError::Truncated(field));
        }
        (0..n).map(|_| self.gid(field)).collect()
    }
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let n = self.count(field, MAX_NAME + 1)?;
        let b = self.bytes(n, field)?;
        match b.split_last() {
            Some((0, text)) => std::str::from_utf8(text)
                .map(str::to_owned)
                .map_err(|_| DecodeError::BadString(field)),
            _ => Err(DecodeError::BadString(field)),
        }
    }
}

/// Checks a node name as ROS 2 does: letters, digits and underscores, not starting with a
/// digit; and a namespace: `/`-separated such tokens, absolute.
pub fn check_names(name: &str, namespace: &str) -> Result<(), String> {
    let token = |t: &str| {
        !t.is_empty()
            && !t.starts_with(|c: char| c.is_ascii_digit())
            && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !token(name) || name.len() > MAX_NAME {
        return Err(format!(
            "invalid node name {name:?}: letters, digits and '_', not starting with a digit"
        ));
    }
    let ok_ns = namespace == "/"
        || (namespace.starts_with('/')
            && !namespace.ends_with('/')
            && namespace[1..].split('/').all(token));
    if !ok_ns || namespace.len() > MAX_NAME {
        return Err(format!(
            "invalid namespace {namespace:?}: absolute, '/'-separated names (for example /robot1)"
        ));
    }
    Ok(())
}

/// `--node` and `--namespace`: the tool as a ROS 2 node.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// Join the ROS 2 graph as this node (implies --ros; with --ros alone the node is
    /// `pollen_<command>_<pid>`).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// The node's namespace, for example /robot1 (implies --ros; default /).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

impl NodeArgs {
    /// Whether ROS 2 naming and the graph are on.
    pub fn ros(&self, ros: bool) -> bool {
        ros || self.node.is_some() || self.namespace.is_some()
    }

    /// The node's name and namespace, for `command` (`pub`, `sub`).
    pub fn names(&self, command: &str, pid: u32) -> (String, String) {
        let name = self
            .node
            .clone()
            .unwrap_or_else(|| format!("pollen_{command}_{pid}"));
        (name, self.namespace.clone().unwrap_or_else(|| "/".into()))
    }

    /// Joins the graph when ROS 2 is on.
    pub fn join(
        &self,
        d: &mut dyn Host,
        ros: bool,
        command: &str,
        pid: u32,
    ) -> Result<Option<RosGraph>, String> {
        if !self.ros(ros) {
            return Ok(None);
        }
        let (name, ns) = self.names(command, pid);
        RosGraph::new(d, &name, &ns).map(Some)
    }
}

/// This participant's place in the ROS graph, and what it learnt of the others'.
pub struct RosGraph {
    node: NodeInfo,
    writer: WriterHandle,
    reader: ReaderHandle,
    /// The last entry published (a new one only when it changes).
    published: Option<ParticipantInfo>,
    /// Every participant's latest entry, by the participant that wrote it (not the GID in
    /// the payload: a sender cannot make this grow by naming new GIDs, only the engine's
    /// participant table bounds it).
    pub peers: BTreeMap<GuidPrefix, ParticipantInfo>,
    /// Samples of peers that did not decode (counted, the first reason kept).
    pub refused: u64,
    pub first_refusal: Option<DecodeError>,
    buf: Vec<u8>,
}

impl RosGraph {
    /// Joins the graph topic as node `name` in `namespace` (checked as ROS 2 checks them).
    pub fn new(d: &mut dyn Host, name: &str, namespace: &str) -> Result<RosGraph, String> {
        check_names(name, namespace)?;
        let spec = TopicSpec::new(TOPIC, TYPE);
        let now = d.now();
        let writer = d
            .engine_mut()
            .create_writer(
                now,
                &spec,
                &WriterQos {
                    reliability: Reliability::Reliable,
                    durability: Durability::TransientLocal,
                    history: History::KeepLast(1),
                    ..WriterQos::default()
                },
            )
            .map_err(|e| format!("cannot create the {TOPIC} writer: {e}"))?;
        let reader = d
            .engine_mut()
            .create_reader(
                now,
                &spec,
                &ReaderQos {
                    reliability: Reliability::Reliable,
                    durability: Durability::TransientLocal,
                    history: History::KeepLast(1),
                    ..ReaderQos::default()
                },
            )
            .map_err(|e| format!("cannot create the {TOPIC} reader: {e}"))?;
        Ok(RosGraph {
            node: NodeInfo {
                namespace: namespace.to_string(),
                name: name.to_string(),
                readers: Vec::new(),
                writers: Vec::new(),
            },
            writer,
            reader,
            published: None,
            peers: BTreeMap::new(),
            refused: 0,
            first_refusal: None,
            buf: vec![0; 4096],
        })
    }

    /// Says the node owns `readers` and `writers` (the user endpoints, not the graph topic's),
    /// publishing a new entry when that changed.
    pub fn set_endpoints(
        &mut self,
        d: &mut dyn Host,
        readers: &[ReaderHandle],
        writers: &[WriterHandle],
    ) -> Result<(), String> {
        let e = d.engine();
        self.node.readers = readers
            .iter()
            .filter_map(|&r| e.reader_guid(r))
            .map(|g| gid(&g))
            .collect();
        self.node.writers = writers
            .iter()
            .filter_map(|&w| e.writer_guid(w))
            .map(|g| gid(&g))
            .collect();
        let info = ParticipantInfo {
            gid: participant_gid(e.guid_prefix()),
            nodes: vec![self.node.clone()],
        };
        if self.published.as_ref() == Some(&info) {
            return Ok(());
        }
        let now = d.now();
        d.engine_mut()
            .write(now, self.writer, &info.encode(), Time::ZERO)
            .map_err(|e| format!("cannot publish the node on {TOPIC}: {e}"))?;
        self.published = Some(info);
        Ok(())
    }

    /// Takes the peers' entries that arrived.
    pub fn poll(&mut self, d: &mut dyn Host) {
        loop {
            let Ok(Some(info)) = crate::take(d.engine_mut(), self.reader, &mut self.buf) else {
                return;
            };
            if info.len == 0 {
                continue;
            }
            match ParticipantInfo::decode(&self.buf[..info.len]) {
                Ok(p) => {
                    self.peers.insert(info.writer.prefix, p);
                }
                Err(e) => {
                    self.refused += 1;
                    self.first_refusal.get_or_insert(e);
                }
            }
        }
    }
}

/// What a DDS endpoint is in ROS 2 terms.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RosEndpoint {
    /// A topic (`rt/…`): its ROS name and type.
    Topic { name: String, ty: String },
    /// The request side of a service (`rq/…Request`): its ROS name and service type. A
    /// reader there is a server, a writer a client; the reply side (`rr/…Reply`) is the same
    /// service again and is left out.
    Service { name: String, ty: String },
}

/// The ROS meaning of a DDS topic and type; `None` for what is not a ROS topic or service
/// request (the graph topic itself, replies, plain DDS topics).
pub fn ros_endpoint(topic: &str, ty: &str) -> Option<RosEndpoint> {
    if let Some(t) = topic.strip_prefix("rt/") {
        return Some(RosEndpoint::Topic {
            name: format!("/{t}"),
            ty: ros_type(ty),
        });
    }
    let name = topic.strip_prefix("rq/")?.strip_suffix("Request")?;
    let ty = ros_type(ty);
    Some(RosEndpoint::Service {
        name: format!("/{name}"),
        ty: ty.strip_suffix("_Request").unwrap_or(&ty).to_string(),
    })
}

/// The ROS name of a DDS type (`std_msgs::msg::dds_::String_` → `std_msgs/msg/String`).
pub fn ros_type(dds: &str) -> String {
    let parts: Vec<&str> = dds.split("::").collect();
    match parts.as_slice() {
        [pkg, kind, "dds_", name] => {
            format!("{pkg}/{kind}/{}", name.strip_suffix('_').unwrap_or(name))
        }
        _ => dds.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ParticipantInfo {
        ParticipantInfo {
            gid: [7; 16],
            nodes: vec![
                NodeInfo {
                    namespace: "/".into(),
                    name: "talker".into(),
                    readers: vec![[1; 16]],
                    writers: vec![[2; 16], [3; 16]],
                },
                NodeInfo {
                    namespace: "/robot1".into(),
                    name: "n".into(),
                    readers: vec![],
                    writers: vec![],
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let p = sample();
        let b = p.encode();
        // Header, 16-byte GID, node count, "/" (length 2 with its NUL), padded to 4.
        assert_eq!(&b[..4], &[0, 1, 0, 0]);
        assert_eq!(&b[4..20], &[7; 16]);
        assert_eq!(&b[20..24], &2u32.to_le_bytes());
        assert_eq!(&b[24..30], &[2, 0, 0, 0, b'/', 0]);
        assert_eq!(&b[30..32], &[0, 0], "padding before the next length");
        assert_eq!(ParticipantInfo::decode(&b), Ok(p));
    }

    #[test]
    fn hostile_samples_are_refused_not_trusted() {
        let b = sample().encode();
        for n in 0..b.len() {
            assert!(
                ParticipantInfo::decode(&b[..n]).is_err(),
                "truncated at {n}"
            );
        }
        // A huge GID count in a short sample: refused before allocating.
        let mut huge = vec![0, 1, 0, 0];
        huge.extend_from_slice(&[0; 16]);
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&2u32.to_le_bytes());
        huge.extend_from_slice(b"/\0\0\0");
        huge.extend_from_slice(&2u32.to_le_bytes());
        huge.extend_from_slice(b"n\0\0\0");
        huge.extend_from_slice(&60_000u32.to_le_bytes());
        assert_eq!(
            ParticipantInfo::decode(&huge),
            Err(DecodeError::Truncated("reader_gid_seq"))
        );
        assert_eq!(
            ParticipantInfo::decode(&[0, 7, 0, 0]),
            Err(DecodeError::Encapsulation)
        );
    }

    #[test]
    fn names_are_checked_as_ros_checks_them() {
        assert!(check_names("talker", "/").is_ok());
        assert!(check_names("talker_2", "/robot1/arm").is_ok());
        assert!(check_names("2talker", "/").is_err());
        assert!(check_names("talk-er", "/").is_err());
        assert!(check_names("talker", "robot1").is_err());
        assert!(check_names("talker", "/robot1/").is_err());
    }

    #[test]
    fn ros_names_of_dds_names() {
        assert_eq!(
            ros_endpoint("rt/chatter", "std_msgs::msg::dds_::String_"),
            Some(RosEndpoint::Topic {
                name: "/chatter".into(),
                ty: "std_msgs/msg/String".into()
            })
        );
        assert_eq!(
            ros_endpoint(
                "rq/talker/get_parametersRequest",
                "rcl_interfaces::srv::dds_::GetParameters_Request_"
            ),
            Some(RosEndpoint::Service {
                name: "/talker/get_parameters".into(),
                ty: "rcl_interfaces/srv/GetParameters".into()
            })
        );
        assert_eq!(ros_endpoint("rr/talker/get_parametersReply", "x"), None);
        assert_eq!(ros_endpoint(TOPIC, TYPE), None);
        assert_eq!(ros_type("KeyedSeq"), "KeyedSeq");
    }
}
