//! Typed writers and readers: Rust values with serde's `Serialize`/`Deserialize` in and out of
//! the engine as CDR samples (XCDR1, little-endian out, either byte order in), through the
//! `cdr-encoding` crate. A ROS 2 message is a struct with its fields in definition order (for
//! example `struct Vector3 { x: f64, y: f64, z: f64 }` for `geometry_msgs/msg/Vector3` on
//! type `geometry_msgs::msg::dds_::Vector3_`); sequences are `Vec`, fixed arrays `[T; N]`.
//!
//! They work on any [`Engine`], whichever driver runs it.
//!
//! ```no_run
//! use pollen_app::typed::{TypedReader, TypedWriter};
//! use pollen_engine::{ReaderQos, TopicSpec, WriterQos};
//! # fn f(e: &mut pollen_engine::Engine<'static>, now: pollen_engine::Instant) {
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Vector3 { x: f64, y: f64, z: f64 }
//! let topic = TopicSpec::new("rt/position", "geometry_msgs::msg::dds_::Vector3_");
//! let w = TypedWriter::<Vector3>::create(e, now, &topic, &WriterQos::default()).unwrap();
//! w.write(e, now, &Vector3 { x: 1.0, y: 2.0, z: 3.0 }).unwrap();
//! let mut r = TypedReader::<Vector3>::create(e, now, &topic, &ReaderQos::default()).unwrap();
//! while let Ok(Some((v, info))) = r.take(e) { let _ = (v.x, info.sn); }
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;

use pollen_engine::wire::{SequenceNumber, Time};
use pollen_engine::{
    CreateError, Engine, Instant, ReaderHandle, ReaderQos, SampleInfo, TakeError, TopicSpec,
    WriteError, WriterHandle, WriterQos,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a typed write or take failed.
#[derive(Debug)]
pub enum TypedError {
    /// The value does not serialize (or a sample does not deserialize) as CDR.
    Cdr(String),
    /// The engine refused the write.
    Write(WriteError),
    /// The engine refused the take.
    Take(TakeError),
}

impl fmt::Display for TypedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedError::Cdr(e) => write!(f, "CDR: {e}"),
            TypedError::Write(e) => write!(f, "write: {e}"),
            TypedError::Take(e) => write!(f, "take: {e}"),
        }
    }
}

impl std::error::Error for TypedError {}

/// The CDR sample of `value`, encapsulation header (CDR_LE) included.
pub fn to_sample<T: Serialize>(value: &T) -> Result<Vec<u8>, TypedError> {
    let body = cdr_encoding::to_vec::<T, byteorder::LittleEndian>(value)
        .map_err(|e| TypedError::Cdr(e.to_string()))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The value of a CDR sample (encapsulation header included, either byte order).
pub fn from_sample<T: DeserializeOwned>(sample: &[u8]) -> Result<T, TypedError> {
    let body = sample
        .get(4..)
        .ok_or_else(|| TypedError::Cdr("shorter than its encapsulation header".into()))?;
    let r = match sample[..2] {
        [0x00, 0x01] => cdr_encoding::from_bytes::<T, byteorder::LittleEndian>(body),
        [0x00, 0x00] => cdr_encoding::from_bytes::<T, byteorder::BigEndian>(body),
        _ => {
            return Err(TypedError::Cdr(format!(
                "encapsulation {:02x?} is not plain CDR",
                &sample[..2]
            )))
        }
    };
    r.map(|(v, _)| v)
        .map_err(|e| TypedError::Cdr(e.to_string()))
}

/// A writer of `T` values.
pub struct TypedWriter<T> {
    /// The engine's writer.
    pub handle: WriterHandle,
    _t: PhantomData<fn(&T)>,
}

impl<T: Serialize> TypedWriter<T> {
    /// Creates the writer on `topic`.
    pub fn create(
        e: &mut Engine<'_>,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &WriterQos,
    ) -> Result<Self, CreateError> {
        Ok(TypedWriter {
            handle: e.create_writer(now, topic, qos)?,
            _t: PhantomData,
        })
    }

    /// Writes `value`.
    pub fn write(
        &self,
        e: &mut Engine<'_>,
        now: Instant,
        value: &T,
    ) -> Result<SequenceNumber, TypedError> {
        let sample = to_sample(value)?;
        e.write(now, self.handle, &sample, Time::ZERO)
            .map_err(TypedError::Write)
    }
}

/// A reader of `T` values.
pub struct TypedReader<T> {
    /// The engine's reader.
    pub handle: ReaderHandle,
    buf: Vec<u8>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedReader<T> {
    /// Creates the reader on `topic`.
    pub fn create(
        e: &mut Engine<'_>,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &ReaderQos,
    ) -> Result<Self, CreateError> {
        Ok(TypedReader {
            handle: e.create_reader(now, topic, qos)?,
            buf: vec![0; 1024],
            _t: PhantomData,
        })
    }

    /// Takes the next sample as a `T`; a sample that does not deserialize is taken and
    /// reported ([`TypedError::Cdr`]), so the next call goes on with the next one.
    pub fn take(&mut self, e: &mut Engine<'_>) -> Result<Option<(T, SampleInfo)>, TypedError> {
        match crate::take(e, self.handle, &mut self.buf) {
            Ok(Some(info)) => from_sample(&self.buf[..info.len]).map(|v| Some((v, info))),
            Ok(None) => Ok(None),
            Err(e) => Err(TypedError::Take(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Vector3 {
        x: f64,
        y: f64,
        z: f64,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Scan {
        frame: String,
        code: [u8; 3],
        ranges: Vec<f32>,
        at: Vector3,
    }

    #[test]
    fn values_round_trip_with_ros_layout() {
        let v = Vector3 {
            x: 0.5,
            y: -1.0,
            z: 2.0,
        };
        let s = to_sample(&v).unwrap();
        assert_eq!(s.len(), 4 + 24);
        assert_eq!(&s[4..12], &0.5f64.to_le_bytes());
        assert_eq!(from_sample::<Vector3>(&s).unwrap(), v);
        let scan = Scan {
            frame: "laser".into(),
            code: [1, 2, 3],
            ranges: vec![1.0, 2.5],
            at: v,
        };
        let s = to_sample(&scan).unwrap();
        assert_eq!(from_sample::<Scan>(&s).unwrap(), scan);
        for n in 0..s.len() {
            assert!(from_sample::<Scan>(&s[..n]).is_err(), "truncated at {n}");
        }
    }
}
