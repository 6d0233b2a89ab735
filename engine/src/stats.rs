//! Counters: what the engine received, sent and dropped, by reason.

/// Everything the engine counts. Untrusted input is never an error: it lands here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_in: u64,
    /// Datagrams produced by `poll_transmit`.
    pub datagrams_out: u64,
    /// Bytes produced by `poll_transmit`.
    pub bytes_out: u64,
    /// Datagrams without the RTPS magic or too short.
    pub dropped_not_rtps: u64,
    /// Datagrams with an unsupported protocol version.
    pub dropped_version: u64,
    /// Our own datagrams looped back to us.
    pub dropped_own: u64,
    /// Submessages that failed to frame or parse (the rest of their message is dropped).
    pub dropped_malformed: u64,
    /// Submessages that parsed but break a protocol rule (bad heartbeat range, bad set...).
    pub dropped_invalid: u64,
    /// Submessages addressed to another participant by INFO_DST.
    pub dropped_not_for_us: u64,
    /// Submessages for a local endpoint or remote writer we do not know or have not matched.
    pub dropped_unknown_endpoint: u64,
    /// Discovery data that did not parse or lacked required fields.
    pub dropped_bad_discovery: u64,
    /// Discovery data for another domain.
    pub dropped_foreign_domain: u64,
    /// Remote participants or endpoints refused because a table was full.
    pub dropped_table_full: u64,
    /// Samples dropped because the payload pool or a reader queue was full.
    pub dropped_no_space: u64,
    /// Samples larger than the engine accepts.
    pub dropped_too_large: u64,
    /// Duplicate samples (already delivered or buffered).
    pub dropped_duplicate: u64,
    /// Samples delivered to local readers.
    pub samples_delivered: u64,
    /// Samples replaced in a reader's queue by KEEP_LAST before being taken.
    pub samples_replaced: u64,
    /// Samples written by local writers.
    pub samples_written: u64,
    /// DATA retransmitted on request.
    pub retransmits: u64,
    /// GAPs sent for samples no longer available.
    pub gaps_sent: u64,
    /// HEARTBEATs sent.
    pub heartbeats_sent: u64,
    /// ACKNACKs sent.
    pub acknacks_sent: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Inputs whose `now` was earlier than one seen before (clamped).
    pub time_went_backwards: u64,
    /// Remote participants discovered.
    pub participants_discovered: u64,
    /// Remote participants lost (lease expiry or dispose).
    pub participants_lost: u64,
    /// Messages received on streams.
    pub stream_messages_in: u64,
    /// Streams found carrying something other than framed RTPS.
    pub dropped_bad_stream: u64,
    /// Stream connections the driver reported closed.
    pub streams_closed: u64,
    /// Outgoing messages too large to frame for a stream (dropped).
    pub dropped_unframeable: u64,
    /// Entries a full table forgot to make room for more relevant ones.
    pub evicted: u64,
    /// Times the SEDP of participants that lost endpoints to a full table was asked again.
    pub sedp_resyncs: u64,
    /// Remote participants whose announced lease (infinite, or longer than
    /// `Config::max_remote_lease`) was clamped to that bound.
    pub leases_clamped: u64,
    /// Datagrams carrying a known participant's prefix from an address it did not announce:
    /// they do not refresh its lease (only its SPDP, or traffic from its own addresses, does).
    pub lease_refresh_refused: u64,
    /// Datagrams not sent to a remote participant that never answered (SEDP, ACKNACKs, user
    /// traffic, unicast SPDP held back by the reflection backoff).
    pub reflection_held: u64,
    /// Remote endpoints or matches a full table took from the participant holding the most,
    /// for one holding fewer (also counted in `evicted`).
    pub fair_share_evictions: u64,
    /// ACKNACK, HEARTBEAT and NACK_FRAG counts dropped as not newer than the last one accepted.
    pub dropped_stale_count: u64,
    /// Counts accepted although not newer, because the last one accepted is more than 500 ms
    /// old (as Cyclone does): a count poisoned far ahead heals.
    pub counts_reset: u64,
    /// GAP or HEARTBEAT ranges beyond what the writer plausibly sent (ignored, or a HEARTBEAT
    /// believed only up to what is plausible).
    pub dropped_implausible: u64,
    /// ACKNACKs acknowledging, and ACKNACK or NACK_FRAG requests for, samples never sent to
    /// that reader (not acted upon).
    pub dropped_unsent_ack: u64,
    /// ACKNACKs and NACK_FRAGs whose repair requests were not all served: a sample or
    /// fragment asked for again is resent at once only if the reader's acknowledgements
    /// progressed, else after half a heartbeat period (doubling while they do not; fragments
    /// do not double), and an unresponsive reader gets one per request.
    pub nacks_throttled: u64,
    /// Heartbeats not sent to a reader that answered none of the last few (backoff).
    pub heartbeats_backed_off: u64,
    /// Reliable readers marked unresponsive (no acknowledgement progress for
    /// [`crate::Config::unresponsive_reader_timeout`]).
    pub readers_unresponsive: u64,
    /// Unresponsive readers that acknowledged again.
    pub readers_recovered: u64,
    /// DATA or DATA_FRAG for a builtin (discovery) reader announcing a sample larger than
    /// `Capacities::discovery_data`: dropped at once, never buffered or reassembled.
    pub dropped_discovery_too_large: u64,
    /// Partial samples dropped after `Config::reassembly_timeout` without a new fragment.
    pub reassemblies_expired: u64,
    /// Partial samples evicted to make room: when the pool ran short (the writer holding the
    /// most blocks loses one), when every reassembly slot was taken (the stalest), or when a
    /// writer's earlier sample needed its share.
    pub reassemblies_evicted: u64,
    /// DATA_FRAGs refused because their writer's partial samples held its share of the pool
    /// (a quarter, at least one largest sample).
    pub dropped_fragment_share: u64,
    /// DATA_FRAG and NACK_FRAG submessages dropped because the engine was built without the
    /// `frag` feature (it neither reassembles nor sends fragmented samples).
    pub dropped_fragmented: u64,
}

impl Stats {
    /// All counters at zero.
    pub const ZERO: Stats = Stats {
        datagrams_in: 0,
        datagrams_out: 0,
        bytes_out: 0,
        dropped_not_rtps: 0,
        dropped_version: 0,
        dropped_own: 0,
        dropped_malformed: 0,
        dropped_invalid: 0,
        dropped_not_for_us: 0,
        dropped_unknown_endpoint: 0,
        dropped_bad_discovery: 0,
        dropped_foreign_domain: 0,
        dropped_table_full: 0,
        dropped_no_space: 0,
        dropped_too_large: 0,
        dropped_duplicate: 0,
        samples_delivered: 0,
        samples_replaced: 0,
        samples_written: 0,
        retransmits: 0,
        gaps_sent: 0,
        heartbeats_sent: 0,
        acknacks_sent: 0,
        events_dropped: 0,
        time_went_backwards: 0,
        participants_discovered: 0,
        participants_lost: 0,
        stream_messages_in: 0,
        dropped_bad_stream: 0,
        streams_closed: 0,
        dropped_unframeable: 0,
        evicted: 0,
        sedp_resyncs: 0,
        leases_clamped: 0,
        lease_refresh_refused: 0,
        reflection_held: 0,
        fair_share_evictions: 0,
        dropped_stale_count: 0,
        counts_reset: 0,
        dropped_implausible: 0,
        dropped_unsent_ack: 0,
        nacks_throttled: 0,
        heartbeats_backed_off: 0,
        readers_unresponsive: 0,
        readers_recovered: 0,
        dropped_discovery_too_large: 0,
        reassemblies_expired: 0,
        reassemblies_evicted: 0,
        dropped_fragment_share: 0,
        dropped_fragmented: 0,
    };

    /// All drops of received input together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_not_rtps
            + self.dropped_version
            + self.dropped_malformed
            + self.dropped_invalid
            + self.dropped_not_for_us
            + self.dropped_unknown_endpoint
            + self.dropped_bad_discovery
            + self.dropped_foreign_domain
            + self.dropped_table_full
            + self.dropped_no_space
            + self.dropped_too_large
            + self.dropped_duplicate
            + self.dropped_stale_count
            + self.dropped_implausible
            + self.dropped_unsent_ack
            + self.dropped_discovery_too_large
            + self.dropped_fragment_share
            + self.dropped_fragmented
    }
}
