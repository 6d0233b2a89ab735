//! Counters: what the engine received, sent and dropped, by reason.
//!
//! The counters are declared once, in the [`counters!`] list below: the struct, [`Stats::ZERO`],
//! [`Stats::counters`] (every counter by name, for drivers and the fuzz checks) and
//! [`Stats::dropped_total`] (the counters marked `drop`) all come from it, so none of them can
//! miss a counter added later.

/// Declares [`Stats`] from a list of counters, each `drop` (input dropped, part of
/// [`Stats::dropped_total`]) or `count` (anything else), with its documentation.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $kind:ident $name:ident,)*) => {
        /// Everything the engine counts. Untrusted input is never an error: it lands here.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Stats {
            /// All counters at zero.
            pub const ZERO: Stats = Stats { $($name: 0,)* };

            /// Every counter with its name, in declaration order.
            pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }

            /// All drops of received input together (the counters marked `drop`).
            pub fn dropped_total(&self) -> u64 {
                0 $(+ counters!(@$kind self.$name))*
            }
        }
    };
    (@drop $e:expr) => { $e };
    (@count $e:expr) => { 0 };
}

counters! {
    /// Datagrams handed to `handle_datagram`.
    count datagrams_in,
    /// Datagrams produced by `poll_transmit`.
    count datagrams_out,
    /// Bytes produced by `poll_transmit`.
    count bytes_out,
    /// Datagrams without the RTPS magic or too short.
    drop dropped_not_rtps,
    /// Datagrams with an unsupported protocol version.
    drop dropped_version,
    /// Our own datagrams looped back to us.
    count dropped_own,
    /// Submessages that failed to frame or parse (the rest of their message is dropped).
    drop dropped_malformed,
    /// Submessages that parsed but break a protocol rule (bad heartbeat range, bad set...).
    drop dropped_invalid,
    /// Submessages addressed to another participant by INFO_DST.
    drop dropped_not_for_us,
    /// Submessages for a local endpoint or remote writer we do not know or have not matched.
    drop dropped_unknown_endpoint,
    /// Discovery data that did not parse or lacked required fields.
    drop dropped_bad_discovery,
    /// Discovery data for another domain.
    drop dropped_foreign_domain,
    /// Remote participants or endpoints refused because a table was full.
    drop dropped_table_full,
    /// Samples dropped because the payload pool or a reader queue was full.
    drop dropped_no_space,
    /// Samples larger than the engine accepts.
    drop dropped_too_large,
    /// Duplicate samples (already delivered or buffered).
    drop dropped_duplicate,
    /// Samples delivered to local readers.
    count samples_delivered,
    /// Samples replaced in a reader's queue by KEEP_LAST before being taken.
    count samples_replaced,
    /// Samples written by local writers.
    count samples_written,
    /// DATA retransmitted on request.
    count retransmits,
    /// GAPs sent for samples no longer available.
    count gaps_sent,
    /// HEARTBEATs sent.
    count heartbeats_sent,
    /// ACKNACKs sent.
    count acknacks_sent,
    /// Events dropped because the event queue was full.
    count events_dropped,
    /// Inputs whose `now` was earlier than one seen before (clamped).
    count time_went_backwards,
    /// Remote participants discovered.
    count participants_discovered,
    /// Remote participants lost (lease expiry or dispose).
    count participants_lost,
    /// Messages received on streams.
    count stream_messages_in,
    /// Streams found carrying something other than framed RTPS.
    drop dropped_bad_stream,
    /// Stream connections that ended: reported closed or failed by the driver, or closed by
    /// the connection table (each counted once).
    count streams_closed,
    /// Outgoing messages too large to frame for a stream (dropped).
    count dropped_unframeable,
    /// Entries a full table forgot to make room for more relevant ones.
    count evicted,
    /// Times the SEDP of participants that lost endpoints to a full table was asked again.
    count sedp_resyncs,
    /// Remote participants whose announced lease (infinite, or longer than
    /// `Config::max_remote_lease`) was clamped to that bound.
    count leases_clamped,
    /// Datagrams carrying a known participant's prefix from an address it did not announce:
    /// they do not refresh its lease (only its SPDP, or traffic from its own addresses, does).
    count lease_refresh_refused,
    /// Datagrams not sent to a remote participant that never answered (SEDP, ACKNACKs, user
    /// traffic, unicast SPDP held back by the reflection backoff).
    count reflection_held,
    /// Remote endpoints or matches a full table took from the participant holding the most,
    /// for one holding fewer (also counted in `evicted`).
    count fair_share_evictions,
    /// ACKNACK, HEARTBEAT and NACK_FRAG counts dropped as not newer than the last one accepted.
    drop dropped_stale_count,
    /// Counts accepted although not newer, because the last one accepted is more than 500 ms
    /// old (as Cyclone does): a count poisoned far ahead heals.
    count counts_reset,
    /// GAP or HEARTBEAT ranges beyond what the writer plausibly sent (ignored, or a HEARTBEAT
    /// believed only up to what is plausible).
    drop dropped_implausible,
    /// ACKNACKs acknowledging, and ACKNACK or NACK_FRAG requests for, samples never sent to
    /// that reader (not acted upon).
    drop dropped_unsent_ack,
    /// ACKNACKs and NACK_FRAGs whose repair requests were not all served: a sample or
    /// fragment asked for again is resent at once only if the reader's acknowledgements
    /// progressed, else after half a heartbeat period (doubling while they do not; fragments
    /// do not double), and an unresponsive reader gets one per request.
    count nacks_throttled,
    /// Heartbeats not sent to a reader that answered none of the last few (backoff).
    count heartbeats_backed_off,
    /// Reliable readers marked unresponsive (no acknowledgement progress for
    /// [`crate::Config::unresponsive_reader_timeout`]).
    count readers_unresponsive,
    /// Unresponsive readers that acknowledged again.
    count readers_recovered,
    /// DATA or DATA_FRAG for a builtin (discovery) reader announcing a sample larger than
    /// `Capacities::discovery_data`: dropped at once, never buffered or reassembled.
    drop dropped_discovery_too_large,
    /// Partial samples dropped after `Config::reassembly_timeout` without a new fragment.
    count reassemblies_expired,
    /// Partial samples evicted to make room: when the pool ran short (the writer holding the
    /// most blocks loses one), when every reassembly slot was taken (the stalest), or when a
    /// writer's earlier sample needed its share.
    count reassemblies_evicted,
    /// DATA_FRAGs refused because their writer's partial samples held its share of the pool
    /// (a quarter, at least one largest sample).
    drop dropped_fragment_share,
    /// ACKNACKs whose count was not newer, used all the same (never to step back; their
    /// repair requests throttled like any repeat), so that a count poisoned again and again
    /// cannot keep a live reader's acknowledgements and requests out.
    count stale_acknacks_used,
    /// DATA_FRAG and NACK_FRAG submessages dropped because the engine was built without the
    /// `frag` feature (it neither reassembles nor sends fragmented samples).
    drop dropped_fragmented,
    /// Inbound stream connections the connection table took (`Engine::handle_stream_accepted`).
    count streams_accepted,
    /// Inbound stream connections refused: `StreamConfig::max_inbound` were open.
    drop streams_refused_full,
    /// Inbound stream connections refused: their source address already held
    /// `StreamConfig::max_inbound_per_source`.
    drop streams_refused_per_source,
    /// Inbound stream connections refused: their remote is not an IPv4 locator.
    drop streams_refused_address,
    /// Stream connections the table asked the driver to open.
    count streams_opened,
    /// Connection attempts that failed: reported failed or closed before they completed, or
    /// not completed within `StreamConfig::connect_timeout` (also in `stream_connect_timeouts`).
    count stream_connect_failures,
    /// Connection attempts abandoned after `StreamConfig::connect_timeout`.
    count stream_connect_timeouts,
    /// Open connections the driver reported failed (a socket error).
    count stream_failures,
    /// Connections closed after `StreamConfig::idle_timeout` without traffic.
    count stream_idle_timeouts,
    /// Connections closed because their queued bytes made no progress for
    /// `StreamConfig::write_timeout`.
    count stream_write_timeouts,
    /// Connections closed because a frame was still incomplete `StreamConfig::frame_timeout`
    /// after its first byte (a slowloris peer).
    drop stream_frame_timeouts,
    /// Frames queued on a connection for sending.
    count stream_frames_queued,
    /// Frames not sent: their address was in back-off.
    count stream_dropped_backoff,
    /// Frames not sent: `StreamConfig::max_outbound` connections were open.
    count stream_dropped_limit,
    /// Frames not sent: not to a TCPv4 locator, or to our own listener.
    count stream_dropped_unroutable,
    /// Times a frame did not fit a connection's full send queue (the driver keeps it).
    count stream_send_blocked,
    /// Bytes received on table connections.
    count stream_bytes_in,
    /// Bytes the driver reported written on table connections.
    count stream_bytes_out,
    /// Queued bytes lost with a connection that closed before sending them.
    count stream_bytes_dropped,
    /// Reports for a connection the table does not hold (closed already, or never opened).
    count stream_unknown,
}
