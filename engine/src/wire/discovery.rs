//! Typed views of discovery data: SPDP participant data, SEDP endpoint data and the inline QoS
//! of state changes (rtps-wire.md §5.4-5.6, §6.4).
//!
//! Parsing is lenient where the peers are (unknown PIDs skipped, vendor PIDs ignored, malformed
//! locators dropped) and strict where they are (an unknown must-understand PID, a missing key
//! GUID, a duplicated PID or a bad enum value rejects the whole list). Emitting writes exactly
//! the fixed lengths Fast DDS checks, always in PL_CDR_LE.

use super::endian::{Cursor, Writer};
use super::parameter::{
    pid, read_string, write_string, Parameter, ParameterListIter, ParameterListWriter,
};
use super::{
    Duration, Encapsulation, EncapsulationKind, Endian, EntityId, Error, Guid, GuidPrefix, Locator,
    ProtocolVersion, Result, SequenceNumber, SerializedPayload, VendorId,
};

/// Most locators kept per locator list; further ones are counted in `LocatorList::dropped`.
pub const MAX_LOCATORS: usize = 4;
/// Most data representation ids kept.
pub const MAX_DATA_REPRESENTATIONS: usize = 4;

/// A bounded list of locators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocatorList {
    items: [Locator; MAX_LOCATORS],
    len: u8,
    /// Locators that did not fit.
    pub dropped: u8,
}

impl LocatorList {
    /// An empty list.
    pub const fn new() -> Self {
        LocatorList {
            items: [Locator {
                kind: 0,
                port: 0,
                address: [0; 16],
            }; MAX_LOCATORS],
            len: 0,
            dropped: 0,
        }
    }

    /// Adds a locator; returns false (and counts it) when full.
    pub fn push(&mut self, l: Locator) -> bool {
        if (self.len as usize) < MAX_LOCATORS {
            self.items[self.len as usize] = l;
            self.len += 1;
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }

    /// The locators.
    pub fn as_slice(&self) -> &[Locator] {
        &self.items[..self.len as usize]
    }

    /// Number of locators kept.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<Locator> for LocatorList {
    fn from_iter<I: IntoIterator<Item = Locator>>(iter: I) -> Self {
        let mut l = LocatorList::new();
        for x in iter {
            l.push(x);
        }
        l
    }
}

/// A sequence of strings (partitions), either borrowed from the wire or from a slice.
#[derive(Debug, Clone, Copy)]
pub enum StringSeq<'a> {
    /// Validated CDR `sequence<string>` bytes after the count.
    Wire {
        /// Number of strings.
        count: u32,
        /// The strings' bytes.
        data: &'a [u8],
        /// Their byte order.
        endian: Endian,
    },
    /// Strings held by the caller.
    List(&'a [&'a str]),
}

impl<'a> StringSeq<'a> {
    /// Number of strings.
    pub fn len(&self) -> usize {
        match self {
            StringSeq::Wire { count, .. } => *count as usize,
            StringSeq::List(l) => l.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strings in order.
    pub fn iter(&self) -> StringSeqIter<'a> {
        match *self {
            StringSeq::Wire {
                count,
                data,
                endian,
            } => StringSeqIter(SeqIterInner::Wire {
                left: count,
                cursor: Cursor::new(data, endian),
            }),
            StringSeq::List(l) => StringSeqIter(SeqIterInner::List(l.iter())),
        }
    }

    fn parse(p: &Parameter<'a>) -> Result<Self> {
        let mut c = p.cursor();
        let count = c.u32().map_err(|_| Error::BadParameter(p.id))?;
        let start = c.pos();
        let data = c.rest();
        let mut check = Cursor::new(data, p.endian);
        for i in 0..count {
            if i > 0 {
                // Strings are 4-aligned relative to the parameter value (which is 4-aligned).
                let misalign = (start + check.pos()) % 4;
                if misalign != 0 {
                    check
                        .bytes(4 - misalign)
                        .map_err(|_| Error::BadParameter(p.id))?;
                }
            }
            read_string(&mut check)?;
        }
        Ok(StringSeq::Wire {
            count,
            data,
            endian: p.endian,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        let base = w.pos();
        w.u32(self.len() as u32)?;
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                let misalign = (w.pos() - base) % 4;
                if misalign != 0 {
                    w.zeros(4 - misalign)?;
                }
            }
            write_string(w, s)?;
        }
        Ok(())
    }
}

impl PartialEq for StringSeq<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for StringSeq<'_> {}

/// Iterator over a [`StringSeq`].
#[derive(Debug, Clone)]
pub struct StringSeqIter<'a>(SeqIterInner<'a>);

#[derive(Debug, Clone)]
enum SeqIterInner<'a> {
    Wire { left: u32, cursor: Cursor<'a> },
    List(core::slice::Iter<'a, &'a str>),
}

impl<'a> Iterator for StringSeqIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            SeqIterInner::Wire { left, cursor } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // Validated at parse time; alignment is relative to the value start (count
                // already consumed, so the cursor is 4 bytes into the value).
                if cursor.pos() % 4 != 0 {
                    cursor.align(4).ok()?;
                }
                read_string(cursor).ok()
            }
            SeqIterInner::List(it) => it.next().copied(),
        }
    }
}

/// The BuiltinEndpointSet bitmask (rtps-wire.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BuiltinEndpointSet(pub u32);

impl BuiltinEndpointSet {
    /// SPDP announcer.
    pub const PARTICIPANT_ANNOUNCER: u32 = 1 << 0;
    /// SPDP detector.
    pub const PARTICIPANT_DETECTOR: u32 = 1 << 1;
    /// SEDP publications announcer.
    pub const PUBLICATIONS_ANNOUNCER: u32 = 1 << 2;
    /// SEDP publications detector.
    pub const PUBLICATIONS_DETECTOR: u32 = 1 << 3;
    /// SEDP subscriptions announcer.
    pub const SUBSCRIPTIONS_ANNOUNCER: u32 = 1 << 4;
    /// SEDP subscriptions detector.
    pub const SUBSCRIPTIONS_DETECTOR: u32 = 1 << 5;
    /// Participant message writer.
    pub const PARTICIPANT_MESSAGE_WRITER: u32 = 1 << 10;
    /// Participant message reader.
    pub const PARTICIPANT_MESSAGE_READER: u32 = 1 << 11;
    /// What a minimal non-secure participant with writer liveliness announces (0xc3f).
    pub const POLLEN: BuiltinEndpointSet = BuiltinEndpointSet(0x0000_0c3f);

    /// Whether every bit of `mask` is set.
    pub fn has(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

/// Reliability kind as on the wire (1 = best effort, 2 = reliable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReliabilityKind {
    /// 1.
    BestEffort,
    /// 2.
    Reliable,
}

/// RELIABILITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReliabilityQos {
    /// Kind.
    pub kind: ReliabilityKind,
    /// How long a write may block.
    pub max_blocking_time: Duration,
}

/// DURABILITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DurabilityKind {
    /// 0.
    Volatile,
    /// 1.
    TransientLocal,
    /// 2.
    Transient,
    /// 3.
    Persistent,
}

/// HISTORY: kind and depth as on the wire (the depth travels even for KEEP_ALL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryQos {
    /// KEEP_ALL when true, KEEP_LAST otherwise.
    pub keep_all: bool,
    /// Depth for KEEP_LAST.
    pub depth: i32,
}

/// LIVELINESS kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LivelinessKind {
    /// 0.
    Automatic,
    /// 1.
    ManualByParticipant,
    /// 2.
    ManualByTopic,
}

/// LIVELINESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Liveliness {
    /// Kind.
    pub kind: LivelinessKind,
    /// Lease duration.
    pub lease_duration: Duration,
}

/// OWNERSHIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// 0.
    Shared,
    /// 1.
    Exclusive,
}

/// DATA_REPRESENTATION: up to [`MAX_DATA_REPRESENTATIONS`] ids (0 XCDR1, 1 XML, 2 XCDR2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DataRepresentations {
    ids: [i16; MAX_DATA_REPRESENTATIONS],
    len: u8,
}

impl DataRepresentations {
    /// XCDR1.
    pub const XCDR1: i16 = 0;
    /// XCDR2.
    pub const XCDR2: i16 = 2;

    /// From a slice (truncated to the capacity).
    pub fn new(ids: &[i16]) -> Self {
        let mut d = DataRepresentations::default();
        for &i in ids.iter().take(MAX_DATA_REPRESENTATIONS) {
            d.ids[d.len as usize] = i;
            d.len += 1;
        }
        d
    }

    /// The ids.
    pub fn as_slice(&self) -> &[i16] {
        &self.ids[..self.len as usize]
    }
}

/// STATUS_INFO flags (always big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusInfo(pub u32);

impl StatusInfo {
    /// The instance was disposed.
    pub const DISPOSED: u32 = 0x01;
    /// The instance was unregistered.
    pub const UNREGISTERED: u32 = 0x02;
    /// The sample was filtered out.
    pub const FILTERED: u32 = 0x04;

    /// Disposed bit.
    pub fn disposed(self) -> bool {
        self.0 & Self::DISPOSED != 0
    }

    /// Unregistered bit.
    pub fn unregistered(self) -> bool {
        self.0 & Self::UNREGISTERED != 0
    }
}

fn set_once<T>(slot: &mut Option<T>, id: u16, v: T) -> Result<()> {
    if slot.is_some() {
        return Err(Error::DuplicateParameter(id));
    }
    *slot = Some(v);
    Ok(())
}

fn fixed<const N: usize>(p: &Parameter<'_>) -> Result<[u8; N]> {
    p.cursor().array().map_err(|_| Error::BadParameter(p.id))
}

fn version(p: &Parameter<'_>) -> Result<ProtocolVersion> {
    let b: [u8; 2] = fixed(p)?;
    Ok(ProtocolVersion {
        major: b[0],
        minor: b[1],
    })
}

fn push_locator(list: &mut LocatorList, p: &Parameter<'_>) -> Result<()> {
    let l = p.as_locator()?;
    // Malformed locators are dropped one by one rather than rejecting the whole list.
    if l.is_well_formed() && !matches!(l.kind, -1 | 0) {
        list.push(l);
    }
    Ok(())
}

fn payload_list(payload: &[u8]) -> Result<ParameterListIter<'_>> {
    let sp = SerializedPayload::parse(payload)?;
    let endian = match sp.encapsulation.kind {
        EncapsulationKind::PlCdrLe => Endian::Little,
        EncapsulationKind::PlCdrBe => Endian::Big,
        _ => return Err(Error::BadParameterList),
    };
    Ok(ParameterListIter::new(sp.data, endian))
}

/// Rejects unknown must-understand parameters; everything else unknown is skipped.
fn unknown(p: &Parameter<'_>) -> Result<()> {
    if p.must_understand() {
        Err(Error::MustUnderstand(p.id))
    } else {
        Ok(())
    }
}

fn begin_payload(buf: &mut [u8]) -> Result<(&mut [u8], usize)> {
    let n = Encapsulation {
        kind: EncapsulationKind::PlCdrLe,
        options: 0,
    }
    .emit(buf)?;
    Ok((&mut buf[n..], n))
}

/// SPDP participant data (DCPSParticipant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantData<'a> {
    /// PARTICIPANT_GUID (required).
    pub guid: Guid,
    /// BUILTIN_ENDPOINT_SET (required).
    pub builtin_endpoints: BuiltinEndpointSet,
    /// PROTOCOL_VERSION.
    pub protocol_version: Option<ProtocolVersion>,
    /// VENDOR_ID.
    pub vendor_id: Option<VendorId>,
    /// DOMAIN_ID (Fast DDS omits it).
    pub domain_id: Option<u32>,
    /// DOMAIN_TAG (omitted when empty).
    pub domain_tag: Option<&'a str>,
    /// PARTICIPANT_LEASE_DURATION (default 100 s).
    pub lease_duration: Option<Duration>,
    /// METATRAFFIC_UNICAST_LOCATOR.
    pub metatraffic_unicast: LocatorList,
    /// METATRAFFIC_MULTICAST_LOCATOR.
    pub metatraffic_multicast: LocatorList,
    /// DEFAULT_UNICAST_LOCATOR.
    pub default_unicast: LocatorList,
    /// DEFAULT_MULTICAST_LOCATOR.
    pub default_multicast: LocatorList,
    /// USER_DATA.
    pub user_data: Option<&'a [u8]>,
    /// ENTITY_NAME.
    pub entity_name: Option<&'a str>,
    /// BUILTIN_ENDPOINT_QOS.
    pub builtin_endpoint_qos: Option<u32>,
}

impl<'a> ParticipantData<'a> {
    /// The DDSI default lease when none is announced.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(100);

    /// Minimal data for a participant.
    pub fn new(guid: Guid, builtin_endpoints: BuiltinEndpointSet) -> Self {
        ParticipantData {
            guid,
            builtin_endpoints,
            protocol_version: None,
            vendor_id: None,
            domain_id: None,
            domain_tag: None,
            lease_duration: None,
            metatraffic_unicast: LocatorList::new(),
            metatraffic_multicast: LocatorList::new(),
            default_unicast: LocatorList::new(),
            default_multicast: LocatorList::new(),
            user_data: None,
            entity_name: None,
            builtin_endpoint_qos: None,
        }
    }

    /// The announced lease, or the default.
    pub fn lease(&self) -> Duration {
        self.lease_duration.unwrap_or(Self::DEFAULT_LEASE)
    }

    /// Parses a serialized payload (PL_CDR encapsulation and parameter list).
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        Self::parse_list(payload_list(payload)?)
    }

    /// Parses a serialized payload into `d`, which is reset first: the same result as
    /// [`ParticipantData::parse`] without a second copy of the large record on the stack (the
    /// result's own). On an error `d` holds what was read before it.
    pub fn parse_into(payload: &'a [u8], d: &mut Self) -> Result<()> {
        *d = ParticipantData::new(Guid::default(), BuiltinEndpointSet(0));
        Self::fill(payload_list(payload)?, d)
    }

    /// Parses a parameter list.
    pub fn parse_list(list: ParameterListIter<'a>) -> Result<Self> {
        let mut d = ParticipantData::new(Guid::default(), BuiltinEndpointSet(0));
        Self::fill(list, &mut d)?;
        Ok(d)
    }

    /// Reads `list` into `d`, fresh from [`ParticipantData::new`].
    fn fill(list: ParameterListIter<'a>, d: &mut Self) -> Result<()> {
        let mut guid = None;
        let mut bes = None;
        let mut legacy_bes = None;
        for p in list {
            let p = p?;
            match p.id {
                pid::PARTICIPANT_GUID => set_once(&mut guid, p.id, p.as_guid()?)?,
                pid::BUILTIN_ENDPOINT_SET => set_once(&mut bes, p.id, p.as_u32()?)?,
                pid::PARTICIPANT_BUILTIN_ENDPOINTS => set_once(&mut legacy_bes, p.id, p.as_u32()?)?,
                pid::PROTOCOL_VERSION => set_once(&mut d.protocol_version, p.id, version(&p)?)?,
                pid::VENDOR_ID => set_once(&mut d.vendor_id, p.id, VendorId(fixed(&p)?))?,
                pid::DOMAIN_ID => set_once(&mut d.domain_id, p.id, p.as_u32()?)?,
                pid::DOMAIN_TAG => set_once(&mut d.domain_tag, p.id, p.as_str()?)?,
                pid::PARTICIPANT_LEASE_DURATION => {
                    set_once(&mut d.lease_duration, p.id, p.as_duration()?)?
                }
                pid::METATRAFFIC_UNICAST_LOCATOR => push_locator(&mut d.metatraffic_unicast, &p)?,
                pid::METATRAFFIC_MULTICAST_LOCATOR => {
                    push_locator(&mut d.metatraffic_multicast, &p)?
                }
                pid::DEFAULT_UNICAST_LOCATOR => push_locator(&mut d.default_unicast, &p)?,
                pid::DEFAULT_MULTICAST_LOCATOR => push_locator(&mut d.default_multicast, &p)?,
                pid::USER_DATA => set_once(&mut d.user_data, p.id, p.as_octets()?)?,
                pid::ENTITY_NAME => set_once(&mut d.entity_name, p.id, p.as_str()?)?,
                pid::BUILTIN_ENDPOINT_QOS => {
                    set_once(&mut d.builtin_endpoint_qos, p.id, p.as_u32()?)?
                }
                _ => unknown(&p)?,
            }
        }
        d.guid = guid.ok_or(Error::MissingParameter(pid::PARTICIPANT_GUID))?;
        d.builtin_endpoints = BuiltinEndpointSet(
            bes.or(legacy_bes)
                .ok_or(Error::MissingParameter(pid::BUILTIN_ENDPOINT_SET))?,
        );
        Ok(())
    }

    /// Writes the serialized payload (PL_CDR_LE header and parameter list); returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let (body, hdr) = begin_payload(buf)?;
        let mut w = ParameterListWriter::new(body, Endian::Little);
        if let Some(v) = self.protocol_version {
            w.raw(pid::PROTOCOL_VERSION, &[v.major, v.minor])?;
        }
        if let Some(v) = self.vendor_id {
            w.raw(pid::VENDOR_ID, &v.0)?;
        }
        if let Some(dom) = self.domain_id {
            w.u32(pid::DOMAIN_ID, dom)?;
        }
        if let Some(tag) = self.domain_tag {
            w.string(pid::DOMAIN_TAG, tag)?;
        }
        w.guid(pid::PARTICIPANT_GUID, self.guid)?;
        w.u32(pid::BUILTIN_ENDPOINT_SET, self.builtin_endpoints.0)?;
        for (id, list) in [
            (pid::METATRAFFIC_UNICAST_LOCATOR, &self.metatraffic_unicast),
            (
                pid::METATRAFFIC_MULTICAST_LOCATOR,
                &self.metatraffic_multicast,
            ),
            (pid::DEFAULT_UNICAST_LOCATOR, &self.default_unicast),
            (pid::DEFAULT_MULTICAST_LOCATOR, &self.default_multicast),
        ] {
            for l in list.as_slice() {
                w.locator(id, l)?;
            }
        }
        if let Some(l) = self.lease_duration {
            w.duration(pid::PARTICIPANT_LEASE_DURATION, l)?;
        }
        if let Some(u) = self.user_data {
            w.octets(pid::USER_DATA, u)?;
        }
        if let Some(n) = self.entity_name {
            w.string(pid::ENTITY_NAME, n)?;
        }
        if let Some(q) = self.builtin_endpoint_qos {
            w.u32(pid::BUILTIN_ENDPOINT_QOS, q)?;
        }
        Ok(hdr + w.finish()?)
    }
}

/// RESOURCE_LIMITS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResourceLimits {
    /// max_samples (-1 = unlimited).
    pub max_samples: i32,
    /// max_instances (-1 = unlimited).
    pub max_instances: i32,
    /// max_samples_per_instance (-1 = unlimited).
    pub max_samples_per_instance: i32,
}

/// SEDP endpoint data (DCPSPublication or DCPSSubscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointData<'a> {
    /// ENDPOINT_GUID (required; the key).
    pub endpoint_guid: Guid,
    /// PARTICIPANT_GUID (Cyclone omits it).
    pub participant_guid: Option<Guid>,
    /// TOPIC_NAME (required).
    pub topic_name: &'a str,
    /// TYPE_NAME (required).
    pub type_name: &'a str,
    /// PROTOCOL_VERSION.
    pub protocol_version: Option<ProtocolVersion>,
    /// VENDOR_ID.
    pub vendor_id: Option<VendorId>,
    /// RELIABILITY.
    pub reliability: Option<ReliabilityQos>,
    /// DURABILITY.
    pub durability: Option<DurabilityKind>,
    /// HISTORY.
    pub history: Option<HistoryQos>,
    /// RESOURCE_LIMITS.
    pub resource_limits: Option<ResourceLimits>,
    /// DEADLINE period.
    pub deadline: Option<Duration>,
    /// LATENCY_BUDGET.
    pub latency_budget: Option<Duration>,
    /// LIFESPAN.
    pub lifespan: Option<Duration>,
    /// LIVELINESS.
    pub liveliness: Option<Liveliness>,
    /// OWNERSHIP.
    pub ownership: Option<Ownership>,
    /// OWNERSHIP_STRENGTH.
    pub ownership_strength: Option<i32>,
    /// DESTINATION_ORDER (0 reception, 1 source timestamp).
    pub destination_order: Option<u32>,
    /// PARTITION.
    pub partition: Option<StringSeq<'a>>,
    /// USER_DATA.
    pub user_data: Option<&'a [u8]>,
    /// TOPIC_DATA.
    pub topic_data: Option<&'a [u8]>,
    /// GROUP_DATA.
    pub group_data: Option<&'a [u8]>,
    /// DATA_REPRESENTATION.
    pub data_representation: Option<DataRepresentations>,
    /// EXPECTS_INLINE_QOS (readers).
    pub expects_inline_qos: Option<bool>,
    /// UNICAST_LOCATOR.
    pub unicast_locators: LocatorList,
    /// MULTICAST_LOCATOR.
    pub multicast_locators: LocatorList,
    /// TYPE_INFORMATION present (XTypes; not interpreted).
    pub has_type_information: bool,
}

impl<'a> EndpointData<'a> {
    /// Minimal data for an endpoint.
    pub fn new(endpoint_guid: Guid, topic_name: &'a str, type_name: &'a str) -> Self {
        EndpointData {
            endpoint_guid,
            participant_guid: None,
            topic_name,
            type_name,
            protocol_version: None,
            vendor_id: None,
            reliability: None,
            durability: None,
            history: None,
            resource_limits: None,
            deadline: None,
            latency_budget: None,
            lifespan: None,
            liveliness: None,
            ownership: None,
            ownership_strength: None,
            destination_order: None,
            partition: None,
            user_data: None,
            topic_data: None,
            group_data: None,
            data_representation: None,
            expects_inline_qos: None,
            unicast_locators: LocatorList::new(),
            multicast_locators: LocatorList::new(),
            has_type_information: false,
        }
    }

    /// Parses a serialized payload (PL_CDR encapsulation and parameter list).
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        Self::parse_list(payload_list(payload)?)
    }

    /// Parses a parameter list. (Not inlined: the parser's state is then off the stack
    /// before what the caller makes of the result.)
    #[inline(never)]
    pub fn parse_list(list: ParameterListIter<'a>) -> Result<Self> {
        let mut guid = None;
        let mut topic = None;
        let mut type_name = None;
        let mut type_info = None;
        let mut d = EndpointData::new(Guid::default(), "", "");
        for p in list {
            let p = p?;
            let bad = Error::BadParameter(p.id);
            match p.id {
                pid::ENDPOINT_GUID => set_once(&mut guid, p.id, p.as_guid()?)?,
                pid::PARTICIPANT_GUID => set_once(&mut d.participant_guid, p.id, p.as_guid()?)?,
                pid::TOPIC_NAME => set_once(&mut topic, p.id, p.as_str()?)?,
                pid::TYPE_NAME => set_once(&mut type_name, p.id, p.as_str()?)?,
                pid::PROTOCOL_VERSION => set_once(&mut d.protocol_version, p.id, version(&p)?)?,
                pid::VENDOR_ID => set_once(&mut d.vendor_id, p.id, VendorId(fixed(&p)?))?,
                pid::RELIABILITY => {
                    let mut c = p.cursor();
                    let kind = match c.u32().map_err(|_| bad)? {
                        1 => ReliabilityKind::BestEffort,
                        2 => ReliabilityKind::Reliable,
                        _ => return Err(bad),
                    };
                    // Some stacks send only the kind; the blocking time then keeps its default.
                    let max_blocking_time = Duration::read(&mut c).unwrap_or(Duration {
                        seconds: 0,
                        fraction: 429_496_730,
                    });
                    set_once(
                        &mut d.reliability,
                        p.id,
                        ReliabilityQos {
                            kind,
                            max_blocking_time,
                        },
                    )?
                }
                pid::DURABILITY => {
                    let v = match p.as_u32()? {
                        0 => DurabilityKind::Volatile,
                        1 => DurabilityKind::TransientLocal,
                        2 => DurabilityKind::Transient,
                        3 => DurabilityKind::Persistent,
                        _ => return Err(bad),
                    };
                    set_once(&mut d.durability, p.id, v)?
                }
                pid::HISTORY => {
                    let mut c = p.cursor();
                    let keep_all = match c.u32().map_err(|_| bad)? {
                        0 => false,
                        1 => true,
                        _ => return Err(bad),
                    };
                    let depth = c.i32().map_err(|_| bad)?;
                    set_once(&mut d.history, p.id, HistoryQos { keep_all, depth })?
                }
                pid::RESOURCE_LIMITS => {
                    let mut c = p.cursor();
                    let r = ResourceLimits {
                        max_samples: c.i32().map_err(|_| bad)?,
                        max_instances: c.i32().map_err(|_| bad)?,
                        max_samples_per_instance: c.i32().map_err(|_| bad)?,
                    };
                    set_once(&mut d.resource_limits, p.id, r)?
                }
                pid::DEADLINE => set_once(&mut d.deadline, p.id, p.as_duration()?)?,
                pid::LATENCY_BUDGET => set_once(&mut d.latency_budget, p.id, p.as_duration()?)?,
                pid::LIFESPAN => set_once(&mut d.lifespan, p.id, p.as_duration()?)?,
                pid::LIVELINESS => {
                    let mut c = p.cursor();
                    let kind = match c.u32().map_err(|_| bad)? {
                        0 => LivelinessKind::Automatic,
                        1 => LivelinessKind::ManualByParticipant,
                        2 => LivelinessKind::ManualByTopic,
                        _ => return Err(bad),
                    };
                    let lease_duration = Duration::read(&mut c).map_err(|_| bad)?;
                    set_once(
                        &mut d.liveliness,
                        p.id,
                        Liveliness {
                            kind,
                            lease_duration,
                        },
                    )?
                }
                pid::OWNERSHIP => {
                    let v = match p.as_u32()? {
                        0 => Ownership::Shared,
                        1 => Ownership::Exclusive,
                        _ => return Err(bad),
                    };
                    set_once(&mut d.ownership, p.id, v)?
                }
                pid::OWNERSHIP_STRENGTH => {
                    set_once(&mut d.ownership_strength, p.id, p.as_u32()? as i32)?
                }
                pid::DESTINATION_ORDER => set_once(&mut d.destination_order, p.id, p.as_u32()?)?,
                pid::PARTITION => set_once(&mut d.partition, p.id, StringSeq::parse(&p)?)?,
                pid::USER_DATA => set_once(&mut d.user_data, p.id, p.as_octets()?)?,
                pid::TOPIC_DATA => set_once(&mut d.topic_data, p.id, p.as_octets()?)?,
                pid::GROUP_DATA => set_once(&mut d.group_data, p.id, p.as_octets()?)?,
                pid::DATA_REPRESENTATION => {
                    let mut c = p.cursor();
                    let n = c.u32().map_err(|_| bad)?;
                    let mut r = DataRepresentations::default();
                    for _ in 0..n {
                        let id = c.u16().map_err(|_| bad)? as i16;
                        if (r.len as usize) < MAX_DATA_REPRESENTATIONS {
                            r.ids[r.len as usize] = id;
                            r.len += 1;
                        }
                    }
                    set_once(&mut d.data_representation, p.id, r)?
                }
                pid::EXPECTS_INLINE_QOS => {
                    let b: [u8; 1] = fixed(&p)?;
                    set_once(&mut d.expects_inline_qos, p.id, b[0] != 0)?
                }
                pid::UNICAST_LOCATOR => push_locator(&mut d.unicast_locators, &p)?,
                pid::MULTICAST_LOCATOR => push_locator(&mut d.multicast_locators, &p)?,
                pid::TYPE_INFORMATION => set_once(&mut type_info, p.id, ())?,
                _ => unknown(&p)?,
            }
        }
        d.endpoint_guid = guid.ok_or(Error::MissingParameter(pid::ENDPOINT_GUID))?;
        d.topic_name = topic.ok_or(Error::MissingParameter(pid::TOPIC_NAME))?;
        d.type_name = type_name.ok_or(Error::MissingParameter(pid::TYPE_NAME))?;
        d.has_type_information = type_info.is_some();
        Ok(d)
    }

    /// Writes the serialized payload (PL_CDR_LE header and parameter list); returns its length.
    ///
    /// `has_type_information` is not written: Pollen does not implement TypeLookup.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let (body, hdr) = begin_payload(buf)?;
        let mut w = ParameterListWriter::new(body, Endian::Little);
        w.guid(pid::ENDPOINT_GUID, self.endpoint_guid)?;
        if let Some(g) = self.participant_guid {
            w.guid(pid::PARTICIPANT_GUID, g)?;
        }
        if let Some(v) = self.protocol_version {
            w.raw(pid::PROTOCOL_VERSION, &[v.major, v.minor])?;
        }
        if let Some(v) = self.vendor_id {
            w.raw(pid::VENDOR_ID, &v.0)?;
        }
        w.string(pid::TOPIC_NAME, self.topic_name)?;
        w.string(pid::TYPE_NAME, self.type_name)?;
        if let Some(r) = self.reliability {
            w.with(pid::RELIABILITY, |w| {
                w.u32(match r.kind {
                    ReliabilityKind::BestEffort => 1,
                    ReliabilityKind::Reliable => 2,
                })?;
                r.max_blocking_time.write(w)
            })?;
        }
        if let Some(v) = self.durability {
            w.u32(pid::DURABILITY, v as u32)?;
        }
        if let Some(h) = self.history {
            w.with(pid::HISTORY, |w| {
                w.u32(h.keep_all as u32)?;
                w.i32(h.depth)
            })?;
        }
        if let Some(r) = self.resource_limits {
            w.with(pid::RESOURCE_LIMITS, |w| {
                w.i32(r.max_samples)?;
                w.i32(r.max_instances)?;
                w.i32(r.max_samples_per_instance)
            })?;
        }
        for (id, v) in [
            (pid::DEADLINE, self.deadline),
            (pid::LATENCY_BUDGET, self.latency_budget),
            (pid::LIFESPAN, self.lifespan),
        ] {
            if let Some(v) = v {
                w.duration(id, v)?;
            }
        }
        if let Some(l) = self.liveliness {
            w.with(pid::LIVELINESS, |w| {
                w.u32(l.kind as u32)?;
                l.lease_duration.write(w)
            })?;
        }
        if let Some(o) = self.ownership {
            w.u32(pid::OWNERSHIP, o as u32)?;
        }
        if let Some(s) = self.ownership_strength {
            w.u32(pid::OWNERSHIP_STRENGTH, s as u32)?;
        }
        if let Some(o) = self.destination_order {
            w.u32(pid::DESTINATION_ORDER, o)?;
        }
        if let Some(p) = &self.partition {
            w.with(pid::PARTITION, |w| p.write(w))?;
        }
        for (id, v) in [
            (pid::USER_DATA, self.user_data),
            (pid::TOPIC_DATA, self.topic_data),
            (pid::GROUP_DATA, self.group_data),
        ] {
            if let Some(v) = v {
                w.octets(id, v)?;
            }
        }
        if let Some(r) = &self.data_representation {
            w.with(pid::DATA_REPRESENTATION, |w| {
                w.u32(r.len as u32)?;
                for &id in r.as_slice() {
                    w.u16(id as u16)?;
                }
                Ok(())
            })?;
        }
        if let Some(b) = self.expects_inline_qos {
            w.raw(pid::EXPECTS_INLINE_QOS, &[b as u8])?;
        }
        for l in self.unicast_locators.as_slice() {
            w.locator(pid::UNICAST_LOCATOR, l)?;
        }
        for l in self.multicast_locators.as_slice() {
            w.locator(pid::MULTICAST_LOCATOR, l)?;
        }
        Ok(hdr + w.finish()?)
    }
}

/// The inline QoS that matters to a reader: key hash and status info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InlineQos {
    /// KEY_HASH.
    pub key_hash: Option<[u8; 16]>,
    /// STATUS_INFO.
    pub status_info: Option<StatusInfo>,
    /// RELATED_SAMPLE_IDENTITY (or Fast DDS's CUSTOM_RELATED_SAMPLE_IDENTITY): the request a
    /// reply answers, as ROS 2 services over Fast DDS use it.
    pub related: Option<SampleIdentity>,
}

/// A sample's identity (DDS-RPC): its writer and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleIdentity {
    /// The writer.
    pub writer: Guid,
    /// The sample's sequence number.
    pub sn: SequenceNumber,
}

impl SampleIdentity {
    fn read(p: &Parameter<'_>) -> Result<Self> {
        let mut c = p.cursor();
        let bad = |_| Error::BadParameter(p.id);
        Ok(SampleIdentity {
            writer: Guid::new(
                GuidPrefix::read(&mut c).map_err(bad)?,
                EntityId::read(&mut c).map_err(bad)?,
            ),
            sn: SequenceNumber::read(&mut c).map_err(bad)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        w.bytes(&self.writer.prefix.0)?;
        w.bytes(&self.writer.entity.0)?;
        self.sn.write(w)
    }
}

impl InlineQos {
    /// Extracts key hash and status info from an inline QoS list; other PIDs are skipped
    /// (an unknown must-understand one is an error).
    pub fn parse(list: ParameterListIter<'_>) -> Result<Self> {
        let mut q = InlineQos::default();
        for p in list {
            let p = p?;
            match p.id {
                pid::KEY_HASH => set_once(&mut q.key_hash, p.id, fixed(&p)?)?,
                pid::STATUS_INFO => {
                    let b: [u8; 4] = fixed(&p)?;
                    set_once(&mut q.status_info, p.id, StatusInfo(u32::from_be_bytes(b)))?
                }
                // Fast DDS sends both ids with the same value: the first one counts.
                pid::RELATED_SAMPLE_IDENTITY | pid::CUSTOM_RELATED_SAMPLE_IDENTITY => {
                    let r = SampleIdentity::read(&p)?;
                    q.related.get_or_insert(r);
                }
                _ => unknown(&p)?,
            }
        }
        Ok(q)
    }

    /// Writes the list (key hash, status info, sentinel) in `endian`; returns its length.
    pub fn emit(&self, buf: &mut [u8], endian: Endian) -> Result<usize> {
        let mut w = ParameterListWriter::new(buf, endian);
        if let Some(k) = self.key_hash {
            w.raw(pid::KEY_HASH, &k)?;
        }
        if let Some(s) = self.status_info {
            w.raw(pid::STATUS_INFO, &s.0.to_be_bytes())?;
        }
        if let Some(r) = self.related {
            // Both ids, as Fast DDS writes them: readers of either find it.
            w.with(pid::RELATED_SAMPLE_IDENTITY, |w| r.write(w))?;
            w.with(pid::CUSTOM_RELATED_SAMPLE_IDENTITY, |w| r.write(w))?;
        }
        w.finish()
    }
}
