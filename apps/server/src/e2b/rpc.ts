// The table of envd RPCs the façade serves, shared by the process and filesystem services
// and the route registration.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EnvdCall } from './envd';

export interface RpcContext {
  readonly call: EnvdCall;
  readonly message: unknown;
  readonly request: FastifyRequest;
}

/** A unary method: one message in, one out. */
export type UnaryMethod = (ctx: RpcContext) => Promise<object>;
/** A server-streaming method: it takes the reply over (a ConnectStream) and ends it. */
export type StreamMethod = (ctx: RpcContext, reply: FastifyReply) => Promise<void>;

export interface RpcService {
  /** The service's full name, e.g. `process.Process`. */
  readonly name: string;
  readonly unary: Readonly<Record<string, UnaryMethod>>;
  readonly stream: Readonly<Record<string, StreamMethod>>;
}
