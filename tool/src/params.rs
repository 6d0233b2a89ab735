//! Parameter lists and discovery data as JSON values: each PID's value decoded by its type
//! (strings, GUIDs, locators, durations, QoS enums, partitions, octets), unknown and vendor PIDs
//! as hex, and the engine's typed SPDP/SEDP reprs as objects.

use pollen_engine::wire::{
    pid, pid_name, DataRepresentations, DurabilityKind, Duration, Endian, EndpointData, Guid,
    Locator, LocatorList, Ownership, Parameter, ParameterListIter, ParticipantData,
    ReliabilityKind, Time, VendorId,
};
use serde_json::{json, Map, Value};

/// A little reader over a parameter value in the list's byte order (CDR alignment relative to
/// the value's start, which is 4-aligned in the list).
struct Rd<'a> {
    b: &'a [u8],
    pos: usize,
    e: Endian,
}

impl<'a> Rd<'a> {
    fn new(b: &'a [u8], e: Endian) -> Self {
        Rd { b, pos: 0, e }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("value too short ({} bytes)", self.b.len()))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn align(&mut self, n: usize) -> Result<(), String> {
        let pad = (n - self.pos % n) % n;
        self.bytes(pad).map(|_| ())
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4)?;
        let b: [u8; 4] = self.bytes(4)?.try_into().map_err(|_| "short".to_string())?;
        Ok(match self.e {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    fn i32(&mut self) -> Result<i32, String> {
        self.u32().map(|v| v as i32)
    }

    fn u16(&mut self) -> Result<u16, String> {
        self.align(2)?;
        let b: [u8; 2] = self.bytes(2)?.try_into().map_err(|_| "short".to_string())?;
        Ok(match self.e {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    fn duration(&mut self) -> Result<Duration, String> {
        Ok(Duration {
            seconds: self.i32()?,
            fraction: self.u32()?,
        })
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        if n == 0 {
            return Ok(String::new());
        }
        let b = self.bytes(n)?;
        match b.split_last() {
            Some((0, s)) => std::str::from_utf8(s)
                .map(str::to_owned)
                .map_err(|_| "string is not UTF-8".to_string()),
            _ => Err("string without its terminating NUL".to_string()),
        }
    }

    fn octets(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
}

/// Lower-case hex of some bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

/// Octets as `{"hex": ..}`, plus `"text"` when they are printable ASCII (trailing NULs aside).
pub fn octets(b: &[u8]) -> Value {
    let mut m = Map::new();
    m.insert("hex".into(), hex(b).into());
    let trimmed = match b.iter().rposition(|&c| c != 0) {
        Some(i) => &b[..=i],
        None => &[][..],
    };
    let printable = |c: &u8| c.is_ascii_graphic() || matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    if !trimmed.is_empty() && trimmed.iter().all(printable) {
        m.insert(
            "text".into(),
            String::from_utf8_lossy(trimmed).into_owned().into(),
        );
    }
    Value::Object(m)
}

/// A vendor id with its name, e.g. `0110 (Eclipse Cyclone DDS)`.
pub fn vendor_str(v: VendorId) -> String {
    match v.name() {
        Some(n) => format!("{} ({})", v, n),
        None => v.to_string(),
    }
}

/// Nanoseconds in a 2^-32 s fraction, rounded.
fn frac_nanos(fraction: u32) -> u64 {
    ((fraction as u64) * 1_000_000_000 + (1 << 31)) >> 32
}

/// A duration such as `100s`, `0.1s` or `INFINITE`.
pub fn duration_str(d: Duration) -> String {
    if d == Duration::INFINITE || (d.seconds == i32::MAX && d.fraction >= 0xffff_fffe) {
        return "INFINITE".into();
    }
    let mut secs = d.seconds as i64;
    let mut ns = frac_nanos(d.fraction);
    if ns >= 1_000_000_000 {
        secs += 1;
        ns -= 1_000_000_000;
    }
    if ns == 0 {
        format!("{}s", secs)
    } else {
        let f = format!("{:09}", ns);
        format!("{}.{}s", secs, f.trim_end_matches('0'))
    }
}

/// A timestamp as UTC, e.g. `2026-11-23T23:24:18.062450304Z`.
pub fn time_str(t: Time) -> String {
    if t == Time::INVALID {
        return "INVALID".into();
    }
    if t == Time::INFINITE {
        return "INFINITE".into();
    }
    let ns = t.to_nanos();
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        y,
        mo,
        d,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        sub
    )
}

/// Gregorian (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn guid_str(g: Guid) -> String {
    g.to_string()
}

fn locators(l: &LocatorList) -> Value {
    Value::Array(l.as_slice().iter().map(|x| x.to_string().into()).collect())
}

fn reliability_kind(k: u32) -> String {
    match k {
        1 => "BEST_EFFORT".into(),
        2 => "RELIABLE".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn durability_kind(k: u32) -> String {
    match k {
        0 => "VOLATILE".into(),
        1 => "TRANSIENT_LOCAL".into(),
        2 => "TRANSIENT".into(),
        3 => "PERSISTENT".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn history_kind(k: u32) -> String {
    match k {
        0 => "KEEP_LAST".into(),
        1 => "KEEP_ALL".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn liveliness_kind(k: u32) -> String {
    match k {
        0 => "AUTOMATIC".into(),
        1 => "MANUAL_BY_PARTICIPANT".into(),
        2 => "MANUAL_BY_TOPIC".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn ownership_kind(k: u32) -> String {
    match k {
        0 => "SHARED".into(),
        1 => "EXCLUSIVE".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn destination_order_kind(k: u32) -> String {
    match k {
        0 => "BY_RECEPTION_TIMESTAMP".into(),
        1 => "BY_SOURCE_TIMESTAMP".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn presentation_scope(k: u32) -> String {
    match k {
        0 => "INSTANCE".into(),
        1 => "TOPIC".into(),
        2 => "GROUP".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn data_representation_name(id: i16) -> String {
    match id {
        0 => "XCDR1".into(),
        1 => "XML".into(),
        2 => "XCDR2".into(),
        o => format!("UNKNOWN({})", o),
    }
}

fn status_info(v: u32) -> String {
    let mut names = Vec::new();
    for (bit, name) in [(1, "DISPOSED"), (2, "UNREGISTERED"), (4, "FILTERED")] {
        if v & bit != 0 {
            names.push(name.to_string());
        }
    }
    if v & !7 != 0 || names.is_empty() {
        names.push(format!("{:#010x}", v & !7));
    }
    names.join("|")
}

fn locator_value(r: &mut Rd<'_>) -> Result<Value, String> {
    let kind = r.i32()?;
    let port = r.u32()?;
    let address: [u8; 16] = r.bytes(16)?.try_into().map_err(|_| "short".to_string())?;
    Ok(Locator {
        kind,
        port,
        address,
    }
    .to_string()
    .into())
}

/// Decodes one standard parameter's value by its type; vendor and unknown PIDs become hex.
fn value(p: &Parameter<'_>) -> Result<Value, String> {
    let mut r = Rd::new(p.value, p.endian);
    if p.is_vendor() {
        return Ok(octets(p.value));
    }
    Ok(match p.id {
        pid::TOPIC_NAME | pid::TYPE_NAME | pid::ENTITY_NAME | pid::DOMAIN_TAG => r.string()?.into(),
        pid::PARTICIPANT_GUID | pid::ENDPOINT_GUID | pid::GROUP_GUID => {
            let b: [u8; 16] = r.bytes(16)?.try_into().map_err(|_| "short".to_string())?;
            guid_str(Guid::from_bytes(b)).into()
        }
        pid::UNICAST_LOCATOR
        | pid::MULTICAST_LOCATOR
        | pid::DEFAULT_UNICAST_LOCATOR
        | pid::DEFAULT_MULTICAST_LOCATOR
        | pid::METATRAFFIC_UNICAST_LOCATOR
        | pid::METATRAFFIC_MULTICAST_LOCATOR => locator_value(&mut r)?,
        pid::PROTOCOL_VERSION => {
            let b = r.bytes(2)?;
            format!("{}.{}", b[0], b[1]).into()
        }
        pid::VENDOR_ID => {
            let b = r.bytes(2)?;
            vendor_str(VendorId([b[0], b[1]])).into()
        }
        pid::DOMAIN_ID
        | pid::TYPE_MAX_SIZE_SERIALIZED
        | pid::PARTICIPANT_MANUAL_LIVELINESS_COUNT => r.u32()?.into(),
        pid::OWNERSHIP_STRENGTH | pid::TRANSPORT_PRIORITY => r.i32()?.into(),
        pid::BUILTIN_ENDPOINT_SET
        | pid::PARTICIPANT_BUILTIN_ENDPOINTS
        | pid::BUILTIN_ENDPOINT_QOS => format!("{:#010x}", r.u32()?).into(),
        pid::PARTICIPANT_LEASE_DURATION
        | pid::DEADLINE
        | pid::LATENCY_BUDGET
        | pid::LIFESPAN
        | pid::TIME_BASED_FILTER => duration_str(r.duration()?).into(),
        pid::RELIABILITY => {
            let mut m = Map::new();
            m.insert("kind".into(), reliability_kind(r.u32()?).into());
            // Some stacks send only the kind.
            if let Ok(d) = r.duration() {
                m.insert("max_blocking_time".into(), duration_str(d).into());
            }
            Value::Object(m)
        }
        pid::DURABILITY => durability_kind(r.u32()?).into(),
        pid::DURABILITY_SERVICE => json!({
            "service_cleanup_delay": duration_str(r.duration()?),
            "history": history_kind(r.u32()?),
            "depth": r.i32()?,
            "max_samples": r.i32()?,
            "max_instances": r.i32()?,
            "max_samples_per_instance": r.i32()?,
        }),
        pid::LIVELINESS => json!({
            "kind": liveliness_kind(r.u32()?),
            "lease_duration": duration_str(r.duration()?),
        }),
        pid::OWNERSHIP => ownership_kind(r.u32()?).into(),
        pid::DESTINATION_ORDER => destination_order_kind(r.u32()?).into(),
        pid::PRESENTATION => {
            let scope = presentation_scope(r.u32()?);
            let b = r.bytes(2)?;
            json!({"access_scope": scope, "coherent_access": b[0] != 0, "ordered_access": b[1] != 0})
        }
        pid::HISTORY => json!({"kind": history_kind(r.u32()?), "depth": r.i32()?}),
        pid::RESOURCE_LIMITS => json!({
            "max_samples": r.i32()?,
            "max_instances": r.i32()?,
            "max_samples_per_instance": r.i32()?,
        }),
        pid::PARTITION => {
            let n = r.u32()? as usize;
            if n > p.value.len() {
                return Err(format!("partition count {} exceeds the value", n));
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(Value::from(r.string()?));
            }
            Value::Array(v)
        }
        pid::USER_DATA | pid::GROUP_DATA | pid::TOPIC_DATA => octets(r.octets()?),
        pid::EXPECTS_INLINE_QOS => (r.bytes(1)?[0] != 0).into(),
        pid::KEY_HASH => hex(r.bytes(16)?).into(),
        pid::STATUS_INFO => {
            let b: [u8; 4] = r.bytes(4)?.try_into().map_err(|_| "short".to_string())?;
            status_info(u32::from_be_bytes(b)).into()
        }
        pid::DATA_REPRESENTATION => {
            let n = r.u32()? as usize;
            if n > p.value.len() {
                return Err(format!("data representation count {} exceeds the value", n));
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(Value::from(data_representation_name(r.u16()? as i16)));
            }
            Value::Array(v)
        }
        pid::PROPERTY_LIST => {
            let n = r.u32()? as usize;
            if n > p.value.len() {
                return Err(format!("property count {} exceeds the value", n));
            }
            let mut m = Map::new();
            for _ in 0..n {
                let k = r.string()?;
                let v = r.string()?;
                m.insert(k, v.into());
            }
            Value::Object(m)
        }
        pid::COHERENT_SET => {
            let high = r.i32()? as i64;
            let low = r.u32()? as i64;
            ((high << 32) | low).into()
        }
        _ => octets(p.value),
    })
}

/// The JSON of a parameter list: `[{pid, name, value}]`. Values that do not decode are shown as
/// hex and reported in `errors` with `context`; a list that is malformed is reported and ends.
pub fn parameter_list(
    list: ParameterListIter<'_>,
    vendor: VendorId,
    context: &str,
    errors: &mut Vec<String>,
) -> Value {
    let mut out = Vec::new();
    for p in list {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("{}: {}", context, e));
                break;
            }
        };
        let name = pid_name(p.id, vendor);
        let mut m = Map::new();
        m.insert("pid".into(), format!("{:#06x}", p.id).into());
        m.insert("name".into(), name.map_or(Value::Null, Value::from));
        match value(&p) {
            Ok(v) => {
                m.insert("value".into(), v);
            }
            Err(e) => {
                errors.push(format!(
                    "{}: parameter {} ({:#06x}): {}",
                    context,
                    name.unwrap_or("unknown"),
                    p.id,
                    e
                ));
                m.insert("value".into(), octets(p.value));
                m.insert("error".into(), e.into());
            }
        }
        out.push(Value::Object(m));
    }
    Value::Array(out)
}

fn insert_opt<T>(m: &mut Map<String, Value>, k: &str, v: Option<T>, f: impl FnOnce(T) -> Value) {
    if let Some(v) = v {
        m.insert(k.into(), f(v));
    }
}

fn insert_locators(m: &mut Map<String, Value>, k: &str, l: &LocatorList) {
    if !l.is_empty() {
        m.insert(k.into(), locators(l));
    }
}

/// SPDP participant data as an object.
pub fn participant(d: &ParticipantData<'_>) -> Value {
    let mut m = Map::new();
    m.insert("guid".into(), guid_str(d.guid).into());
    m.insert(
        "builtin_endpoints".into(),
        format!("{:#010x}", d.builtin_endpoints.0).into(),
    );
    insert_opt(&mut m, "protocol_version", d.protocol_version, |v| {
        v.to_string().into()
    });
    insert_opt(&mut m, "vendor_id", d.vendor_id, |v| vendor_str(v).into());
    insert_opt(&mut m, "domain_id", d.domain_id, Value::from);
    insert_opt(&mut m, "domain_tag", d.domain_tag, Value::from);
    m.insert("lease_duration".into(), duration_str(d.lease()).into());
    insert_locators(&mut m, "metatraffic_unicast", &d.metatraffic_unicast);
    insert_locators(&mut m, "metatraffic_multicast", &d.metatraffic_multicast);
    insert_locators(&mut m, "default_unicast", &d.default_unicast);
    insert_locators(&mut m, "default_multicast", &d.default_multicast);
    insert_opt(&mut m, "user_data", d.user_data, octets);
    insert_opt(&mut m, "entity_name", d.entity_name, Value::from);
    insert_opt(
        &mut m,
        "builtin_endpoint_qos",
        d.builtin_endpoint_qos,
        |v| format!("{:#010x}", v).into(),
    );
    Value::Object(m)
}

/// SEDP publication or subscription data as an object.
pub fn endpoint(d: &EndpointData<'_>) -> Value {
    let mut m = Map::new();
    m.insert("endpoint_guid".into(), guid_str(d.endpoint_guid).into());
    insert_opt(&mut m, "participant_guid", d.participant_guid, |g| {
        guid_str(g).into()
    });
    m.insert("topic_name".into(), d.topic_name.into());
    m.insert("type_name".into(), d.type_name.into());
    insert_opt(&mut m, "protocol_version", d.protocol_version, |v| {
        v.to_string().into()
    });
    insert_opt(&mut m, "vendor_id", d.vendor_id, |v| vendor_str(v).into());
    insert_opt(&mut m, "reliability", d.reliability, |r| {
        let kind = match r.kind {
            ReliabilityKind::BestEffort => "BEST_EFFORT",
            ReliabilityKind::Reliable => "RELIABLE",
        };
        json!({"kind": kind, "max_blocking_time": duration_str(r.max_blocking_time)})
    });
    insert_opt(&mut m, "durability", d.durability, |v| {
        match v {
            DurabilityKind::Volatile => "VOLATILE",
            DurabilityKind::TransientLocal => "TRANSIENT_LOCAL",
            DurabilityKind::Transient => "TRANSIENT",
            DurabilityKind::Persistent => "PERSISTENT",
        }
        .into()
    });
    insert_opt(
        &mut m,
        "history",
        d.history,
        |h| json!({"kind": if h.keep_all { "KEEP_ALL" } else { "KEEP_LAST" }, "depth": h.depth}),
    );
    insert_opt(&mut m, "resource_limits", d.resource_limits, |r| {
        json!({
            "max_samples": r.max_samples,
            "max_instances": r.max_instances,
            "max_samples_per_instance": r.max_samples_per_instance,
        })
    });
    insert_opt(&mut m, "deadline", d.deadline, |v| duration_str(v).into());
    insert_opt(&mut m, "latency_budget", d.latency_budget, |v| {
        duration_str(v).into()
    });
    insert_opt(&mut m, "lifespan", d.lifespan, |v| duration_str(v).into());
    insert_opt(&mut m, "liveliness", d.liveliness, |l| {
        json!({
            "kind": liveliness_kind(l.kind as u32),
            "lease_duration": duration_str(l.lease_duration),
        })
    });
    insert_opt(&mut m, "ownership", d.ownership, |o| {
        match o {
            Ownership::Shared => "SHARED",
            Ownership::Exclusive => "EXCLUSIVE",
        }
        .into()
    });
    insert_opt(
        &mut m,
        "ownership_strength",
        d.ownership_strength,
        Value::from,
    );
    insert_opt(&mut m, "destination_order", d.destination_order, |v| {
        destination_order_kind(v).into()
    });
    insert_opt(&mut m, "partition", d.partition, |p| {
        Value::Array(p.iter().map(Value::from).collect())
    });
    insert_opt(&mut m, "user_data", d.user_data, octets);
    insert_opt(&mut m, "topic_data", d.topic_data, octets);
    insert_opt(&mut m, "group_data", d.group_data, octets);
    insert_opt(
        &mut m,
        "data_representation",
        d.data_representation,
        |r: DataRepresentations| {
            Value::Array(
                r.as_slice()
                    .iter()
                    .map(|&i| data_representation_name(i).into())
                    .collect(),
            )
        },
    );
    insert_opt(
        &mut m,
        "expects_inline_qos",
        d.expects_inline_qos,
        Value::from,
    );
    insert_locators(&mut m, "unicast_locators", &d.unicast_locators);
    insert_locators(&mut m, "multicast_locators", &d.multicast_locators);
    if d.has_type_information {
        m.insert("has_type_information".into(), true.into());
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_str(Duration::from_secs(100)), "100s");
        assert_eq!(duration_str(Duration::INFINITE), "INFINITE");
        assert_eq!(
            duration_str(Duration {
                seconds: 0,
                fraction: 429_496_730
            }),
            "0.1s"
        );
    }

    #[test]
    fn times() {
        assert_eq!(time_str(Time::ZERO), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            time_str(Time::from_nanos(951_782_400_500_000_000)),
            "2000-02-29T00:00:00.500000000Z"
        );
        assert_eq!(
            time_str(Time::from_nanos(1_700_000_000_000_000_000)),
            "2023-11-14T22:13:20.000000000Z"
        );
    }

    #[test]
    fn printable_octets() {
        assert_eq!(octets(b"hi\0"), json!({"hex": "686900", "text": "hi"}));
        assert_eq!(octets(&[1, 2]), json!({"hex": "0102"}));
    }
}
