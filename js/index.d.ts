// Types of Pollen's platform-independent ES module (index.js).

/** An IPv4 UDP locator. */
export interface Locator {
  address: string;
  port: number;
}

/** What a Participant asks of its transport when it opens. */
export interface OpenRequest {
  domainId: number;
  /** A fixed participant id, or undefined for the first whose ports are free. */
  participantId?: number;
  /** Whether the participant wants SPDP multicast. */
  multicast: boolean;
  /** The SPDP multicast group and port of the domain. */
  spdpMulticast: Locator;
  /** The unicast ports of a participant id (undefined when they do not fit 16 bits). */
  ports(participantId: number): { metatraffic: number; user: number } | undefined;
  /** The initial unicast peers. */
  peers: Locator[];
}

/** What the transport bound. */
export interface Opened {
  /** The IPv4 address announced in the participant's locators. */
  address: string;
  participantId: number;
  /** Whether the SPDP multicast group was joined (and may be sent to). */
  multicast: boolean;
  /** Ports allocated by the transport (a relay), announced instead of the participant id's. */
  locators?: { metatraffic: number; user: number };
}

/** Where a transport delivers what happens to it. */
export interface TransportSink {
  /** One received datagram: its bytes, its source, and the local locator it arrived on. */
  ondatagram(data: Uint8Array, from: Locator, to: Locator): void;
  /** The transport takes sends again after send() returned false. */
  ondrain(): void;
  onerror(error: Error): void;
}

/**
 * Moves datagrams for a Participant: Node.js UDP (NodeUdpTransport), or any other carrier
 * of whole RTPS datagrams (a WebSocket to a relay that forwards each message as one UDP
 * datagram).
 */
export interface Transport {
  open(request: OpenRequest, sink: TransportSink): Promise<Opened>;
  /** Sends one datagram; false asks the participant to wait for ondrain before the next. */
  send(data: Uint8Array, to: Locator): boolean;
  close(): void | Promise<void>;
  /** Sends not completed yet (close waits for them, within its linger). */
  pending?(): number;
  stats?(): Record<string, number | string>;
}

export interface ParticipantOptions {
  /** DDS domain id, 0..232 (default 0). */
  domainId?: number;
  participantId?: number;
  /** SPDP multicast (default true). */
  multicast?: boolean;
  /** Initial unicast peers, "ADDR" or "ADDR:PORT" (no port: the well-known ports). */
  peers?: Array<string | Locator>;
  /** Participant USER_DATA (at most 64 bytes). */
  userData?: string | Uint8Array;
  /** Largest datagram (default 16384 on loopback, 1472 elsewhere). */
  mtu?: number;
  /** ROS 2 message definitions to register: { 'pkg/msg/Name': '.msg text' } (see registerRosType). */
  rosDefinitions?: Record<string, string>;
  /** Supplies a missing definition by name ('pkg/msg/Name') when a writer or reader needs it. */
  rosResolver?: (name: string) => string | undefined;
}

export type Reliability = 'reliable' | 'best-effort';
export type Durability = 'volatile' | 'transient-local';

export interface Qos {
  /** Default 'reliable'. */
  reliability?: Reliability;
  /** Default 'volatile'. */
  durability?: Durability;
  /** A KEEP_LAST depth, or 'all' for KEEP_ALL (the default). */
  history?: number | 'all';
  partitions?: string[];
}

/**
 * 'string' (DDS::String), a ROS 2 message type like 'geometry_msgs/msg/Twist' (the topic is
 * then a ROS name, sent as rt/TOPIC; values are plain objects, std_msgs/msg/String stays a
 * string), any other DDS type name (raw bytes), or an explicit description.
 */
export type TypeSpec =
  | 'string'
  | string
  | { name: string; codec?: 'string' | 'raw'; keyed?: boolean; ros?: boolean };

export type InstanceState = 'alive' | 'disposed' | 'unregistered';

/**
 * A ROS 2 message as JavaScript holds it: fields by name, nested messages as objects, arrays
 * as arrays (uint8[] may be given as a Uint8Array), int64/uint64 as numbers, or BigInts
 * beyond Number.MAX_SAFE_INTEGER (a number beyond it is refused when writing).
 */
export type RosValue = { [field: string]: RosField };
export type RosField = number | bigint | boolean | string | null | RosValue | RosField[] | Uint8Array;

export interface Sample<V = string | Uint8Array | RosValue | null> {
  /** The decoded string for string types, the object for ROS 2 types (null if undecodable), else the bytes. */
  value: V;
  /** The serialized payload, encapsulation header included. */
  data: Uint8Array;
  /** The writer's GUID. */
  writer: string;
  sequenceNumber: number;
  /** Milliseconds since the Unix epoch, when the writer sent one. */
  sourceTimestamp?: number;
  state: InstanceState;
  keyHash?: Uint8Array;
}

export interface RemoteParticipant {
  guidPrefix: string;
  vendor: string;
  vendorName: string;
  leaseMs: number;
  userData: string;
}

export interface RemoteEndpoint {
  guid: string;
  kind: 'writer' | 'reader';
  topic: string;
  typeName: string;
  keyed: boolean;
  reliable: boolean;
  transientLocal: boolean;
  partitions: string[];
}

export interface Stats {
  engine: Record<string, number>;
  driver: Record<string, number>;
  transport: Record<string, number | string>;
}

export class PollenError extends Error {
  code: string;
  constructor(code: string, message: string);
}

export class Emitter {
  on(event: string, fn: (...args: any[]) => void): () => void;
  once(event: string, fn: (...args: any[]) => void): () => void;
  off(event: string, fn: (...args: any[]) => void): void;
  listenerCount(event: string): number;
  emit(event: string, ...args: any[]): boolean;
}

export interface MatchEvent {
  remote: string;
}

export class Writer extends Emitter {
  readonly topic: string;
  readonly typeName: string;
  readonly guid: string | undefined;
  readonly matchedReaders: number;
  readonly readyReaders: number;
  readonly acknowledged: boolean;
  /** Writes now; the sequence number. Throws PollenError ('HISTORY_FULL', 'TOO_LARGE', ...). */
  write(value: string | RosValue | Uint8Array | ArrayBufferView | ArrayBuffer, options?: { sourceTimestamp?: number }): number;
  /** Writes, waiting while the KEEP_ALL history is full. */
  writeAsync(value: string | RosValue | Uint8Array | ArrayBufferView | ArrayBuffer, options?: { sourceTimestamp?: number }): Promise<number>;
  waitForReaders(count?: number, options?: { timeout?: number; ready?: boolean }): Promise<void>;
  waitForAcknowledgments(options?: { timeout?: number }): Promise<void>;
  close(): void;
  on(event: 'matched' | 'unmatched', fn: (e: MatchEvent) => void): () => void;
  on(event: 'incompatibleQos', fn: (e: MatchEvent & { policy: string }) => void): () => void;
  on(event: 'acknowledged', fn: () => void): () => void;
  on(event: string, fn: (...args: any[]) => void): () => void;
}

export class Reader extends Emitter implements AsyncIterable<Sample> {
  readonly topic: string;
  readonly typeName: string;
  readonly guid: string | undefined;
  readonly matchedWriters: number;
  /** Takes one sample now. */
  take(): Sample | undefined;
  waitForWriters(count?: number, options?: { timeout?: number }): Promise<void>;
  close(): void;
  [Symbol.asyncIterator](): AsyncIterator<Sample>;
  on(event: 'data', fn: (s: Sample) => void): () => void;
  on(event: 'matched' | 'unmatched', fn: (e: MatchEvent) => void): () => void;
  on(event: string, fn: (...args: any[]) => void): () => void;
}

export class Participant extends Emitter {
  static create(transport: Transport, options?: ParticipantOptions): Promise<Participant>;
  readonly guidPrefix: string;
  readonly domainId: number;
  readonly participantId: number;
  readonly address: string;
  readonly multicast: boolean;
  readonly closed: boolean;
  createWriter(topic: string, type?: TypeSpec, qos?: Qos): Writer;
  createReader(topic: string, type?: TypeSpec, qos?: Qos): Reader;
  participants(): RemoteParticipant[];
  endpoints(): RemoteEndpoint[];
  listenLocators(): Array<Locator & { multicast: boolean; metatraffic: boolean }>;
  stats(): Stats;
  waitFor(check: () => boolean, options?: { timeout?: number; what?: string }): Promise<void>;
  /** Says goodbye, sends what is owed for up to `linger` ms (default 100), closes the transport. */
  close(options?: { linger?: number }): Promise<void>;
  on(event: 'participantDiscovered' | 'participantLost', fn: (e: { guidPrefix: string }) => void): () => void;
  on(event: 'matched' | 'unmatched', fn: (e: MatchEvent & { endpoint?: Writer | Reader }) => void): () => void;
  on(event: 'refused' | 'evicted', fn: (e: { table: string; guid: string }) => void): () => void;
  on(event: 'error', fn: (e: Error) => void): () => void;
  on(event: string, fn: (...args: any[]) => void): () => void;
}

export const SPDP_MULTICAST_GROUP: string;
export const ROS_STRING: string;
export const DDS_STRING: string;

/** Loads the WebAssembly module (default: pkg/pollen_js_bg.wasm beside the module). */
export function init(source?: URL | string | Response | BufferSource | WebAssembly.Module): Promise<void>;
export function initSync(module: BufferSource | WebAssembly.Module): void;
export function encodeString(s: string): Uint8Array;
export function decodeString(bytes: Uint8Array): string | undefined;
export function version(): string;
export function resolveType(type: TypeSpec): { typeName: string; codec: 'string' | 'raw' | 'ros'; ros: boolean; keyed: boolean; rosType?: string };
/** Adds (or replaces) a ROS 2 message definition from its .msg text; the full name. */
export function registerRosType(name: string, text: string): string;
export function registerRosTypes(definitions: Record<string, string>): void;
/** The definitions `name` still needs ([] when it is usable). */
export function missingRosTypes(name: string): string[];
/** Registers what `name` needs from `resolver`; throws PollenError 'UNKNOWN_TYPE' otherwise. */
export function ensureRosType(name: string, resolver?: (name: string) => string | undefined): void;
/** A ROS 2 sample (encapsulation header included); PollenError 'BAD_VALUE' names the bad field. */
export function encodeRos(name: string, value: RosValue): Uint8Array;
/** A ROS 2 sample as an object; PollenError 'BAD_DATA' when the bytes are not one. */
export function decodeRos(name: string, bytes: Uint8Array): RosValue;
export function rosTopic(name: string): string;
export function ipToU32(address: string): number;
export function u32ToIp(value: number): string;
export function parsePeer(peer: string | Locator): Locator;

export interface WebSocketTransportOptions {
  /** The relay's token: sent as the subprotocol `pollen-token.TOKEN` (or in the URL with tokenIn 'query'). */
  token?: string;
  tokenIn?: 'protocol' | 'query';
  /** The WebSocket class (default globalThis.WebSocket; on Node.js < 22 the `ws` package's). */
  WebSocket?: unknown;
  /** Third constructor argument of the `ws` package ({ origin, headers }). */
  wsOptions?: Record<string, unknown>;
  /** Bytes queued in the WebSocket before send() pushes back (default 1 MiB). */
  maxBuffered?: number;
  /** Reconnect after the connection drops, asking for the same ports (default true). */
  reconnect?: boolean;
  reconnectDelay?: number;
  openTimeout?: number;
}

/** What the relay says first. */
export interface RelayHello {
  type: 'hello';
  version: 1;
  session: number;
  address: string;
  metatraffic: number;
  user: number;
  participantId: number | null;
  domain: number;
  multicast: boolean;
  spdp: Locator;
  limits: Record<string, number>;
}

export class RelayError extends Error {
  readonly code: string;
}

/** RTPS datagrams over a WebSocket to `pollen relay` (browsers; Node.js with `ws`). */
export class WebSocketTransport implements Transport {
  constructor(url: string, options?: WebSocketTransportOptions);
  readonly hello: RelayHello | null;
  onevent: ((name: 'relayError' | 'disconnected' | 'reconnected', detail: unknown) => void) | null;
  open(request: OpenRequest, sink: TransportSink): Promise<Opened>;
  send(data: Uint8Array, to: Locator): boolean;
  close(): void;
  pending(): number;
  stats(): Record<string, number | string>;
}

/** A participant through `pollen relay` at `url`. */
export function connectRelay(url: string, options?: ParticipantOptions & WebSocketTransportOptions): Promise<Participant>;
