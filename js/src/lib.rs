//! Pollen's JavaScript package: the Sans-IO engine compiled to `wasm32-unknown-unknown` and
//! exposed through wasm-bindgen, driven by the JavaScript event loop.
//!
//! This crate is the low layer: [`WasmEngine`] is the engine with numbers for handles and
//! times and JSON for the rare structured values. The public API is the ES module beside it
//! (`js/index.js`: `Participant`, writers, readers, transports; `js/node.js`: the Node.js
//! `dgram` transport), which owns the clock, the timers, the randomness and the sockets.
//!
//! Untrusted input never panics here either: datagrams go straight to the engine, which
//! drops and counts what it cannot use; bad ids from JavaScript are refused.

pub mod driver;
pub mod json;
pub mod ros;
/// The payload codecs, shared with the native tool and the component.
pub use pollen_app::payload;

use crate::driver::{Core, Options, Out, Qos};
use pollen_engine::wire::Locator;
use pollen_engine::Peer;
use wasm_bindgen::prelude::*;

/// How to create a [`WasmEngine`] (set the fields, then pass it to the constructor).
#[wasm_bindgen]
#[derive(Debug, Clone)]
pub struct EngineOptions {
    inner: Options,
    random_ok: bool,
}

#[wasm_bindgen]
impl EngineOptions {
    /// Options with a GUID prefix from `random` (at least 18 random bytes: ten for the prefix,
    /// eight for the hash seed), domain 0, loopback, multicast on, no peers.
    #[wasm_bindgen(constructor)]
    pub fn new(random: &[u8]) -> EngineOptions {
        let prefix = crate::driver::guid_prefix_from_random(random);
        let seed = random
            .get(10..18)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map(u64::from_le_bytes);
        EngineOptions {
            inner: Options {
                domain_id: 0,
                participant_id: 0,
                unicast_ports: None,
                address: [127, 0, 0, 1],
                multicast: true,
                peers: Vec::new(),
                guid_prefix: prefix.unwrap_or(pollen_engine::wire::GuidPrefix([
                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                ])),
                hash_seed: seed.unwrap_or(0),
                user_data: Vec::new(),
                mtu: None,
            },
            random_ok: prefix.is_some() && seed.is_some(),
        }
    }

    /// The domain id.
    #[wasm_bindgen(setter = domainId)]
    pub fn set_domain_id(&mut self, d: u32) {
        self.inner.domain_id = d;
    }

    /// The participant id whose ports the transport bound.
    #[wasm_bindgen(setter = participantId)]
    pub fn set_participant_id(&mut self, id: u16) {
        self.inner.participant_id = id;
    }

    /// Explicit metatraffic and user unicast ports to announce (a relay's allocation) instead
    /// of the participant id's; 0 and 0 go back to the participant id's.
    #[wasm_bindgen(js_name = setUnicastPorts)]
    pub fn set_unicast_ports(&mut self, metatraffic: u16, user: u16) {
        self.inner.unicast_ports = (metatraffic != 0 || user != 0).then_some((metatraffic, user));
    }

    /// The IPv4 address announced (as a big-endian u32).
    #[wasm_bindgen(setter = address)]
    pub fn set_address(&mut self, a: u32) {
        self.inner.address = a.to_be_bytes();
    }

    /// SPDP multicast on or off.
    #[wasm_bindgen(setter = multicast)]
    pub fn set_multicast(&mut self, on: bool) {
        self.inner.multicast = on;
    }

    /// Largest datagram (0: the default for the address).
    #[wasm_bindgen(setter = mtu)]
    pub fn set_mtu(&mut self, mtu: u32) {
        self.inner.mtu = (mtu > 0).then_some(mtu as usize);
    }

    /// Participant USER_DATA.
    #[wasm_bindgen(setter = userData)]
    pub fn set_user_data(&mut self, data: &[u8]) {
        self.inner.user_data = data.to_vec();
    }

    /// Adds an initial unicast peer (address as a big-endian u32; port 0 probes the
    /// well-known metatraffic ports).
    #[wasm_bindgen(js_name = addPeer)]
    pub fn add_peer(&mut self, address: u32, port: u16) {
        self.inner.peers.push(Peer {
            address: address.to_be_bytes(),
            port: (port != 0).then_some(port),
        });
    }
}

/// The engine for one participant.
#[wasm_bindgen]
pub struct WasmEngine {
    core: Core,
    out: Option<Out>,
}

fn err(msg: impl core::fmt::Display) -> JsError {
    JsError::new(&msg.to_string())
}

fn locator(ip: u32, port: u16) -> Locator {
    Locator::udpv4(ip.to_be_bytes(), port)
}

#[wasm_bindgen]
impl WasmEngine {
    /// Creates the engine at `now_us` (microseconds of the caller's monotonic clock).
    #[wasm_bindgen(constructor)]
    pub fn new(opts: &EngineOptions, now_us: f64) -> Result<WasmEngine, JsError> {
        if !opts.random_ok {
            return Err(err("EngineOptions needs at least 18 random bytes"));
        }
        let core = Core::new(&opts.inner, crate::driver::instant(now_us)).map_err(err)?;
        Ok(WasmEngine { core, out: None })
    }

    /// Our GUID prefix (hex).
    #[wasm_bindgen(js_name = guidPrefix)]
    pub fn guid_prefix(&self) -> String {
        self.core.engine().guid_prefix().to_string()
    }

    /// One received UDP datagram (addresses as big-endian u32).
    #[wasm_bindgen(js_name = handleDatagram)]
    pub fn handle_datagram(
        &mut self,
        now_us: f64,
        src_ip: u32,
        src_port: u16,
        dst_ip: u32,
        dst_port: u16,
        data: &[u8],
    ) {
        self.core.handle_datagram(
            crate::driver::instant(now_us),
            locator(src_ip, src_port),
            locator(dst_ip, dst_port),
            data,
        );
    }

    /// Runs the timers that are due.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now_us: f64) {
        self.core.handle_timeout(crate::driver::instant(now_us));
    }

    /// The next datagram to send, or `undefined`; its destination is then
    /// [`WasmEngine::transmit_ip`] and [`WasmEngine::transmit_port`].
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self, now_us: f64) -> Option<Vec<u8>> {
        self.out = self.core.poll_transmit(crate::driver::instant(now_us));
        self.out.map(|o| self.core.transmit_bytes(&o).to_vec())
    }

    /// The destination address of the last transmit (big-endian u32).
    #[wasm_bindgen(js_name = transmitIp)]
    pub fn transmit_ip(&self) -> u32 {
        self.out.map_or(0, |o| u32::from_be_bytes(o.ip))
    }

    /// The destination port of the last transmit.
    #[wasm_bindgen(js_name = transmitPort)]
    pub fn transmit_port(&self) -> u16 {
        self.out.map_or(0, |o| o.port)
    }

    /// The next event as JSON, or `undefined`.
    #[wasm_bindgen(js_name = pollEvent)]
    pub fn poll_event(&mut self) -> Option<String> {
        self.core.poll_event()
    }

    /// The earliest engine deadline in microseconds, or -1 for none.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> f64 {
        self.core.poll_timeout().map_or(-1.0, |t| t as f64)
    }

    /// Says goodbye; the following transmits carry the SPDP dispose.
    pub fn shutdown(&mut self, now_us: f64) {
        self.core.shutdown(crate::driver::instant(now_us));
    }

    /// Creates a writer; its id. `depth` 0 is KEEP_ALL.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = createWriter)]
    pub fn create_writer(
        &mut self,
        now_us: f64,
        topic: &str,
        type_name: &str,
        keyed: bool,
        partitions: Vec<String>,
        reliable: bool,
        transient_local: bool,
        depth: u16,
    ) -> Result<u32, JsError> {
        let parts: Vec<&str> = partitions.iter().map(String::as_str).collect();
        let q = Qos {
            reliable,
            transient_local,
            depth,
        };
        self.core
            .create_writer(
                crate::driver::instant(now_us),
                topic,
                type_name,
                keyed,
                &parts,
                q,
            )
            .map_err(err)
    }

    /// Creates a reader; its id. `depth` 0 is KEEP_ALL.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = createReader)]
    pub fn create_reader(
        &mut self,
        now_us: f64,
        topic: &str,
        type_name: &str,
        keyed: bool,
        partitions: Vec<String>,
        reliable: bool,
        transient_local: bool,
        depth: u16,
    ) -> Result<u32, JsError> {
        let parts: Vec<&str> = partitions.iter().map(String::as_str).collect();
        let q = Qos {
            reliable,
            transient_local,
            depth,
        };
        self.core
            .create_reader(
                crate::driver::instant(now_us),
                topic,
                type_name,
                keyed,
                &parts,
                q,
            )
            .map_err(err)
    }

    /// Deletes a writer; false when unknown.
    #[wasm_bindgen(js_name = deleteWriter)]
    pub fn delete_writer(&mut self, now_us: f64, id: u32) -> bool {
        self.core.delete_writer(crate::driver::instant(now_us), id)
    }

    /// Deletes a reader; false when unknown.
    #[wasm_bindgen(js_name = deleteReader)]
    pub fn delete_reader(&mut self, now_us: f64, id: u32) -> bool {
        self.core.delete_reader(crate::driver::instant(now_us), id)
    }

    /// Writes a serialized sample (encapsulation header included) with a source timestamp in
    /// wall-clock milliseconds. Returns its sequence number (> 0), or minus an error code:
    /// 1 unknown writer, 2 too large, 3 history full, 4 pool full, 5 not keyed, 6 unsupported.
    pub fn write(&mut self, now_us: f64, id: u32, payload: &[u8], source_ms: f64) -> f64 {
        match self.core.write(
            crate::driver::instant(now_us),
            id,
            payload,
            crate::driver::source_time(source_ms),
        ) {
            Ok(sn) => sn as f64,
            Err(e) => -f64::from(crate::driver::write_error_code(e)),
        }
    }

    /// Takes the next sample of reader `id`: its serialized bytes, or `undefined`. Its
    /// details are then `sampleWriter`, `sampleSn`, `sampleTime`, `sampleState`.
    pub fn take(&mut self, id: u32) -> Option<Vec<u8>> {
        self.core
            .take(id)
            .then(|| self.core.sample_bytes().to_vec())
    }

    /// The GUID of the writer of the last taken sample.
    #[wasm_bindgen(js_name = sampleWriter)]
    pub fn sample_writer(&self) -> String {
        self.core
            .sample()
            .map(|s| s.writer.to_string())
            .unwrap_or_default()
    }

    /// The sequence number of the last taken sample.
    #[wasm_bindgen(js_name = sampleSn)]
    pub fn sample_sn(&self) -> f64 {
        self.core.sample().map_or(0.0, |s| s.sn.0 as f64)
    }

    /// The source timestamp of the last taken sample (ms since the epoch), if it had one.
    #[wasm_bindgen(js_name = sampleTime)]
    pub fn sample_time(&self) -> Option<f64> {
        self.core
            .sample()
            .and_then(|s| s.source_timestamp)
            .map(crate::driver::time_ms)
    }

    /// The instance state of the last taken sample: alive, disposed or unregistered.
    #[wasm_bindgen(js_name = sampleState)]
    pub fn sample_state(&self) -> String {
        self.core.sample_state().to_string()
    }

    /// The key hash of the last taken sample, if the writer sent one.
    #[wasm_bindgen(js_name = sampleKeyHash)]
    pub fn sample_key_hash(&self) -> Option<Vec<u8>> {
        self.core
            .sample()
            .and_then(|s| s.key_hash)
            .map(|k| k.to_vec())
    }

    /// Remote readers matched with writer `id`.
    #[wasm_bindgen(js_name = matchedReaders)]
    pub fn matched_readers(&self, id: u32) -> u32 {
        self.core.matched_readers(id) as u32
    }

    /// Matched readers known to have matched writer `id` in turn (reliable ones that
    /// acknowledged, best-effort ones).
    #[wasm_bindgen(js_name = readyReaders)]
    pub fn ready_readers(&self, id: u32) -> u32 {
        self.core.ready_readers(id) as u32
    }

    /// Remote writers matched with reader `id`.
    #[wasm_bindgen(js_name = matchedWriters)]
    pub fn matched_writers(&self, id: u32) -> u32 {
        self.core.matched_writers(id) as u32
    }

    /// Whether all of writer `id`'s samples are acknowledged by its reliable readers.
    #[wasm_bindgen(js_name = isAcknowledged)]
    pub fn is_acknowledged(&self, id: u32) -> bool {
        self.core.is_acknowledged(id)
    }

    /// The GUID of writer `id`.
    #[wasm_bindgen(js_name = writerGuid)]
    pub fn writer_guid(&self, id: u32) -> Option<String> {
        self.core.writer_guid(id)
    }

    /// The GUID of reader `id`.
    #[wasm_bindgen(js_name = readerGuid)]
    pub fn reader_guid(&self, id: u32) -> Option<String> {
        self.core.reader_guid(id)
    }

    /// Remote participants (JSON array).
    pub fn participants(&self) -> String {
        self.core.participants_json()
    }

    /// Remote user endpoints (JSON array).
    pub fn endpoints(&self) -> String {
        self.core.endpoints_json()
    }

    /// Engine and driver counters (JSON object `{engine, driver}`).
    pub fn stats(&self) -> String {
        self.core.stats_json()
    }

    /// The sockets the engine expects (JSON array).
    #[wasm_bindgen(js_name = listenLocators)]
    pub fn listen_locators(&self) -> String {
        self.core.listen_locators_json()
    }
}

/// The (metatraffic, user) unicast ports of participant `id` in `domain`, or `undefined`
/// when they do not fit in 16 bits.
#[wasm_bindgen(js_name = participantPorts)]
pub fn participant_ports(domain: u32, id: u16) -> Option<Vec<u16>> {
    crate::driver::participant_ports(domain, id).map(|(m, u)| vec![m, u])
}

/// The SPDP multicast port of `domain`, or `undefined` for a domain above 232.
#[wasm_bindgen(js_name = spdpMulticastPort)]
pub fn spdp_multicast_port(domain: u32) -> Option<u16> {
    crate::driver::spdp_multicast_port(domain)
}

/// Serializes a string sample (`struct { string data; }`, XCDR1 little-endian).
#[wasm_bindgen(js_name = encodeString)]
pub fn encode_string(s: &str) -> Vec<u8> {
    payload::encode_string(s)
}

/// Decodes a string sample, or `undefined` when the bytes are not one.
#[wasm_bindgen(js_name = decodeString)]
pub fn decode_string(data: &[u8]) -> Option<String> {
    payload::decode_string(data)
}

/// The engine's version (the crate's).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
