//! Parameter lists walked in place, and a writer for them (rtps-wire.md §5.1).

use super::endian::{Cursor, Writer};
use super::{align4, Duration, Endian, Error, Guid, Locator, Result, VendorId};

/// Parameter ids (rtps-wire.md §5.2-5.3).
pub mod pid {
    #![allow(missing_docs)]
    pub const PAD: u16 = 0x0000;
    pub const SENTINEL: u16 = 0x0001;
    pub const PARTICIPANT_LEASE_DURATION: u16 = 0x0002;
    pub const TIME_BASED_FILTER: u16 = 0x0004;
    pub const TOPIC_NAME: u16 = 0x0005;
    pub const OWNERSHIP_STRENGTH: u16 = 0x0006;
    pub const TYPE_NAME: u16 = 0x0007;
    pub const DOMAIN_ID: u16 = 0x000f;
    pub const PROTOCOL_VERSION: u16 = 0x0015;
    pub const VENDOR_ID: u16 = 0x0016;
    pub const RELIABILITY: u16 = 0x001a;
    pub const LIVELINESS: u16 = 0x001b;
    pub const DURABILITY: u16 = 0x001d;
    pub const DURABILITY_SERVICE: u16 = 0x001e;
    pub const OWNERSHIP: u16 = 0x001f;
    pub const PRESENTATION: u16 = 0x0021;
    pub const DEADLINE: u16 = 0x0023;
    pub const DESTINATION_ORDER: u16 = 0x0025;
    pub const LATENCY_BUDGET: u16 = 0x0027;
    pub const PARTITION: u16 = 0x0029;
    pub const LIFESPAN: u16 = 0x002b;
    pub const USER_DATA: u16 = 0x002c;
    pub const GROUP_DATA: u16 = 0x002d;
    pub const TOPIC_DATA: u16 = 0x002e;
    pub const UNICAST_LOCATOR: u16 = 0x002f;
    pub const MULTICAST_LOCATOR: u16 = 0x0030;
    pub const DEFAULT_UNICAST_LOCATOR: u16 = 0x0031;
    pub const METATRAFFIC_UNICAST_LOCATOR: u16 = 0x0032;
    pub const METATRAFFIC_MULTICAST_LOCATOR: u16 = 0x0033;
    pub const PARTICIPANT_MANUAL_LIVELINESS_COUNT: u16 = 0x0034;
    pub const CONTENT_FILTER_PROPERTY: u16 = 0x0035;
    pub const HISTORY: u16 = 0x0040;
    pub const RESOURCE_LIMITS: u16 = 0x0041;
    pub const EXPECTS_INLINE_QOS: u16 = 0x0043;
    pub const PARTICIPANT_BUILTIN_ENDPOINTS: u16 = 0x0044;
    pub const DEFAULT_MULTICAST_LOCATOR: u16 = 0x0048;
    pub const TRANSPORT_PRIORITY: u16 = 0x0049;
    pub const PARTICIPANT_GUID: u16 = 0x0050;
    pub const GROUP_GUID: u16 = 0x0052;
    pub const CONTENT_FILTER_INFO: u16 = 0x0055;
    pub const COHERENT_SET: u16 = 0x0056;
    pub const DIRECTED_WRITE: u16 = 0x0057;
    pub const BUILTIN_ENDPOINT_SET: u16 = 0x0058;
    pub const PROPERTY_LIST: u16 = 0x0059;
    pub const ENDPOINT_GUID: u16 = 0x005a;
    pub const TYPE_MAX_SIZE_SERIALIZED: u16 = 0x0060;
    pub const ORIGINAL_WRITER_INFO: u16 = 0x0061;
    pub const ENTITY_NAME: u16 = 0x0062;
    pub const TYPE_IDV1: u16 = 0x0069;
    pub const KEY_HASH: u16 = 0x0070;
    pub const STATUS_INFO: u16 = 0x0071;
    /// Fast DDS's older id for RELATED_SAMPLE_IDENTITY (it writes and reads both).
    pub const CUSTOM_RELATED_SAMPLE_IDENTITY: u16 = 0x800f;
    pub const TYPE_OBJECTV1: u16 = 0x0072;
    pub const DATA_REPRESENTATION: u16 = 0x0073;
    pub const TYPE_CONSISTENCY_ENFORCEMENT: u16 = 0x0074;
    pub const TYPE_INFORMATION: u16 = 0x0075;
    pub const BUILTIN_ENDPOINT_QOS: u16 = 0x0077;
    pub const RELATED_SAMPLE_IDENTITY: u16 = 0x0083;
    pub const DOMAIN_TAG: u16 = 0x4014;
    pub const LIST_END: u16 = 0x3f02;
    /// Bit 0x8000: vendor-specific, meaningful only in the sender's vendor context.
    pub const VENDOR_BIT: u16 = 0x8000;
    /// Bit 0x4000: incompatible if not understood.
    pub const MUST_UNDERSTAND_BIT: u16 = 0x4000;
    /// Cyclone (vendor 01.10) vendor PIDs seen in its discovery data.
    pub const ADLINK_PARTICIPANT_VERSION_INFO: u16 = 0x8007;
    pub const CYCLONE_RECEIVE_BUFFER_SIZE: u16 = 0x8019;
    pub const ADLINK_TYPE_DESCRIPTION: u16 = 0x800c;
    pub const CYCLONE_REQUESTS_KEYHASH: u16 = 0x801c;
}

/// The name of a parameter id; vendor PIDs are named only for the vendor that defines them.
pub fn pid_name(id: u16, vendor: VendorId) -> Option<&'static str> {
    use pid::*;
    if id & VENDOR_BIT != 0 {
        return match (vendor, id) {
            (VendorId::ECLIPSE, 0x8000) => Some("ADLINK_BUILTIN_ENDPOINT_SET"),
            (VendorId::ECLIPSE, ADLINK_PARTICIPANT_VERSION_INFO) => {
                Some("ADLINK_PARTICIPANT_VERSION_INFO")
            }
            (VendorId::ECLIPSE, ADLINK_TYPE_DESCRIPTION) => Some("ADLINK_TYPE_DESCRIPTION"),
            (VendorId::ECLIPSE, 0x800f) => Some("ADLINK_SUBSCRIPTION_KEYS"),
            (VendorId::ECLIPSE, CYCLONE_RECEIVE_BUFFER_SIZE) => Some("CYCLONE_RECEIVE_BUFFER_SIZE"),
            (VendorId::ECLIPSE, 0x801a) => Some("CYCLONE_TYPE_INFORMATION"),
            (VendorId::ECLIPSE, 0x801b) => Some("CYCLONE_TOPIC_GUID"),
            (VendorId::ECLIPSE, CYCLONE_REQUESTS_KEYHASH) => Some("CYCLONE_REQUESTS_KEYHASH"),
            (VendorId::ECLIPSE, 0x801d) => Some("CYCLONE_REDUNDANT_NETWORKING"),
            (VendorId::EPROSIMA, 0x8002) => Some("FASTDDS_PERSISTENCE_GUID"),
            (VendorId::EPROSIMA, 0x8005) => Some("FASTDDS_DISABLE_POSITIVE_ACKS"),
            (VendorId::EPROSIMA, 0x8006) => Some("FASTDDS_DATASHARING"),
            (VendorId::EPROSIMA, 0x800f) => Some("FASTDDS_RELATED_SAMPLE_IDENTITY"),
            _ => None,
        };
    }
    Some(match id {
        PAD => "PAD",
        SENTINEL => "SENTINEL",
        PARTICIPANT_LEASE_DURATION => "PARTICIPANT_LEASE_DURATION",
        TIME_BASED_FILTER => "TIME_BASED_FILTER",
        TOPIC_NAME => "TOPIC_NAME",
        OWNERSHIP_STRENGTH => "OWNERSHIP_STRENGTH",
        TYPE_NAME => "TYPE_NAME",
        DOMAIN_ID => "DOMAIN_ID",
        PROTOCOL_VERSION => "PROTOCOL_VERSION",
        VENDOR_ID => "VENDOR_ID",
        RELIABILITY => "RELIABILITY",
        LIVELINESS => "LIVELINESS",
        DURABILITY => "DURABILITY",
        DURABILITY_SERVICE => "DURABILITY_SERVICE",
        OWNERSHIP => "OWNERSHIP",
        PRESENTATION => "PRESENTATION",
        DEADLINE => "DEADLINE",
        DESTINATION_ORDER => "DESTINATION_ORDER",
        LATENCY_BUDGET => "LATENCY_BUDGET",
        PARTITION => "PARTITION",
        LIFESPAN => "LIFESPAN",
        USER_DATA => "USER_DATA",
        GROUP_DATA => "GROUP_DATA",
        TOPIC_DATA => "TOPIC_DATA",
        UNICAST_LOCATOR => "UNICAST_LOCATOR",
        MULTICAST_LOCATOR => "MULTICAST_LOCATOR",
        DEFAULT_UNICAST_LOCATOR => "DEFAULT_UNICAST_LOCATOR",
        METATRAFFIC_UNICAST_LOCATOR => "METATRAFFIC_UNICAST_LOCATOR",
        METATRAFFIC_MULTICAST_LOCATOR => "METATRAFFIC_MULTICAST_LOCATOR",
        PARTICIPANT_MANUAL_LIVELINESS_COUNT => "PARTICIPANT_MANUAL_LIVELINESS_COUNT",
        CONTENT_FILTER_PROPERTY => "CONTENT_FILTER_PROPERTY",
        HISTORY => "HISTORY",
        RESOURCE_LIMITS => "RESOURCE_LIMITS",
        EXPECTS_INLINE_QOS => "EXPECTS_INLINE_QOS",
        PARTICIPANT_BUILTIN_ENDPOINTS => "PARTICIPANT_BUILTIN_ENDPOINTS",
        DEFAULT_MULTICAST_LOCATOR => "DEFAULT_MULTICAST_LOCATOR",
        TRANSPORT_PRIORITY => "TRANSPORT_PRIORITY",
        PARTICIPANT_GUID => "PARTICIPANT_GUID",
        GROUP_GUID => "GROUP_GUID",
        CONTENT_FILTER_INFO => "CONTENT_FILTER_INFO",
        COHERENT_SET => "COHERENT_SET",
        DIRECTED_WRITE => "DIRECTED_WRITE",
        BUILTIN_ENDPOINT_SET => "BUILTIN_ENDPOINT_SET",
        PROPERTY_LIST => "PROPERTY_LIST",
        ENDPOINT_GUID => "ENDPOINT_GUID",
        TYPE_MAX_SIZE_SERIALIZED => "TYPE_MAX_SIZE_SERIALIZED",
        ORIGINAL_WRITER_INFO => "ORIGINAL_WRITER_INFO",
        ENTITY_NAME => "ENTITY_NAME",
        TYPE_IDV1 => "TYPE_IDV1",
        KEY_HASH => "KEY_HASH",
        STATUS_INFO => "STATUS_INFO",
        CUSTOM_RELATED_SAMPLE_IDENTITY => "CUSTOM_RELATED_SAMPLE_IDENTITY",
        TYPE_OBJECTV1 => "TYPE_OBJECTV1",
        DATA_REPRESENTATION => "DATA_REPRESENTATION",
        TYPE_CONSISTENCY_ENFORCEMENT => "TYPE_CONSISTENCY_ENFORCEMENT",
        TYPE_INFORMATION => "TYPE_INFORMATION",
        BUILTIN_ENDPOINT_QOS => "BUILTIN_ENDPOINT_QOS",
        RELATED_SAMPLE_IDENTITY => "RELATED_SAMPLE_IDENTITY",
        DOMAIN_TAG => "DOMAIN_TAG",
        LIST_END => "LIST_END",
        _ => return None,
    })
}

/// One parameter: its id and its value bytes (exactly `length` long, padding included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter<'a> {
    /// Parameter id.
    pub id: u16,
    /// The value, in the list's byte order.
    pub value: &'a [u8],
    /// The list's byte order.
    pub endian: Endian,
}

impl<'a> Parameter<'a> {
    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    pub(crate) fn cursor(&self) -> Cursor<'a> {
        Cursor::new(self.value, self.endian)
    }

    /// Whether the vendor bit is set.
    pub fn is_vendor(&self) -> bool {
        self.id & pid::VENDOR_BIT != 0
    }

    /// Whether the must-understand bit is set.
    pub fn must_understand(&self) -> bool {
        self.id & pid::MUST_UNDERSTAND_BIT != 0 && self.id & pid::VENDOR_BIT == 0
    }

    /// The value as a u32.
    pub fn as_u32(&self) -> Result<u32> {
        self.cursor()
            .u32()
            .map_err(|_| Error::BadParameter(self.id))
    }

    /// The value as a Duration.
    pub fn as_duration(&self) -> Result<Duration> {
        Duration::read(&mut self.cursor()).map_err(|_| Error::BadParameter(self.id))
    }

    /// The value as a GUID.
    pub fn as_guid(&self) -> Result<Guid> {
        let b: [u8; 16] = self
            .cursor()
            .array()
            .map_err(|_| Error::BadParameter(self.id))?;
        Ok(Guid::from_bytes(b))
    }

    /// The value as a locator.
    pub fn as_locator(&self) -> Result<Locator> {
        Locator::read(&mut self.cursor()).map_err(|_| Error::BadParameter(self.id))
    }

    /// The value as a CDR string (without its NUL).
    pub fn as_str(&self) -> Result<&'a str> {
        read_string(&mut self.cursor())
    }

    /// The value as a CDR octet sequence.
    pub fn as_octets(&self) -> Result<&'a [u8]> {
        let mut c = self.cursor();
        let n = c.u32().map_err(|_| Error::BadParameter(self.id))? as usize;
        c.bytes(n).map_err(|_| Error::BadParameter(self.id))
    }
}

/// Reads a CDR string: u32 length including the NUL, the bytes, the NUL.
pub(crate) fn read_string<'a>(c: &mut Cursor<'a>) -> Result<&'a str> {
    let n = c.u32().map_err(|_| Error::BadString)? as usize;
    if n == 0 {
        // Not legal CDR (the NUL is counted), but some stacks send it for "".
        return Ok("");
    }
    let b = c.bytes(n).map_err(|_| Error::BadString)?;
    let (last, s) = b.split_last().ok_or(Error::BadString)?;
    if *last != 0 {
        return Err(Error::BadString);
    }
    core::str::from_utf8(s).map_err(|_| Error::BadString)
}

/// Walks a parameter list in place, up to and including its sentinel.
///
/// Yields each parameter except PAD; yields `Err` once and stops if a parameter runs past the
/// end or the list ends without a sentinel. Lengths that are not a multiple of 4 are tolerated
/// on input (the next parameter starts at the next multiple of 4).
#[derive(Debug, Clone)]
pub struct ParameterListIter<'a> {
    data: &'a [u8],
    pos: usize,
    endian: Endian,
    state: IterState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IterState {
    Running,
    Ended(usize),
    Failed,
}

impl<'a> ParameterListIter<'a> {
    /// Walks `data` (which may continue beyond the list) in byte order `endian`.
    pub fn new(data: &'a [u8], endian: Endian) -> Self {
        ParameterListIter {
            data,
            pos: 0,
            endian,
            state: IterState::Running,
        }
    }

    /// After the iterator has finished: the list's length including the sentinel, or `None` if
    /// it failed or has not reached the sentinel yet.
    pub fn consumed(&self) -> Option<usize> {
        match self.state {
            IterState::Ended(n) => Some(n),
            _ => None,
        }
    }

    fn step(&mut self) -> Result<Option<Parameter<'a>>> {
        loop {
            let rest = &self.data[self.pos..];
            if rest.len() < 4 {
                return Err(Error::BadParameterList);
            }
            let id = self.endian.u16([rest[0], rest[1]]);
            let len = self.endian.u16([rest[2], rest[3]]) as usize;
            if id == pid::SENTINEL || id & !pid::MUST_UNDERSTAND_BIT == pid::LIST_END {
                // Cyclone ignores the sentinel's length; so do we.
                self.state = IterState::Ended(self.pos + 4);
                return Ok(None);
            }
            if rest.len() - 4 < len {
                return Err(Error::BadParameterList);
            }
            let value = &rest[4..4 + len];
            self.pos += (4 + align4(len)).min(rest.len());
            if id == pid::PAD {
                continue;
            }
            return Ok(Some(Parameter {
                id,
                value,
                endian: self.endian,
            }));
        }
    }
}

impl<'a> Iterator for ParameterListIter<'a> {
    type Item = Result<Parameter<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != IterState::Running {
            return None;
        }
        match self.step() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => None,
            Err(e) => {
                self.state = IterState::Failed;
                Some(Err(e))
            }
        }
    }
}

/// Writes a parameter list: each value 4-aligned with its exact padded length, then the
/// sentinel.
pub struct ParameterListWriter<'a> {
    w: Writer<'a>,
}

impl<'a> ParameterListWriter<'a> {
    /// Writes into `buf` in byte order `endian`.
    pub fn new(buf: &'a mut [u8], endian: Endian) -> Self {
        ParameterListWriter {
            w: Writer::new(buf, endian),
        }
    }

    /// Writes one parameter whose value is produced by `f`; pads it to 4 bytes.
    pub(crate) fn with(
        &mut self,
        id: u16,
        f: impl FnOnce(&mut Writer<'_>) -> Result<()>,
    ) -> Result<()> {
        let start = self.open(id)?;
        f(&mut self.w)?;
        self.close(start)
    }

    /// Writes a parameter's header with a zero length; returns where it starts. Not inlined
    /// (nor is [`ParameterListWriter::close`]): every `with` shares one copy, which on a small
    /// device is flash, and discovery data is not written on the data path.
    #[inline(never)]
    fn open(&mut self, id: u16) -> Result<usize> {
        let start = self.w.pos();
        self.w.u16(id)?;
        self.w.u16(0)?;
        Ok(start)
    }

    /// Pads the parameter opened at `start` to 4 bytes and patches its length.
    #[inline(never)]
    fn close(&mut self, start: usize) -> Result<()> {
        self.w.align(4)?;
        let len = self.w.pos() - start - 4;
        let len = u16::try_from(len).map_err(|_| Error::TooLarge)?;
        self.w.patch_u16(start + 2, len);
        Ok(())
    }

    /// A parameter with raw value bytes (padded to 4).
    pub fn raw(&mut self, id: u16, value: &[u8]) -> Result<()> {
        self.with(id, |w| w.bytes(value))
    }

    /// A u32 parameter.
    pub fn u32(&mut self, id: u16, v: u32) -> Result<()> {
        self.with(id, |w| w.u32(v))
    }

    /// A Duration parameter.
    pub fn duration(&mut self, id: u16, d: Duration) -> Result<()> {
        self.with(id, |w| d.write(w))
    }

    /// A GUID parameter.
    pub fn guid(&mut self, id: u16, g: Guid) -> Result<()> {
        self.with(id, |w| w.bytes(&g.to_bytes()))
    }

    /// A locator parameter.
    pub fn locator(&mut self, id: u16, l: &Locator) -> Result<()> {
        self.with(id, |w| l.write(w))
    }

    /// A CDR string parameter.
    pub fn string(&mut self, id: u16, s: &str) -> Result<()> {
        self.with(id, |w| write_string(w, s))
    }

    /// A CDR octet-sequence parameter.
    pub fn octets(&mut self, id: u16, b: &[u8]) -> Result<()> {
        self.with(id, |w| {
            w.u32(u32::try_from(b.len()).map_err(|_| Error::TooLarge)?)?;
            w.bytes(b)
        })
    }

    /// Writes the sentinel and returns the list's total length.
    pub fn finish(mut self) -> Result<usize> {
        self.w.u16(pid::SENTINEL)?;
        self.w.u16(0)?;
        Ok(self.w.pos())
    }
}

/// Writes a CDR string (length including NUL, bytes, NUL); alignment is the caller's.
pub(crate) fn write_string(w: &mut Writer<'_>, s: &str) -> Result<()> {
    w.u32(u32::try_from(s.len() + 1).map_err(|_| Error::TooLarge)?)?;
    w.bytes(s.as_bytes())?;
    w.u8(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_and_consumed() {
        let mut buf = [0u8; 64];
        let mut w = ParameterListWriter::new(&mut buf, Endian::Little);
        w.string(pid::TOPIC_NAME, "abc").unwrap();
        w.u32(pid::DOMAIN_ID, 7).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(n, 4 + 8 + 4 + 4 + 4);
        let mut it = ParameterListIter::new(&buf[..n + 8], Endian::Little);
        let p = it.next().unwrap().unwrap();
        assert_eq!((p.id, p.as_str().unwrap()), (pid::TOPIC_NAME, "abc"));
        let p = it.next().unwrap().unwrap();
        assert_eq!((p.id, p.as_u32().unwrap()), (pid::DOMAIN_ID, 7));
        assert!(it.next().is_none());
        assert_eq!(it.consumed(), Some(n));
    }

    #[test]
    fn missing_sentinel_is_an_error() {
        let b = [0x0f, 0, 4, 0, 1, 0, 0, 0];
        let mut it = ParameterListIter::new(&b, Endian::Little);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(Error::BadParameterList)));
        assert_eq!(it.next(), None);
        assert_eq!(it.consumed(), None);
    }

    #[test]
    fn overlong_parameter_is_an_error() {
        let b = [0x0f, 0, 40, 0, 1, 0, 0, 0, 1, 0, 0, 0];
        let mut it = ParameterListIter::new(&b, Endian::Little);
        assert_eq!(it.next(), Some(Err(Error::BadParameterList)));
    }
}
