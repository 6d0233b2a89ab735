//! RTPS primitive types (rtps-wire.md §2).

use super::endian::{Cursor, Writer};
use super::{Error, Result};
use core::fmt;

/// The 12-octet prefix shared by every entity of one participant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GuidPrefix(pub [u8; 12]);

impl GuidPrefix {
    /// The all-zero prefix (GUIDPREFIX_UNKNOWN).
    pub const UNKNOWN: GuidPrefix = GuidPrefix([0; 12]);

    #[inline]
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(GuidPrefix(c.array()?))
    }
}

impl fmt::Display for GuidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{:02x}", b)?;
        }
        Ok(())
    }
}

impl fmt::Debug for GuidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuidPrefix({})", self)
    }
}

/// What an entity is, from the last octet of its [`EntityId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// 0x00 / 0xc0 / 0x40.
    Unknown,
    /// 0x01 / 0xc1.
    Participant,
    /// 0x02 / 0xc2 / 0x42.
    WriterWithKey,
    /// 0x03 / 0xc3 / 0x43.
    WriterNoKey,
    /// 0x04 / 0xc4 / 0x44.
    ReaderNoKey,
    /// 0x07 / 0xc7 / 0x47.
    ReaderWithKey,
    /// 0x08 / 0xc8.
    WriterGroup,
    /// 0x09 / 0xc9.
    ReaderGroup,
    /// Any other low six bits (vendor topic kinds and the like).
    Other(u8),
}

/// The 4-octet id of an entity within its participant: a 3-octet key and a kind octet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EntityId(pub [u8; 4]);

impl EntityId {
    /// ENTITYID_UNKNOWN: "all readers" in DATA/HEARTBEAT/GAP.
    pub const UNKNOWN: EntityId = EntityId([0, 0, 0, 0]);
    /// The participant itself.
    pub const PARTICIPANT: EntityId = EntityId([0, 0, 1, 0xc1]);
    /// SPDP participant writer.
    pub const SPDP_WRITER: EntityId = EntityId([0, 1, 0, 0xc2]);
    /// SPDP participant reader.
    pub const SPDP_READER: EntityId = EntityId([0, 1, 0, 0xc7]);
    /// SEDP publications writer.
    pub const SEDP_PUB_WRITER: EntityId = EntityId([0, 0, 3, 0xc2]);
    /// SEDP publications reader.
    pub const SEDP_PUB_READER: EntityId = EntityId([0, 0, 3, 0xc7]);
    /// SEDP subscriptions writer.
    pub const SEDP_SUB_WRITER: EntityId = EntityId([0, 0, 4, 0xc2]);
    /// SEDP subscriptions reader.
    pub const SEDP_SUB_READER: EntityId = EntityId([0, 0, 4, 0xc7]);
    /// SEDP topics writer.
    pub const SEDP_TOPIC_WRITER: EntityId = EntityId([0, 0, 2, 0xc2]);
    /// SEDP topics reader.
    pub const SEDP_TOPIC_READER: EntityId = EntityId([0, 0, 2, 0xc7]);
    /// Participant message (writer liveliness) writer.
    pub const PMD_WRITER: EntityId = EntityId([0, 2, 0, 0xc2]);
    /// Participant message (writer liveliness) reader.
    pub const PMD_READER: EntityId = EntityId([0, 2, 0, 0xc7]);
    /// TypeLookup request writer.
    pub const TL_REQUEST_WRITER: EntityId = EntityId([0, 3, 0, 0xc3]);
    /// TypeLookup request reader.
    pub const TL_REQUEST_READER: EntityId = EntityId([0, 3, 0, 0xc4]);
    /// TypeLookup reply writer.
    pub const TL_REPLY_WRITER: EntityId = EntityId([0, 3, 1, 0xc3]);
    /// TypeLookup reply reader.
    pub const TL_REPLY_READER: EntityId = EntityId([0, 3, 1, 0xc4]);

    /// The 24-bit key.
    pub const fn key(&self) -> u32 {
        u32::from_be_bytes([0, self.0[0], self.0[1], self.0[2]])
    }

    /// Builds an id from a 24-bit key and a kind octet.
    pub const fn new(key: u32, kind: u8) -> EntityId {
        let k = key.to_be_bytes();
        EntityId([k[1], k[2], k[3], kind])
    }

    /// The id as a big-endian u32 (key in the top 24 bits, kind in the low 8).
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The raw kind octet.
    pub const fn kind_octet(self) -> u8 {
        self.0[3]
    }

    /// The kind, ignoring the built-in/vendor bits.
    pub fn kind(self) -> EntityKind {
        match self.0[3] & 0x3f {
            0x00 => EntityKind::Unknown,
            0x01 => EntityKind::Participant,
            0x02 => EntityKind::WriterWithKey,
            0x03 => EntityKind::WriterNoKey,
            0x04 => EntityKind::ReaderNoKey,
            0x07 => EntityKind::ReaderWithKey,
            0x08 => EntityKind::WriterGroup,
            0x09 => EntityKind::ReaderGroup,
            other => EntityKind::Other(other),
        }
    }

    /// Built-in entity (kind bits 7-6 = 11).
    pub const fn is_builtin(self) -> bool {
        self.0[3] & 0xc0 == 0xc0
    }

    /// Vendor-specific entity (kind bits 7-6 = 01).
    pub const fn is_vendor(self) -> bool {
        self.0[3] & 0xc0 == 0x40
    }

    /// A writer of either key kind.
    pub fn is_writer(self) -> bool {
        matches!(
            self.kind(),
            EntityKind::WriterWithKey | EntityKind::WriterNoKey
        )
    }

    /// A reader of either key kind.
    pub fn is_reader(self) -> bool {
        matches!(
            self.kind(),
            EntityKind::ReaderWithKey | EntityKind::ReaderNoKey
        )
    }

    /// A keyed writer or reader.
    pub fn is_keyed(self) -> bool {
        matches!(
            self.kind(),
            EntityKind::WriterWithKey | EntityKind::ReaderWithKey
        )
    }

    #[inline]
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(EntityId(c.array()?))
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.to_u32())
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({})", self)
    }
}

/// A globally unique entity id: participant prefix and entity id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid {
    /// The participant.
    pub prefix: GuidPrefix,
    /// The entity within it.
    pub entity: EntityId,
}

impl Guid {
    /// Joins a prefix and an entity id.
    pub const fn new(prefix: GuidPrefix, entity: EntityId) -> Guid {
        Guid { prefix, entity }
    }

    /// The 16 raw octets.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&self.prefix.0);
        b[12..].copy_from_slice(&self.entity.0);
        b
    }

    /// From 16 raw octets.
    pub fn from_bytes(b: [u8; 16]) -> Guid {
        let mut p = [0u8; 12];
        p.copy_from_slice(&b[..12]);
        Guid {
            prefix: GuidPrefix(p),
            entity: EntityId([b[12], b[13], b[14], b[15]]),
        }
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.prefix, self.entity)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({})", self)
    }
}

/// A 64-bit sequence number, encoded as `{i32 high, u32 low}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SequenceNumber(pub i64);

impl SequenceNumber {
    /// SEQUENCENUMBER_UNKNOWN = {-1, 0}.
    pub const UNKNOWN: SequenceNumber = SequenceNumber(-1i64 << 32);

    #[inline]
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        let high = c.i32()?;
        let low = c.u32()?;
        Ok(SequenceNumber(((high as i64) << 32) | low as i64))
    }

    #[inline]
    pub(crate) fn write(self, w: &mut Writer<'_>) -> Result<()> {
        w.i32((self.0 >> 32) as i32)?;
        w.u32(self.0 as u32)
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The most bits a sequence- or fragment-number set may carry.
pub const MAX_SET_BITS: u32 = 256;
const SET_WORDS: usize = (MAX_SET_BITS / 32) as usize;

fn read_bitmap(c: &mut Cursor<'_>) -> Result<(u32, [u32; SET_WORDS])> {
    let num_bits = c.u32()?;
    if num_bits > MAX_SET_BITS {
        return Err(Error::BadNumberSet);
    }
    let mut bitmap = [0u32; SET_WORDS];
    let words = num_bits.div_ceil(32) as usize;
    for w in bitmap.iter_mut().take(words) {
        *w = c.u32()?;
    }
    Ok((num_bits, bitmap))
}

fn write_bitmap(w: &mut Writer<'_>, num_bits: u32, bitmap: &[u32; SET_WORDS]) -> Result<()> {
    w.u32(num_bits)?;
    for word in bitmap.iter().take(num_bits.div_ceil(32) as usize) {
        w.u32(*word)?;
    }
    Ok(())
}

/// Bit `i` lives in word `i / 32` at bit `31 - i % 32` (most significant bit first).
fn bit_is_set(bitmap: &[u32; SET_WORDS], num_bits: u32, i: u32) -> bool {
    i < num_bits && bitmap[(i / 32) as usize] & (0x8000_0000 >> (i % 32)) != 0
}

fn set_bit(bitmap: &mut [u32; SET_WORDS], i: u32) {
    bitmap[(i / 32) as usize] |= 0x8000_0000 >> (i % 32);
}

/// Clears the bits beyond `num_bits` so equal sets compare equal.
fn mask_tail(bitmap: &mut [u32; SET_WORDS], num_bits: u32) {
    for (i, w) in bitmap.iter_mut().enumerate() {
        let lo = i as u32 * 32;
        if lo >= num_bits {
            *w = 0;
        } else if num_bits - lo < 32 {
            *w &= !(u32::MAX >> (num_bits - lo));
        }
    }
}

/// A base sequence number and up to 256 bits, bit i standing for `base + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceNumberSet {
    /// The first sequence number the bitmap covers.
    pub base: SequenceNumber,
    /// How many bits are meaningful (0..=256).
    pub num_bits: u32,
    /// The bitmap, most significant bit first; words beyond `num_bits` are zero.
    pub bitmap: [u32; SET_WORDS],
}

impl SequenceNumberSet {
    /// An empty set at `base` with room for `num_bits` bits (clamped to 256).
    pub fn new(base: SequenceNumber, num_bits: u32) -> Self {
        SequenceNumberSet {
            base,
            num_bits: num_bits.min(MAX_SET_BITS),
            bitmap: [0; SET_WORDS],
        }
    }

    /// Whether `sn` is in the set.
    pub fn contains(&self, sn: SequenceNumber) -> bool {
        let d = sn.0.wrapping_sub(self.base.0);
        (0..self.num_bits as i64).contains(&d) && bit_is_set(&self.bitmap, self.num_bits, d as u32)
    }

    /// Adds `sn`; returns false if it lies outside `[base, base + num_bits)`.
    pub fn insert(&mut self, sn: SequenceNumber) -> bool {
        let d = sn.0.wrapping_sub(self.base.0);
        if !(0..self.num_bits as i64).contains(&d) {
            return false;
        }
        set_bit(&mut self.bitmap, d as u32);
        true
    }

    /// The members, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = SequenceNumber> + '_ {
        (0..self.num_bits)
            .filter(move |&i| bit_is_set(&self.bitmap, self.num_bits, i))
            .map(move |i| SequenceNumber(self.base.0.wrapping_add(i as i64)))
    }

    /// Encoded size in bytes.
    pub fn wire_len(&self) -> usize {
        12 + 4 * self.num_bits.div_ceil(32) as usize
    }

    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        let base = SequenceNumber::read(c)?;
        let (num_bits, mut bitmap) = read_bitmap(c)?;
        mask_tail(&mut bitmap, num_bits);
        Ok(SequenceNumberSet {
            base,
            num_bits,
            bitmap,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        self.base.write(w)?;
        write_bitmap(w, self.num_bits, &self.bitmap)
    }
}

/// A base fragment number (1-based) and up to 256 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentNumberSet {
    /// The first fragment number the bitmap covers.
    pub base: u32,
    /// How many bits are meaningful (0..=256).
    pub num_bits: u32,
    /// The bitmap, most significant bit first; words beyond `num_bits` are zero.
    pub bitmap: [u32; SET_WORDS],
}

impl FragmentNumberSet {
    /// An empty set at `base` with room for `num_bits` bits (clamped to 256).
    pub fn new(base: u32, num_bits: u32) -> Self {
        FragmentNumberSet {
            base,
            num_bits: num_bits.min(MAX_SET_BITS),
            bitmap: [0; SET_WORDS],
        }
    }

    /// Whether fragment `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        n.checked_sub(self.base)
            .is_some_and(|d| bit_is_set(&self.bitmap, self.num_bits, d))
    }

    /// Adds fragment `n`; returns false if it lies outside `[base, base + num_bits)`.
    pub fn insert(&mut self, n: u32) -> bool {
        match n.checked_sub(self.base) {
            Some(d) if d < self.num_bits => {
                set_bit(&mut self.bitmap, d);
                true
            }
            _ => false,
        }
    }

    /// The members, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.num_bits)
            .filter(move |&i| bit_is_set(&self.bitmap, self.num_bits, i))
            .map(move |i| self.base.wrapping_add(i))
    }

    /// Encoded size in bytes.
    pub fn wire_len(&self) -> usize {
        8 + 4 * self.num_bits.div_ceil(32) as usize
    }

    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        let base = c.u32()?;
        let (num_bits, mut bitmap) = read_bitmap(c)?;
        mask_tail(&mut bitmap, num_bits);
        Ok(FragmentNumberSet {
            base,
            num_bits,
            bitmap,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        w.u32(self.base)?;
        write_bitmap(w, self.num_bits, &self.bitmap)
    }
}

/// An RTPS timestamp: seconds and a binary fraction of a second (2^-32 s units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Time {
    /// Whole seconds since the epoch (unsigned from RTPS 2.3 on).
    pub seconds: u32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl Time {
    /// TIME_ZERO.
    pub const ZERO: Time = Time {
        seconds: 0,
        fraction: 0,
    };
    /// TIME_INVALID.
    pub const INVALID: Time = Time {
        seconds: u32::MAX,
        fraction: u32::MAX,
    };
    /// TIME_INFINITE as written by RTPS 2.3 and later.
    pub const INFINITE: Time = Time {
        seconds: u32::MAX,
        fraction: u32::MAX - 1,
    };

    /// From nanoseconds since the epoch; the fraction is rounded up so that
    /// [`Time::to_nanos`] gives back exactly `ns` (the conversion pair Cyclone uses).
    pub fn from_nanos(ns: u64) -> Time {
        let secs = ns / 1_000_000_000;
        let sub = ns % 1_000_000_000;
        let fraction = ((sub << 32).div_ceil(1_000_000_000)) as u32;
        Time {
            seconds: secs as u32,
            fraction,
        }
    }

    /// To nanoseconds since the epoch, rounding the fraction to the nearest nanosecond.
    pub fn to_nanos(self) -> u64 {
        let sub = ((self.fraction as u64) * 1_000_000_000 + (1 << 31)) >> 32;
        self.seconds as u64 * 1_000_000_000 + sub
    }

    #[inline]
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(Time {
            seconds: c.u32()?,
            fraction: c.u32()?,
        })
    }

    #[inline]
    pub(crate) fn write(self, w: &mut Writer<'_>) -> Result<()> {
        w.u32(self.seconds)?;
        w.u32(self.fraction)
    }
}

/// A duration: signed seconds and a binary fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration {
    /// Whole seconds.
    pub seconds: i32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl Duration {
    /// DURATION_ZERO.
    pub const ZERO: Duration = Duration {
        seconds: 0,
        fraction: 0,
    };
    /// DURATION_INFINITE.
    pub const INFINITE: Duration = Duration {
        seconds: i32::MAX,
        fraction: u32::MAX,
    };

    /// Whole seconds.
    pub const fn from_secs(s: i32) -> Duration {
        Duration {
            seconds: s,
            fraction: 0,
        }
    }

    /// From microseconds (saturating at DURATION_INFINITE).
    pub fn from_micros(us: u64) -> Duration {
        let secs = us / 1_000_000;
        if secs >= i32::MAX as u64 {
            return Duration::INFINITE;
        }
        let sub = us % 1_000_000;
        Duration {
            seconds: secs as i32,
            fraction: ((sub << 32).div_ceil(1_000_000)) as u32,
        }
    }

    /// To microseconds; `None` for DURATION_INFINITE or a negative duration.
    pub fn to_micros(self) -> Option<u64> {
        if self == Duration::INFINITE || self.seconds < 0 {
            return None;
        }
        let sub = ((self.fraction as u64) * 1_000_000 + (1 << 31)) >> 32;
        Some(self.seconds as u64 * 1_000_000 + sub)
    }

    #[inline]
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(Duration {
            seconds: c.i32()?,
            fraction: c.u32()?,
        })
    }

    #[inline]
    pub(crate) fn write(self, w: &mut Writer<'_>) -> Result<()> {
        w.i32(self.seconds)?;
        w.u32(self.fraction)
    }
}

/// Locator kinds that Pollen interprets; anything else is carried as a raw number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocatorKind {
    /// -1.
    Invalid,
    /// 0.
    Reserved,
    /// 1.
    UdpV4,
    /// 2.
    UdpV6,
    /// 4.
    TcpV4,
    /// 8.
    TcpV6,
    /// 16: shared memory (Fast DDS, Cyclone Iceoryx/PSMX); meaningful only to its vendor.
    Shm,
    /// Anything else.
    Other(i32),
}

impl LocatorKind {
    /// From the wire value.
    pub fn from_i32(k: i32) -> Self {
        match k {
            -1 => LocatorKind::Invalid,
            0 => LocatorKind::Reserved,
            1 => LocatorKind::UdpV4,
            2 => LocatorKind::UdpV6,
            4 => LocatorKind::TcpV4,
            8 => LocatorKind::TcpV6,
            16 => LocatorKind::Shm,
            o => LocatorKind::Other(o),
        }
    }

    /// The wire value.
    pub fn to_i32(self) -> i32 {
        match self {
            LocatorKind::Invalid => -1,
            LocatorKind::Reserved => 0,
            LocatorKind::UdpV4 => 1,
            LocatorKind::UdpV6 => 2,
            LocatorKind::TcpV4 => 4,
            LocatorKind::TcpV6 => 8,
            LocatorKind::Shm => 16,
            LocatorKind::Other(o) => o,
        }
    }
}

/// A transport address: kind, port and 16 address octets (IPv4 in the last four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Locator {
    /// The raw kind (see [`LocatorKind`]).
    pub kind: i32,
    /// The port (1..=65535 for UDP and TCP).
    pub port: u32,
    /// Address octets.
    pub address: [u8; 16],
}

impl Locator {
    /// LOCATOR_INVALID.
    pub const INVALID: Locator = Locator {
        kind: -1,
        port: 0,
        address: [0; 16],
    };

    /// A UDPv4 locator.
    pub const fn udpv4(ip: [u8; 4], port: u16) -> Locator {
        Self::v4(1, ip, port)
    }

    /// A TCPv4 locator.
    pub const fn tcpv4(ip: [u8; 4], port: u16) -> Locator {
        Self::v4(4, ip, port)
    }

    const fn v4(kind: i32, ip: [u8; 4], port: u16) -> Locator {
        let mut address = [0u8; 16];
        address[12] = ip[0];
        address[13] = ip[1];
        address[14] = ip[2];
        address[15] = ip[3];
        Locator {
            kind,
            port: port as u32,
            address,
        }
    }

    /// The interpreted kind.
    pub fn kind(&self) -> LocatorKind {
        LocatorKind::from_i32(self.kind)
    }

    /// The IPv4 address and port of a UDPv4/TCPv4 locator.
    pub fn ipv4(&self) -> Option<([u8; 4], u16)> {
        match self.kind() {
            LocatorKind::UdpV4 | LocatorKind::TcpV4 if self.port <= u16::MAX as u32 => Some((
                [
                    self.address[12],
                    self.address[13],
                    self.address[14],
                    self.address[15],
                ],
                self.port as u16,
            )),
            _ => None,
        }
    }

    /// Whether this is a well-formed locator by Cyclone's rules: v4 kinds need a zero
    /// 12-octet prefix and a port in 1..=65535; v6 kinds a port in range; others pass.
    pub fn is_well_formed(&self) -> bool {
        match self.kind() {
            LocatorKind::UdpV4 | LocatorKind::TcpV4 => {
                self.address[..12] == [0; 12] && (1..=65535).contains(&self.port)
            }
            LocatorKind::UdpV6 | LocatorKind::TcpV6 => (1..=65535).contains(&self.port),
            _ => true,
        }
    }

    /// Encoded size in bytes.
    pub const WIRE_LEN: usize = 24;

    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self> {
        Ok(Locator {
            kind: c.i32()?,
            port: c.u32()?,
            address: c.array()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i32(self.kind)?;
        w.u32(self.port)?;
        w.bytes(&self.address)
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.address;
        match self.kind() {
            LocatorKind::UdpV4 | LocatorKind::TcpV4 => {
                let proto = if self.kind == 1 { "udp" } else { "tcp" };
                write!(
                    f,
                    "{}/{}.{}.{}.{}:{}",
                    proto, a[12], a[13], a[14], a[15], self.port
                )
            }
            LocatorKind::UdpV6 | LocatorKind::TcpV6 => {
                let proto = if self.kind == 2 { "udp6" } else { "tcp6" };
                write!(f, "{}/[", proto)?;
                for i in 0..8 {
                    if i > 0 {
                        f.write_str(":")?;
                    }
                    write!(f, "{:x}", u16::from_be_bytes([a[2 * i], a[2 * i + 1]]))?;
                }
                write!(f, "]:{}", self.port)
            }
            _ => {
                write!(f, "kind{}/", self.kind)?;
                for b in a {
                    write!(f, "{:02x}", b)?;
                }
                write!(f, ":{}", self.port)
            }
        }
    }
}

/// A message or heartbeat counter, compared with serial-number arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Count(pub u32);

impl Count {
    /// Whether `self` comes after `other` (RFC 1982 serial arithmetic).
    pub fn is_newer_than(self, other: Count) -> bool {
        let d = self.0.wrapping_sub(other.0);
        d != 0 && d < 0x8000_0000
    }
}

/// A two-octet vendor id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VendorId(pub [u8; 2]);

impl VendorId {
    /// 0x0000: unknown (what Pollen sends until it has its own id).
    pub const UNKNOWN: VendorId = VendorId([0, 0]);
    /// RTI Connext.
    pub const RTI: VendorId = VendorId([1, 1]);
    /// OCI OpenDDS.
    pub const OPENDDS: VendorId = VendorId([1, 3]);
    /// TwinOaks CoreDX.
    pub const TWINOAKS: VendorId = VendorId([1, 6]);
    /// RTI Connext Micro.
    pub const RTI_MICRO: VendorId = VendorId([1, 0x0a]);
    /// eProsima Fast DDS.
    pub const EPROSIMA: VendorId = VendorId([1, 0x0f]);
    /// Eclipse Cyclone DDS.
    pub const ECLIPSE: VendorId = VendorId([1, 0x10]);
    /// The id Pollen puts on the wire.
    pub const POLLEN: VendorId = VendorId::UNKNOWN;

    /// A human name for well-known vendors.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            [1, 1] => "RTI Connext",
            [1, 2] => "ADLINK OpenSplice",
            [1, 3] => "OCI OpenDDS",
            [1, 4] => "MilSoft",
            [1, 5] => "Kongsberg InterCOM",
            [1, 6] => "TwinOaks CoreDX",
            [1, 7] => "Lakota",
            [1, 8] => "ICOUP",
            [1, 9] => "ETRI",
            [1, 0x0a] => "RTI Connext Micro",
            [1, 0x0b] => "ADLINK Java",
            [1, 0x0c] => "ADLINK gateway",
            [1, 0x0d] => "ADLINK Lite",
            [1, 0x0e] => "Technicolor Qeo",
            [1, 0x0f] => "eProsima Fast DDS",
            [1, 0x10] => "Eclipse Cyclone DDS",
            [1, 0x11] => "GurumNetworks",
            [1, 0x12] => "Atostek RustDDS",
            [0, 0] => "unknown",
            _ => return None,
        })
    }
}

impl fmt::Display for VendorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}{:02x}", self.0[0], self.0[1])
    }
}

impl fmt::Debug for VendorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VendorId({})", self)
    }
}

/// Protocol version: major and minor octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProtocolVersion {
    /// Always 2 for RTPS 2.x.
    pub major: u8,
    /// 1 for Cyclone 0.10, 2-3 for Fast DDS, 5 for Cyclone 11.
    pub minor: u8,
}

impl ProtocolVersion {
    /// The version Pollen sends.
    pub const V2_3: ProtocolVersion = ProtocolVersion { major: 2, minor: 3 };
    /// RTPS 2.1.
    pub const V2_1: ProtocolVersion = ProtocolVersion { major: 2, minor: 1 };
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Endian;

    #[test]
    fn time_nanos_round_trip() {
        for ns in [0u64, 1, 999_999_999, 1_700_000_000_123_456_789] {
            assert_eq!(Time::from_nanos(ns).to_nanos(), ns);
        }
    }

    #[test]
    fn sequence_number_set_bits_msb_first() {
        let mut s = SequenceNumberSet::new(SequenceNumber(10), 40);
        assert!(s.insert(SequenceNumber(10)));
        assert!(s.insert(SequenceNumber(43)));
        assert!(!s.insert(SequenceNumber(50)));
        assert_eq!(s.bitmap[0], 0x8000_0000);
        assert_eq!(s.bitmap[1], 0x4000_0000);
        let v: [i64; 2] = [10, 43];
        assert!(s.iter().map(|x| x.0).eq(v.iter().copied()));
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf, Endian::Big);
        s.write(&mut w).unwrap();
        let n = w.pos();
        assert_eq!(n, s.wire_len());
        let back = SequenceNumberSet::read(&mut Cursor::new(&buf[..n], Endian::Big)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn oversized_set_rejected() {
        let mut b = [0u8; 12];
        b[8..12].copy_from_slice(&257u32.to_le_bytes());
        assert_eq!(
            SequenceNumberSet::read(&mut Cursor::new(&b, Endian::Little)),
            Err(Error::BadNumberSet)
        );
    }

    #[test]
    fn count_serial_arithmetic() {
        assert!(Count(2).is_newer_than(Count(1)));
        assert!(Count(0).is_newer_than(Count(u32::MAX)));
        assert!(!Count(1).is_newer_than(Count(1)));
    }
}
