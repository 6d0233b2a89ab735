// Types of Pollen's Node.js entry point (node.js).

import type { OpenRequest, Opened, Participant, ParticipantOptions, Transport, TransportSink, Locator } from './index.js';

export * from './index.js';

export const INTERFACE_ENV: 'POLLEN_INTERFACE';

/** An interface's IPv4 address and netmask, from a name or an address (default loopback). */
export function resolveInterface(spec?: string): { address: string; netmask: string };

export interface NodeUdpOptions {
  /** Interface name or IPv4 address (default $POLLEN_INTERFACE, else loopback only). */
  interface?: string;
  /** Socket receive buffer (default 4 MiB). */
  recvBufferSize?: number;
  /** Sends queued in Node.js before the transport pushes back (default 256). */
  maxInFlight?: number;
}

/** UDP unicast and SPDP multicast over `node:dgram`, pinned to one interface. */
export class NodeUdpTransport implements Transport {
  constructor(options?: NodeUdpOptions);
  readonly address: string;
  open(request: OpenRequest, sink: TransportSink): Promise<Opened>;
  send(data: Uint8Array, to: Locator): boolean;
  pending(): number;
  stats(): Record<string, number | string>;
  close(): void;
}

export interface NodeParticipantOptions extends ParticipantOptions, NodeUdpOptions {
  /** No unicast peers by default (discovery through multicast only). */
  multicastOnly?: boolean;
  /** ROS 2 prefixes (or share directories) searched for .msg files before AMENT_PREFIX_PATH. */
  rosPaths?: string[];
}

/**
 * Reads ROS 2 definitions from `<dir>/pkg/msg/Name.msg` for the share directories of `paths`
 * and AMENT_PREFIX_PATH; what createParticipant uses as `rosResolver` by default.
 */
export function amentResolver(paths?: string[], env?: Record<string, string | undefined>): (name: string) => string | undefined;

/** A participant over UDP; peers default to ['127.0.0.1'] unless multicastOnly. */
export function createParticipant(options?: NodeParticipantOptions): Promise<Participant>;
