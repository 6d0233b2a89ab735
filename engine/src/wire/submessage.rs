//! Submessages: the iterator over a message and a `Repr` for each kind (rtps-wire.md §1.2-1.5).

use super::endian::{Cursor, Writer};
use super::header::{Header, HeaderRepr, HEADER_LEN};
use super::parameter::ParameterListIter;
use super::{
    Count, Endian, EntityId, Error, FragmentNumberSet, GuidPrefix, Locator, ProtocolVersion,
    Result, SequenceNumber, SequenceNumberSet, Time, VendorId,
};

/// Length of a submessage header.
pub const SUBMESSAGE_HEADER_LEN: usize = 4;

/// Submessage ids.
pub mod submessage_id {
    /// HEADER_EXTENSION (RTPS 2.5).
    pub const HEADER_EXTENSION: u8 = 0x00;
    /// PAD.
    pub const PAD: u8 = 0x01;
    /// ACKNACK.
    pub const ACKNACK: u8 = 0x06;
    /// HEARTBEAT.
    pub const HEARTBEAT: u8 = 0x07;
    /// GAP.
    pub const GAP: u8 = 0x08;
    /// INFO_TS.
    pub const INFO_TS: u8 = 0x09;
    /// INFO_SRC.
    pub const INFO_SRC: u8 = 0x0c;
    /// INFO_REPLY_IP4.
    pub const INFO_REPLY_IP4: u8 = 0x0d;
    /// INFO_DST.
    pub const INFO_DST: u8 = 0x0e;
    /// INFO_REPLY.
    pub const INFO_REPLY: u8 = 0x0f;
    /// NACK_FRAG.
    pub const NACK_FRAG: u8 = 0x12;
    /// HEARTBEAT_FRAG.
    pub const HEARTBEAT_FRAG: u8 = 0x13;
    /// DATA.
    pub const DATA: u8 = 0x15;
    /// DATA_FRAG.
    pub const DATA_FRAG: u8 = 0x16;
    /// First vendor-specific id.
    pub const VENDOR_MIN: u8 = 0x80;
    /// Cyclone DDS (vendor 01.10): ADLINK_MSG_LEN, the stream framing length.
    pub const ADLINK_MSG_LEN: u8 = 0x81;
}

/// Flag bits (bit 0, the E flag, is common to all).
pub mod flags {
    /// E: little-endian body.
    pub const ENDIANNESS: u8 = 0x01;
    /// ACKNACK F: no HEARTBEAT needed in reply.
    pub const ACKNACK_FINAL: u8 = 0x02;
    /// HEARTBEAT F: no ACKNACK needed unless data is missing.
    pub const HEARTBEAT_FINAL: u8 = 0x02;
    /// HEARTBEAT L: liveliness assertion.
    pub const HEARTBEAT_LIVELINESS: u8 = 0x04;
    /// INFO_TS I: invalidate the timestamp (no body).
    pub const INFO_TS_INVALIDATE: u8 = 0x02;
    /// INFO_REPLY / INFO_REPLY_IP4 M: multicast locators present.
    pub const INFO_REPLY_MULTICAST: u8 = 0x02;
    /// DATA Q: inline QoS present.
    pub const DATA_INLINE_QOS: u8 = 0x02;
    /// DATA D: serialized sample present.
    pub const DATA_DATA: u8 = 0x04;
    /// DATA K: serialized key present.
    pub const DATA_KEY: u8 = 0x08;
    /// DATA N: non-standard payload.
    pub const DATA_NON_STANDARD: u8 = 0x10;
    /// DATA_FRAG Q: inline QoS present.
    pub const DATA_FRAG_INLINE_QOS: u8 = 0x02;
    /// DATA_FRAG K: fragments of a serialized key.
    pub const DATA_FRAG_KEY: u8 = 0x04;
    /// DATA_FRAG N: non-standard payload.
    pub const DATA_FRAG_NON_STANDARD: u8 = 0x08;
}

/// The spec's upper-case name of a submessage id (`"VENDOR"` for ids >= 0x80).
pub fn submessage_name(id: u8) -> &'static str {
    use submessage_id::*;
    match id {
        HEADER_EXTENSION => "HEADER_EXTENSION",
        PAD => "PAD",
        ACKNACK => "ACKNACK",
        HEARTBEAT => "HEARTBEAT",
        GAP => "GAP",
        INFO_TS => "INFO_TS",
        INFO_SRC => "INFO_SRC",
        INFO_REPLY_IP4 => "INFO_REPLY_IP4",
        INFO_DST => "INFO_DST",
        INFO_REPLY => "INFO_REPLY",
        NACK_FRAG => "NACK_FRAG",
        HEARTBEAT_FRAG => "HEARTBEAT_FRAG",
        DATA => "DATA",
        DATA_FRAG => "DATA_FRAG",
        0x30..=0x34 => "SECURITY",
        0x80..=0xff => "VENDOR",
        _ => "UNKNOWN",
    }
}

/// A whole RTPS message: its header and the bytes of its submessages.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The parsed header.
    pub header: HeaderRepr,
    body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Checks the header; submessages are parsed lazily by [`Message::submessages`].
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let h = Header::new_checked(data)?;
        Ok(Message {
            header: HeaderRepr::parse(&h)?,
            body: &data[HEADER_LEN..],
        })
    }

    /// Iterates the submessages, tracking the vendor in force for vendor-specific ids.
    pub fn submessages(&self) -> SubmessageIter<'a> {
        SubmessageIter::new(self.body, self.header.vendor_id)
    }
}

/// One submessage, framed but not yet interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSubmessage<'a> {
    /// Submessage id.
    pub id: u8,
    /// Flags, bit 0 = E.
    pub flags: u8,
    /// The body (after the 4-byte header), `octetsToNextHeader` long.
    pub body: &'a [u8],
    /// Offset of the submessage header within the message (from the RTPS magic).
    pub offset: usize,
    /// The vendor in force (from the header or the last INFO_SRC), for ids >= 0x80.
    pub vendor: VendorId,
}

impl<'a> RawSubmessage<'a> {
    /// The body's byte order.
    pub fn endian(&self) -> Endian {
        Endian::from_flags(self.flags)
    }

    /// Interprets the body.
    pub fn parse(&self) -> Result<SubmessageRepr<'a>> {
        SubmessageRepr::parse(self)
    }
}

/// Iterates the submessages of a message body, applying the `octetsToNextHeader` rules.
///
/// After the first framing error it yields that error once and then stops: like Cyclone, the
/// rest of a message with a bad length is not trusted.
#[derive(Debug, Clone)]
pub struct SubmessageIter<'a> {
    data: &'a [u8],
    pos: usize,
    vendor: VendorId,
    done: bool,
}

impl<'a> SubmessageIter<'a> {
    /// Iterates `data`, the bytes after a 20-byte header.
    pub fn new(data: &'a [u8], vendor: VendorId) -> Self {
        SubmessageIter {
            data,
            pos: 0,
            vendor,
            done: false,
        }
    }

    #[inline]
    fn next_inner(&mut self) -> Result<Option<RawSubmessage<'a>>> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() < SUBMESSAGE_HEADER_LEN {
            return Err(Error::Truncated);
        }
        let id = rest[0];
        let flags = rest[1];
        let otnh = Endian::from_flags(flags).u16([rest[2], rest[3]]) as usize;
        let avail = rest.len() - SUBMESSAGE_HEADER_LEN;
        let len = if otnh == 0 && id != submessage_id::PAD && id != submessage_id::INFO_TS {
            avail
        } else if otnh > avail || (otnh % 4 != 0 && otnh != avail) {
            // Past the end, or misaligned without ending the message.
            return Err(Error::BadSubmessageLength);
        } else {
            otnh
        };
        let body = &rest[SUBMESSAGE_HEADER_LEN..SUBMESSAGE_HEADER_LEN + len];
        let raw = RawSubmessage {
            id,
            flags,
            body,
            offset: HEADER_LEN + self.pos,
            vendor: self.vendor,
        };
        if id == submessage_id::INFO_SRC && body.len() >= 20 {
            self.vendor = VendorId([body[6], body[7]]);
        }
        self.pos += SUBMESSAGE_HEADER_LEN + len;
        Ok(Some(raw))
    }
}

impl<'a> Iterator for SubmessageIter<'a> {
    type Item = Result<RawSubmessage<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_inner() {
            Ok(Some(s)) => Some(Ok(s)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// ACKNACK: a reader's acknowledgement and negative acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckNackRepr {
    /// F flag: the writer need not answer with a HEARTBEAT.
    pub final_flag: bool,
    /// The acknowledging reader.
    pub reader_id: EntityId,
    /// The writer acknowledged.
    pub writer_id: EntityId,
    /// Base = first SN not yet received; bits = SNs requested again.
    pub reader_sn_state: SequenceNumberSet,
    /// Strictly increasing per reader.
    pub count: Count,
}

/// HEARTBEAT: a writer's announcement of the SNs it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRepr {
    /// F flag: no reply needed unless data is missing.
    pub final_flag: bool,
    /// L flag: liveliness assertion.
    pub liveliness_flag: bool,
    /// Target reader, or UNKNOWN for all.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// Oldest available SN.
    pub first_sn: SequenceNumber,
    /// Newest written SN.
    pub last_sn: SequenceNumber,
    /// Strictly increasing per writer.
    pub count: Count,
}

impl HeartbeatRepr {
    /// The validity rule of Cyclone and Fast DDS: `first >= 1` and `last >= first - 1`.
    pub fn is_valid(&self) -> bool {
        self.first_sn.0 >= 1 && self.last_sn.0 >= self.first_sn.0 - 1
    }
}

/// GAP: SNs that will never be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapRepr {
    /// Target reader, or UNKNOWN.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// Start of the irrelevant interval `[gap_start, gap_list.base)`.
    pub gap_start: SequenceNumber,
    /// Further irrelevant SNs.
    pub gap_list: SequenceNumberSet,
}

/// INFO_TS: source timestamp for the following submessages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoTsRepr {
    /// `None` when the I flag invalidates the timestamp.
    pub timestamp: Option<Time>,
}

/// INFO_SRC: a new source for the rest of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoSrcRepr {
    /// Source protocol version.
    pub version: ProtocolVersion,
    /// Source vendor.
    pub vendor_id: VendorId,
    /// Source participant.
    pub guid_prefix: GuidPrefix,
}

/// INFO_DST: the destination participant of the rest of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDstRepr {
    /// Destination; all zero means "everyone".
    pub guid_prefix: GuidPrefix,
}

/// INFO_REPLY_IP4: where to reply (IPv4 address as a u32, port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoReplyIp4Repr {
    /// Unicast reply address and port.
    pub unicast: (u32, u32),
    /// Multicast reply address and port, present with the M flag.
    pub multicast: Option<(u32, u32)>,
}

/// A sequence of locators borrowed from a message (INFO_REPLY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocatorSeq<'a> {
    endian: Endian,
    data: &'a [u8],
}

impl<'a> LocatorSeq<'a> {
    /// Wraps `n * 24` bytes of locators in the given byte order.
    pub fn new(data: &'a [u8], endian: Endian) -> Self {
        LocatorSeq {
            endian,
            data: &data[..data.len() - data.len() % Locator::WIRE_LEN],
        }
    }

    /// Number of locators.
    pub fn len(&self) -> usize {
        self.data.len() / Locator::WIRE_LEN
    }

    /// Whether the sequence is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The locators.
    pub fn iter(&self) -> impl Iterator<Item = Locator> + 'a {
        let endian = self.endian;
        self.data
            .chunks_exact(Locator::WIRE_LEN)
            .filter_map(move |c| Locator::read(&mut Cursor::new(c, endian)).ok())
    }

    fn read(c: &mut Cursor<'a>) -> Result<Self> {
        let n = c.u32()? as usize;
        let bytes = n.checked_mul(Locator::WIRE_LEN).ok_or(Error::Truncated)?;
        Ok(LocatorSeq {
            endian: c.endian,
            data: c.bytes(bytes)?,
        })
    }

    fn wire_len(&self) -> usize {
        4 + self.data.len()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u32(self.len() as u32)?;
        for l in self.iter() {
            l.write(w)?;
        }
        Ok(())
    }
}

/// INFO_REPLY: locator lists to reply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoReplyRepr<'a> {
    /// Unicast reply locators.
    pub unicast: LocatorSeq<'a>,
    /// Multicast reply locators, present with the M flag.
    pub multicast: Option<LocatorSeq<'a>>,
}

/// NACK_FRAG: a reader asks for fragments of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackFragRepr {
    /// The requesting reader.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The sample.
    pub writer_sn: SequenceNumber,
    /// The missing fragments (1-based).
    pub fragment_number_state: FragmentNumberSet,
    /// Strictly increasing.
    pub count: Count,
}

/// HEARTBEAT_FRAG: fragments 1..=last of one sample are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatFragRepr {
    /// Target reader, or UNKNOWN.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The sample.
    pub writer_sn: SequenceNumber,
    /// Last available fragment (1-based).
    pub last_fragment_num: u32,
    /// Strictly increasing.
    pub count: Count,
}

/// DATA: one sample, key or state change, with optional inline QoS.
///
/// The inline QoS and payload stay borrowed and in the submessage's byte order, so a DATA is
/// re-emitted in the order it carries (`endian`); Pollen's own DATA is little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRepr<'a> {
    /// Byte order of the body and of the inline QoS.
    pub endian: Endian,
    /// Target reader, or UNKNOWN for all.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The sample's sequence number.
    pub writer_sn: SequenceNumber,
    /// The inline QoS parameter list including its sentinel (Q flag).
    pub inline_qos: Option<&'a [u8]>,
    /// The serialized payload (D or K flag), encapsulation header included.
    pub payload: Option<&'a [u8]>,
    /// K flag: the payload is the serialized key only.
    pub key_flag: bool,
    /// N flag: the payload is not in a standard encapsulation.
    pub non_standard: bool,
}

impl<'a> DataRepr<'a> {
    /// Interprets a framed DATA (the caller checked `raw.id`): what
    /// [`SubmessageRepr::parse`] does for it, without building the enum of every
    /// submessage, for the receive path of every sample.
    #[inline]
    pub fn parse(raw: &RawSubmessage<'a>) -> Result<Self> {
        SubmessageRepr::parse_data(raw)
    }

    /// The submessage flags: endianness, Q, D or K, N.
    pub(crate) fn flags(&self) -> u8 {
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        self.endian.flag()
            | bit(self.inline_qos.is_some(), flags::DATA_INLINE_QOS)
            | bit(self.payload.is_some() && !self.key_flag, flags::DATA_DATA)
            | bit(self.payload.is_some() && self.key_flag, flags::DATA_KEY)
            | bit(self.non_standard, flags::DATA_NON_STANDARD)
    }

    /// The body's length before padding: the fixed 20 bytes, the inline QoS, the payload.
    pub(crate) fn body_len(&self) -> usize {
        20 + self.inline_qos.map_or(0, |q| q.len()) + self.payload.map_or(0, |p| p.len())
    }

    /// Iterates the inline QoS parameters.
    pub fn inline_qos_params(&self) -> Option<ParameterListIter<'a>> {
        self.inline_qos
            .map(|q| ParameterListIter::new(q, self.endian))
    }
}

/// DATA_FRAG: some consecutive fragments of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFragRepr<'a> {
    /// Byte order of the body and of the inline QoS.
    pub endian: Endian,
    /// Target reader, or UNKNOWN for all.
    pub reader_id: EntityId,
    /// The writer.
    pub writer_id: EntityId,
    /// The sample's sequence number.
    pub writer_sn: SequenceNumber,
    /// First fragment carried (1-based).
    pub fragment_starting_num: u32,
    /// Number of fragments carried.
    pub fragments_in_submessage: u16,
    /// Bytes per fragment (the sample's last fragment may be shorter).
    pub fragment_size: u16,
    /// Size of the whole serialized sample.
    pub sample_size: u32,
    /// The inline QoS parameter list including its sentinel (Q flag).
    pub inline_qos: Option<&'a [u8]>,
    /// The fragment bytes (possibly followed by padding up to 3 bytes).
    pub data: &'a [u8],
    /// K flag: fragments of a serialized key.
    pub key_flag: bool,
    /// N flag: non-standard payload.
    pub non_standard: bool,
}

impl<'a> DataFragRepr<'a> {
    /// The bytes of the fragments this submessage really carries within the sample (padding
    /// and bytes beyond `sample_size` dropped); `None` if the fields are inconsistent.
    pub fn fragment_bytes(&self) -> Option<(usize, &'a [u8])> {
        let fs = self.fragment_size as usize;
        let start = (self.fragment_starting_num as usize)
            .checked_sub(1)?
            .checked_mul(fs)?;
        let sample = self.sample_size as usize;
        if start >= sample {
            return None;
        }
        let want = (self.fragments_in_submessage as usize)
            .checked_mul(fs)?
            .min(sample - start);
        if self.data.len() < want {
            return None;
        }
        Some((start, &self.data[..want]))
    }
}

/// Every kind of submessage Pollen knows, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmessageRepr<'a> {
    /// PAD with `len` filler bytes.
    Pad {
        /// Filler length.
        len: u16,
    },
    /// ACKNACK.
    AckNack(AckNackRepr),
    /// HEARTBEAT.
    Heartbeat(HeartbeatRepr),
    /// GAP.
    Gap(GapRepr),
    /// INFO_TS.
    InfoTs(InfoTsRepr),
    /// INFO_SRC.
    InfoSrc(InfoSrcRepr),
    /// INFO_REPLY_IP4.
    InfoReplyIp4(InfoReplyIp4Repr),
    /// INFO_DST.
    InfoDst(InfoDstRepr),
    /// INFO_REPLY.
    InfoReply(InfoReplyRepr<'a>),
    /// NACK_FRAG.
    NackFrag(NackFragRepr),
    /// HEARTBEAT_FRAG.
    HeartbeatFrag(HeartbeatFragRepr),
    /// DATA.
    Data(DataRepr<'a>),
    /// DATA_FRAG.
    DataFrag(DataFragRepr<'a>),
    /// HEADER_EXTENSION, kept opaque (no peer emits it).
    HeaderExtension {
        /// Flags.
        flags: u8,
        /// Body.
        body: &'a [u8],
    },
    /// An id >= 0x80, meaningful only to `vendor`.
    Vendor {
        /// The vendor in force when it was received.
        vendor: VendorId,
        /// Submessage id.
        id: u8,
        /// Flags.
        flags: u8,
        /// Body.
        body: &'a [u8],
    },
    /// An id below 0x80 that Pollen does not know (security, obsolete 2.0 ids, future ids).
    Unknown {
        /// Submessage id.
        id: u8,
        /// Flags.
        flags: u8,
        /// Body.
        body: &'a [u8],
    },
}

fn inline_qos_len(body: &[u8], endian: Endian) -> Result<usize> {
    let mut it = ParameterListIter::new(body, endian);
    for p in it.by_ref() {
        p?;
    }
    it.consumed().ok_or(Error::BadParameterList)
}

impl<'a> SubmessageRepr<'a> {
    /// Interprets a framed submessage.
    pub fn parse(raw: &RawSubmessage<'a>) -> Result<Self> {
        use submessage_id as id;
        let e = raw.endian();
        let f = raw.flags;
        let mut c = Cursor::new(raw.body, e);
        Ok(match raw.id {
            id::PAD => SubmessageRepr::Pad {
                len: raw.body.len() as u16,
            },
            id::ACKNACK => {
                let reader_id = EntityId::read(&mut c)?;
                let writer_id = EntityId::read(&mut c)?;
                let reader_sn_state = SequenceNumberSet::read(&mut c)?;
                SubmessageRepr::AckNack(AckNackRepr {
                    final_flag: f & flags::ACKNACK_FINAL != 0,
                    reader_id,
                    writer_id,
                    reader_sn_state,
                    count: Count(c.u32()?),
                })
            }
            id::HEARTBEAT => SubmessageRepr::Heartbeat(HeartbeatRepr {
                final_flag: f & flags::HEARTBEAT_FINAL != 0,
                liveliness_flag: f & flags::HEARTBEAT_LIVELINESS != 0,
                reader_id: EntityId::read(&mut c)?,
                writer_id: EntityId::read(&mut c)?,
                first_sn: SequenceNumber::read(&mut c)?,
                last_sn: SequenceNumber::read(&mut c)?,
                count: Count(c.u32()?),
            }),
            id::GAP => SubmessageRepr::Gap(GapRepr {
                reader_id: EntityId::read(&mut c)?,
                writer_id: EntityId::read(&mut c)?,
                gap_start: SequenceNumber::read(&mut c)?,
                gap_list: SequenceNumberSet::read(&mut c)?,
            }),
            id::INFO_TS => SubmessageRepr::InfoTs(InfoTsRepr {
                timestamp: if f & flags::INFO_TS_INVALIDATE != 0 {
                    None
                } else {
                    Some(Time::read(&mut c)?)
                },
            }),
            id::INFO_SRC => {
                c.u32()?;
                let v = c.array::<2>()?;
                SubmessageRepr::InfoSrc(InfoSrcRepr {
                    version: ProtocolVersion {
                        major: v[0],
                        minor: v[1],
                    },
                    vendor_id: VendorId(c.array()?),
                    guid_prefix: GuidPrefix::read(&mut c)?,
                })
            }
            id::INFO_REPLY_IP4 => {
                let unicast = (c.u32()?, c.u32()?);
                let multicast = if f & flags::INFO_REPLY_MULTICAST != 0 {
                    Some((c.u32()?, c.u32()?))
                } else {
                    None
                };
                SubmessageRepr::InfoReplyIp4(InfoReplyIp4Repr { unicast, multicast })
            }
            id::INFO_DST => SubmessageRepr::InfoDst(InfoDstRepr {
                guid_prefix: GuidPrefix::read(&mut c)?,
            }),
            id::INFO_REPLY => {
                let unicast = LocatorSeq::read(&mut c)?;
                let multicast = if f & flags::INFO_REPLY_MULTICAST != 0 {
                    Some(LocatorSeq::read(&mut c)?)
                } else {
                    None
                };
                SubmessageRepr::InfoReply(InfoReplyRepr { unicast, multicast })
            }
            id::NACK_FRAG => {
                let reader_id = EntityId::read(&mut c)?;
                let writer_id = EntityId::read(&mut c)?;
                let writer_sn = SequenceNumber::read(&mut c)?;
                let fragment_number_state = FragmentNumberSet::read(&mut c)?;
                SubmessageRepr::NackFrag(NackFragRepr {
                    reader_id,
                    writer_id,
                    writer_sn,
                    fragment_number_state,
                    count: Count(c.u32()?),
                })
            }
            id::HEARTBEAT_FRAG => SubmessageRepr::HeartbeatFrag(HeartbeatFragRepr {
                reader_id: EntityId::read(&mut c)?,
                writer_id: EntityId::read(&mut c)?,
                writer_sn: SequenceNumber::read(&mut c)?,
                last_fragment_num: c.u32()?,
                count: Count(c.u32()?),
            }),
            id::DATA => SubmessageRepr::Data(Self::parse_data(raw)?),
            id::DATA_FRAG => SubmessageRepr::DataFrag(Self::parse_data_frag(raw, &mut c)?),
            id::HEADER_EXTENSION => SubmessageRepr::HeaderExtension {
                flags: f,
                body: raw.body,
            },
            0x80..=0xff => SubmessageRepr::Vendor {
                vendor: raw.vendor,
                id: raw.id,
                flags: f,
                body: raw.body,
            },
            other => SubmessageRepr::Unknown {
                id: other,
                flags: f,
                body: raw.body,
            },
        })
    }

    /// Skips `octetsToInlineQos` (counted from the end of that field) and splits off the
    /// inline QoS when the Q flag is set.
    fn split_inline_qos(
        c: &mut Cursor<'a>,
        fixed_after_otiq: usize,
        qos_flag: bool,
    ) -> Result<(Option<&'a [u8]>, &'a [u8])> {
        let otiq = c.u16()? as usize;
        if otiq % 4 != 0 || otiq < fixed_after_otiq {
            return Err(Error::BadInlineQosOffset);
        }
        // The caller goes on reading the fixed fields from `c`; a copy locates the variable part.
        let mut skip = c.clone();
        skip.bytes(otiq).map_err(|_| Error::BadInlineQosOffset)?;
        let rest = skip.rest();
        if qos_flag {
            let n = inline_qos_len(rest, c.endian)?;
            Ok((Some(&rest[..n]), &rest[n..]))
        } else {
            Ok((None, rest))
        }
    }

    /// DATA, the submessage of every sample: its fixed part read at fixed offsets (one
    /// length check instead of one per field), with the errors of the cursor reads it
    /// replaces (a body shorter than `extraFlags` + `octetsToInlineQos` is truncated; an
    /// offset past the body or below the fixed part is a bad offset).
    #[inline]
    fn parse_data(raw: &RawSubmessage<'a>) -> Result<DataRepr<'a>> {
        let f = raw.flags;
        let key_flag = f & flags::DATA_KEY != 0;
        let data_flag = f & flags::DATA_DATA != 0;
        if key_flag && data_flag {
            return Err(Error::DataAndKeyFlags);
        }
        let b = raw.body;
        let e = raw.endian();
        let Some(&[_, _, o0, o1]) = b.first_chunk::<4>() else {
            return Err(Error::Truncated);
        };
        // `octetsToInlineQos` counts from the end of its own field: 16 bytes of ids and SN.
        let otiq = e.u16([o0, o1]) as usize;
        let start = 4 + otiq;
        if otiq % 4 != 0 || otiq < 16 || start > b.len() {
            return Err(Error::BadInlineQosOffset);
        }
        let word = |at: usize| e.u32([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let writer_sn = SequenceNumber(((word(12) as i32 as i64) << 32) | word(16) as i64);
        let rest = &b[start..];
        let (inline_qos, rest) = if f & flags::DATA_INLINE_QOS != 0 {
            let n = inline_qos_len(rest, e)?;
            (Some(&rest[..n]), &rest[n..])
        } else {
            (None, rest)
        };
        Ok(DataRepr {
            endian: e,
            reader_id: EntityId([b[4], b[5], b[6], b[7]]),
            writer_id: EntityId([b[8], b[9], b[10], b[11]]),
            writer_sn,
            inline_qos,
            payload: if key_flag || data_flag {
                Some(rest)
            } else {
                None
            },
            key_flag,
            non_standard: f & flags::DATA_NON_STANDARD != 0,
        })
    }

    fn parse_data_frag(raw: &RawSubmessage<'a>, c: &mut Cursor<'a>) -> Result<DataFragRepr<'a>> {
        let f = raw.flags;
        c.u16()?; // extraFlags
        let (inline_qos, data) =
            Self::split_inline_qos(c, 28, f & flags::DATA_FRAG_INLINE_QOS != 0)?;
        let reader_id = EntityId::read(c)?;
        let writer_id = EntityId::read(c)?;
        let writer_sn = SequenceNumber::read(c)?;
        let fragment_starting_num = c.u32()?;
        let fragments_in_submessage = c.u16()?;
        let fragment_size = c.u16()?;
        let sample_size = c.u32()?;
        if fragment_size == 0 || fragment_starting_num == 0 || fragments_in_submessage == 0 {
            return Err(Error::BadFragment);
        }
        Ok(DataFragRepr {
            endian: raw.endian(),
            reader_id,
            writer_id,
            writer_sn,
            fragment_starting_num,
            fragments_in_submessage,
            fragment_size,
            sample_size,
            inline_qos,
            data,
            key_flag: f & flags::DATA_FRAG_KEY != 0,
            non_standard: f & flags::DATA_FRAG_NON_STANDARD != 0,
        })
    }

    /// The submessage id this value is emitted with.
    pub fn id(&self) -> u8 {
        use submessage_id as id;
        match self {
            SubmessageRepr::Pad { .. } => id::PAD,
            SubmessageRepr::AckNack(_) => id::ACKNACK,
            SubmessageRepr::Heartbeat(_) => id::HEARTBEAT,
            SubmessageRepr::Gap(_) => id::GAP,
            SubmessageRepr::InfoTs(_) => id::INFO_TS,
            SubmessageRepr::InfoSrc(_) => id::INFO_SRC,
            SubmessageRepr::InfoReplyIp4(_) => id::INFO_REPLY_IP4,
            SubmessageRepr::InfoDst(_) => id::INFO_DST,
            SubmessageRepr::InfoReply(_) => id::INFO_REPLY,
            SubmessageRepr::NackFrag(_) => id::NACK_FRAG,
            SubmessageRepr::HeartbeatFrag(_) => id::HEARTBEAT_FRAG,
            SubmessageRepr::Data(_) => id::DATA,
            SubmessageRepr::DataFrag(_) => id::DATA_FRAG,
            SubmessageRepr::HeaderExtension { .. } => id::HEADER_EXTENSION,
            SubmessageRepr::Vendor { id, .. } | SubmessageRepr::Unknown { id, .. } => *id,
        }
    }

    /// The spec's name for this submessage.
    pub fn name(&self) -> &'static str {
        submessage_name(self.id())
    }

    fn endian(&self) -> Endian {
        match self {
            SubmessageRepr::Data(d) => d.endian,
            SubmessageRepr::DataFrag(d) => d.endian,
            SubmessageRepr::InfoReply(r) => r.unicast.endian,
            SubmessageRepr::HeaderExtension { flags, .. }
            | SubmessageRepr::Vendor { flags, .. }
            | SubmessageRepr::Unknown { flags, .. } => Endian::from_flags(*flags),
            _ => Endian::Little,
        }
    }

    fn flags(&self) -> u8 {
        let e = self.endian().flag();
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        match self {
            SubmessageRepr::AckNack(a) => e | bit(a.final_flag, flags::ACKNACK_FINAL),
            SubmessageRepr::Heartbeat(h) => {
                e | bit(h.final_flag, flags::HEARTBEAT_FINAL)
                    | bit(h.liveliness_flag, flags::HEARTBEAT_LIVELINESS)
            }
            SubmessageRepr::InfoTs(t) => e | bit(t.timestamp.is_none(), flags::INFO_TS_INVALIDATE),
            SubmessageRepr::InfoReplyIp4(r) => {
                e | bit(r.multicast.is_some(), flags::INFO_REPLY_MULTICAST)
            }
            SubmessageRepr::InfoReply(r) => {
                e | bit(r.multicast.is_some(), flags::INFO_REPLY_MULTICAST)
            }
            SubmessageRepr::Data(d) => d.flags(),
            SubmessageRepr::DataFrag(d) => {
                e | bit(d.inline_qos.is_some(), flags::DATA_FRAG_INLINE_QOS)
                    | bit(d.key_flag, flags::DATA_FRAG_KEY)
                    | bit(d.non_standard, flags::DATA_FRAG_NON_STANDARD)
            }
            SubmessageRepr::HeaderExtension { flags, .. }
            | SubmessageRepr::Vendor { flags, .. }
            | SubmessageRepr::Unknown { flags, .. } => *flags,
            _ => e,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            SubmessageRepr::Pad { len } => *len as usize,
            SubmessageRepr::AckNack(a) => 8 + a.reader_sn_state.wire_len() + 4,
            SubmessageRepr::Heartbeat(_) => 28,
            SubmessageRepr::Gap(g) => 16 + g.gap_list.wire_len(),
            SubmessageRepr::InfoTs(t) => {
                if t.timestamp.is_some() {
                    8
                } else {
                    0
                }
            }
            SubmessageRepr::InfoSrc(_) => 20,
            SubmessageRepr::InfoReplyIp4(r) => {
                if r.multicast.is_some() {
                    16
                } else {
                    8
                }
            }
            SubmessageRepr::InfoDst(_) => 12,
            SubmessageRepr::InfoReply(r) => {
                r.unicast.wire_len() + r.multicast.map_or(0, |m| m.wire_len())
            }
            SubmessageRepr::NackFrag(n) => 16 + n.fragment_number_state.wire_len() + 4,
            SubmessageRepr::HeartbeatFrag(_) => 24,
            SubmessageRepr::Data(d) => d.body_len(),
            SubmessageRepr::DataFrag(d) => 32 + d.inline_qos.map_or(0, |q| q.len()) + d.data.len(),
            SubmessageRepr::HeaderExtension { body, .. }
            | SubmessageRepr::Vendor { body, .. }
            | SubmessageRepr::Unknown { body, .. } => body.len(),
        }
    }

    /// Encoded length, header included.
    pub fn buffer_len(&self) -> usize {
        SUBMESSAGE_HEADER_LEN + self.body_len()
    }

    /// Writes the submessage (header and body) at the start of `buf`; returns its length.
    ///
    /// `octetsToNextHeader` is always the exact body length, never the "to the end" 0: an
    /// empty HEADER_EXTENSION, vendor or unknown body cannot be framed and is refused with
    /// [`Error::BadSubmessageLength`] (PAD and INFO_TS may be empty).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let body_len = self.body_len();
        if body_len == 0 && !matches!(self, SubmessageRepr::Pad { .. } | SubmessageRepr::InfoTs(_))
        {
            return Err(Error::BadSubmessageLength);
        }
        let otnh = u16::try_from(body_len).map_err(|_| Error::TooLarge)?;
        let total = SUBMESSAGE_HEADER_LEN + body_len;
        let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let flags = self.flags();
        let mut w = Writer::new(out, Endian::from_flags(flags));
        w.u8(self.id())?;
        w.u8(flags)?;
        w.u16(otnh)?;
        self.emit_body(&mut w)?;
        debug_assert_eq!(w.pos(), total);
        Ok(total)
    }

    fn emit_body(&self, w: &mut Writer<'_>) -> Result<()> {
        match self {
            SubmessageRepr::Pad { len } => w.zeros(*len as usize),
            SubmessageRepr::AckNack(a) => {
                w.bytes(&a.reader_id.0)?;
                w.bytes(&a.writer_id.0)?;
                a.reader_sn_state.write(w)?;
                w.u32(a.count.0)
            }
            SubmessageRepr::Heartbeat(h) => {
                w.bytes(&h.reader_id.0)?;
                w.bytes(&h.writer_id.0)?;
                h.first_sn.write(w)?;
                h.last_sn.write(w)?;
                w.u32(h.count.0)
            }
            SubmessageRepr::Gap(g) => {
                w.bytes(&g.reader_id.0)?;
                w.bytes(&g.writer_id.0)?;
                g.gap_start.write(w)?;
                g.gap_list.write(w)
            }
            SubmessageRepr::InfoTs(t) => match t.timestamp {
                Some(ts) => ts.write(w),
                None => Ok(()),
            },
            SubmessageRepr::InfoSrc(s) => {
                w.u32(0)?;
                w.bytes(&[s.version.major, s.version.minor])?;
                w.bytes(&s.vendor_id.0)?;
                w.bytes(&s.guid_prefix.0)
            }
            SubmessageRepr::InfoReplyIp4(r) => {
                w.u32(r.unicast.0)?;
                w.u32(r.unicast.1)?;
                if let Some(m) = r.multicast {
                    w.u32(m.0)?;
                    w.u32(m.1)?;
                }
                Ok(())
            }
            SubmessageRepr::InfoDst(d) => w.bytes(&d.guid_prefix.0),
            SubmessageRepr::InfoReply(r) => {
                r.unicast.write(w)?;
                if let Some(m) = r.multicast {
                    m.write(w)?;
                }
                Ok(())
            }
            SubmessageRepr::NackFrag(n) => {
                w.bytes(&n.reader_id.0)?;
                w.bytes(&n.writer_id.0)?;
                n.writer_sn.write(w)?;
                n.fragment_number_state.write(w)?;
                w.u32(n.count.0)
            }
            SubmessageRepr::HeartbeatFrag(h) => {
                w.bytes(&h.reader_id.0)?;
                w.bytes(&h.writer_id.0)?;
                h.writer_sn.write(w)?;
                w.u32(h.last_fragment_num)?;
                w.u32(h.count.0)
            }
            SubmessageRepr::Data(d) => {
                w.u16(0)?;
                w.u16(16)?;
                w.bytes(&d.reader_id.0)?;
                w.bytes(&d.writer_id.0)?;
                d.writer_sn.write(w)?;
                w.bytes(d.inline_qos.unwrap_or(&[]))?;
                w.bytes(d.payload.unwrap_or(&[]))
            }
            SubmessageRepr::DataFrag(d) => {
                w.u16(0)?;
                w.u16(28)?;
                w.bytes(&d.reader_id.0)?;
                w.bytes(&d.writer_id.0)?;
                d.writer_sn.write(w)?;
                w.u32(d.fragment_starting_num)?;
                w.u16(d.fragments_in_submessage)?;
                w.u16(d.fragment_size)?;
                w.u32(d.sample_size)?;
                w.bytes(d.inline_qos.unwrap_or(&[]))?;
                w.bytes(d.data)
            }
            SubmessageRepr::HeaderExtension { body, .. }
            | SubmessageRepr::Vendor { body, .. }
            | SubmessageRepr::Unknown { body, .. } => w.bytes(body),
        }
    }
}
