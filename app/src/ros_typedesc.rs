//! Types from the network: ROS 2 Jazzy's type description service.
//!
//! A Jazzy endpoint announces its type's hash in USER_DATA (`typehash=RIHS01_…`), and every
//! node serves `~/get_type_description` (`type_description_interfaces/srv/GetTypeDescription`):
//! asked for a type name and hash it uses, it answers with the type's fields and those of
//! every type it refers to. When `pollen sub` finds no installed definition of a topic's type,
//! it asks the writer's node (found through the ROS graph) and decodes with the answer. The
//! definitions of the service itself are built in, so this needs no ROS 2 install.

use std::time::{Duration, Instant};

use crate::host::Host;
use serde_json::{json, Value};

use crate::ros_graph::{gid, RosGraph};
use crate::ros_msg::{full_name, Base, Field, MsgDef, Prim, Registry, Shape};
use crate::ros_service::{Client, Service};
use crate::ros_value::RosType;

/// `type_description_interfaces`, field by field (as ROS 2 Jazzy defines it; constants left
/// out, since they are not on the wire).
const DEFINITIONS: &[(&str, &str)] = &[
    (
        "type_description_interfaces/msg/FieldType",
        "uint8 type_id\nuint64 capacity\nuint64 string_capacity\nstring<=255 nested_type_name\n",
    ),
    (
        "type_description_interfaces/msg/Field",
        "string name\nFieldType type\nstring default_value\n",
    ),
    (
        "type_description_interfaces/msg/IndividualTypeDescription",
        "string<=255 type_name\nField[] fields\n",
    ),
    (
        "type_description_interfaces/msg/TypeDescription",
        "IndividualTypeDescription type_description\n\
         IndividualTypeDescription[] referenced_type_descriptions\n",
    ),
    (
        "type_description_interfaces/msg/TypeSource",
        "string type_name\nstring encoding\nstring raw_file_contents\n",
    ),
    (
        "type_description_interfaces/msg/KeyValue",
        "string key\nstring value\n",
    ),
];
const SERVICE: &str = "type_description_interfaces/srv/GetTypeDescription";
const SERVICE_TEXT: &str = "string type_name\nstring type_hash\nbool include_type_sources\n---\n\
    bool successful\nstring failure_reason\nTypeDescription type_description\n\
    TypeSource[] type_sources\nKeyValue[] extra_information\n";

/// A registry with the type description service's definitions.
fn builtin() -> Registry {
    let mut reg = Registry::default();
    for (name, text) in DEFINITIONS {
        reg.insert(crate::ros_msg::parse(name, text).expect("built-in definitions parse"));
    }
    reg.add_service(SERVICE, SERVICE_TEXT)
        .expect("built-in service definition");
    reg
}

/// The base type of a `FieldType.type_id` (modulo its array/sequence kind), or why not.
fn base_of(id: u64, string_capacity: u64, nested: &str) -> Result<Base, String> {
    Ok(Base::Prim(match id {
        1 => {
            return full_name(nested)
                .map(Base::Msg)
                .ok_or_else(|| format!("bad nested type name {nested:?}"))
        }
        2 => Prim::I8,
        3 | 13 | 16 => Prim::U8,
        4 => Prim::I16,
        5 => Prim::U16,
        6 => Prim::I32,
        7 => Prim::U32,
        8 => Prim::I64,
        9 => Prim::U64,
        10 => Prim::F32,
        11 => Prim::F64,
        15 => Prim::Bool,
        17 => return Ok(Base::String(None)),
        19 | 21 => return Ok(Base::String(Some(string_capacity as usize))),
        12 => return Err("long double is not supported".into()),
        14 | 18 | 20 | 22 => return Err("wide characters are not supported".into()),
        other => return Err(format!("unknown field type {other}")),
    }))
}

/// The message definitions in a `GetTypeDescription` response.
fn definitions(resp: &Value) -> Result<Vec<MsgDef>, String> {
    if resp["successful"] != Value::Bool(true) {
        return Err(format!(
            "the node could not describe it: {}",
            resp["failure_reason"].as_str().unwrap_or("no reason given")
        ));
    }
    let td = &resp["type_description"];
    let all = std::iter::once(&td["type_description"]).chain(
        td["referenced_type_descriptions"]
            .as_array()
            .into_iter()
            .flatten(),
    );
    let mut out = Vec::new();
    for d in all {
        let name = d["type_name"].as_str().unwrap_or("");
        let full = full_name(name).ok_or_else(|| format!("bad type name {name:?}"))?;
        let mut fields = Vec::new();
        for f in d["fields"].as_array().into_iter().flatten() {
            let fname = f["name"].as_str().unwrap_or("").to_string();
            let t = &f["type"];
            let id = t["type_id"].as_u64().unwrap_or(0);
            let cap = t["capacity"].as_u64().unwrap_or(0);
            let base = base_of(
                id % 48,
                t["string_capacity"].as_u64().unwrap_or(0),
                t["nested_type_name"].as_str().unwrap_or(""),
            )
            .map_err(|e| format!("{full}.{fname}: {e}"))?;
            let shape = match id / 48 {
                0 => Shape::Single,
                1 => Shape::Array(cap as usize),
                2 => Shape::Seq(Some(cap as usize)),
                3 => Shape::Seq(None),
                _ => return Err(format!("{full}.{fname}: unknown field type {id}")),
            };
            fields.push(Field {
                name: fname,
                base,
                shape,
            });
        }
        out.push(MsgDef { name: full, fields });
    }
    Ok(out)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asking a writer's node for its type's description.
pub struct TypeFetch {
    full: String,
    /// The node's service, once the node is known.
    service: Option<Service>,
    client: Option<Client>,
    hash: Option<[u8; 32]>,
    started: Instant,
}

/// How long to look for the writer's node and wait for its answer.
const PATIENCE: Duration = Duration::from_secs(10);

impl TypeFetch {
    /// Starts fetching `type_name` (a DDS or ROS name) of the writers on `topic`.
    pub fn new(type_name: &str) -> Result<TypeFetch, String> {
        let full = full_name(type_name)
            .ok_or_else(|| format!("{type_name:?} is not a ROS 2 message type"))?;
        Ok(TypeFetch {
            full,
            service: None,
            client: None,
            hash: None,
            started: Instant::now(),
        })
    }

    /// Drives the fetch: finds a writer of `topic` with a type hash and its node, calls its
    /// `get_type_description`; the type once described.
    pub fn poll(
        &mut self,
        d: &mut dyn Host,
        graph: &RosGraph,
        topic: &str,
    ) -> Option<Result<RosType, String>> {
        if self.started.elapsed() > PATIENCE {
            return Some(Err(format!(
                "no writer's node described {} within {PATIENCE:?} (ROS 2 Jazzy's \
                 ~/get_type_description; {})",
                self.full,
                if self.client.is_some() {
                    "the request was sent"
                } else {
                    "no node found for the writers"
                }
            )));
        }
        if self.client.is_none() {
            // A writer on the topic that said its type hash, and the node that owns it.
            let writers: Vec<([u8; 16], [u8; 32])> = d
                .engine()
                .remote_endpoints()
                .filter(|e| e.is_writer && e.topic == topic)
                .filter_map(|e| Some((gid(&e.guid), e.type_hash?)))
                .collect();
            let node = graph.peers.values().flat_map(|p| &p.nodes).find_map(|n| {
                writers
                    .iter()
                    .find(|(g, _)| n.writers.contains(g))
                    .map(|(_, h)| (n, *h))
            });
            let (node, hash) = node?;
            let prefix = if node.namespace == "/" {
                String::new()
            } else {
                node.namespace.clone()
            };
            let name = format!("{prefix}/{}/get_type_description", node.name);
            let service = match Service::with(&name, SERVICE, builtin()) {
                Ok(s) => self.service.insert(s),
                Err(e) => return Some(Err(e)),
            };
            let request = json!({
                "type_name": self.full,
                "type_hash": format!("RIHS01_{}", hex(&hash)),
                "include_type_sources": false,
            });
            let payload = match service.request(&request) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            self.hash = Some(hash);
            match Client::new(d, service, payload) {
                Ok(c) => self.client = Some(c),
                Err(e) => return Some(Err(e)),
            }
        }
        let response = self.client.as_mut()?.poll(d, self.service.as_ref()?)?;
        if let Some(c) = self.client.take() {
            c.close(d);
        }
        let resp = match response {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        let defs = match definitions(&resp) {
            Ok(defs) => defs,
            Err(e) => return Some(Err(format!("{}: {e}", self.full))),
        };
        let mut reg = Registry::default();
        for def in defs {
            reg.insert(def);
        }
        Some(RosType::from_registry(reg, &self.full))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_definitions_load() {
        let reg = builtin();
        assert!(reg
            .get("type_description_interfaces/srv/GetTypeDescription_Response")
            .is_some());
    }

    #[test]
    fn a_description_becomes_definitions() {
        let resp = json!({
            "successful": true,
            "failure_reason": "",
            "type_description": {
                "type_description": {"type_name": "geometry_msgs/msg/Twist", "fields": [
                    {"name": "linear", "type": {"type_id": 1, "capacity": 0, "string_capacity": 0,
                     "nested_type_name": "geometry_msgs/msg/Vector3"}, "default_value": ""},
                    {"name": "tags", "type": {"type_id": 17 + 144, "capacity": 0,
                     "string_capacity": 0, "nested_type_name": ""}, "default_value": ""},
                    {"name": "code", "type": {"type_id": 3 + 48, "capacity": 4,
                     "string_capacity": 0, "nested_type_name": ""}, "default_value": ""}
                ]},
                "referenced_type_descriptions": [
                    {"type_name": "geometry_msgs/msg/Vector3", "fields": [
                        {"name": "x", "type": {"type_id": 11, "capacity": 0, "string_capacity": 0,
                         "nested_type_name": ""}, "default_value": ""}
                    ]}
                ]
            }
        });
        let defs = definitions(&resp).unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[0].name, "geometry_msgs/msg/Twist");
        assert_eq!(
            defs[0].fields[0].base,
            Base::Msg("geometry_msgs/msg/Vector3".into())
        );
        assert_eq!(defs[0].fields[1].shape, Shape::Seq(None));
        assert_eq!(defs[0].fields[2].shape, Shape::Array(4));
        assert_eq!(defs[1].fields[0].base, Base::Prim(Prim::F64));
        let failed = json!({"successful": false, "failure_reason": "Type not currently in use"});
        assert!(definitions(&failed)
            .unwrap_err()
            .contains("not currently in use"));
    }
}
