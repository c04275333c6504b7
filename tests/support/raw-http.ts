/**
 * HTTP/1.1 over a bare `node:net` socket, for suites that must send what `fetch` refuses to
 * send (a malformed request line, a path like `//`, a lying Content-Length, a bad chunk size)
 * and see exactly what comes back: a status line and its body, or a close without a byte.
 */
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** The status code of the first status line, if one came. */
  status: number | undefined;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** The body as text (after the headers; chunked bodies are left encoded). */
  body: string;
  /** Every byte received, as text. */
  raw: string;
  /**
   * How the exchange ended: `answered` (a complete response was read, then the client hung
   * up), `closed` (the server closed, cleanly or by reset, after `raw`), `timeout` (neither
   * within the deadline), `refused` (the connection was not accepted).
   */
  end: 'answered' | 'closed' | 'timeout' | 'refused';
  /** The socket error the client saw, e.g. ECONNRESET or EPIPE. */
  error: string | undefined;
}

export interface RawOptions {
  /** Deadline for the whole exchange, ms. Default 3000. */
  timeoutMs?: number;
  /** Local address to connect from (any 127.x.y.z on Linux loopback). Default: the OS picks. */
  localAddress?: string;
  /** The request is a HEAD: a response to it has no body whatever its Content-Length says. */
  head?: boolean;
  /**
   * After `bytes`, send this many bytes of filler, whatever the server answers meanwhile: a
   * client streaming a body the server refuses.
   */
  streamBytes?: number;
}

/** Where the response to what was read so far is complete; -1 while it is not. */
function completeAt(buffer: Buffer, head: boolean): { at: number; status: number; headers: Record<string, string>; bodyStart: number } | undefined {
  const headerEnd = buffer.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const lines = buffer.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyStart = headerEnd + 4;
  if (Number.isNaN(status)) return { at: -1, status, headers, bodyStart };
  if (head || status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) return { at: bodyStart, status, headers, bodyStart };
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    return { at: buffer.length >= bodyStart + length ? bodyStart + length : -1, status, headers, bodyStart };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const terminator = buffer.indexOf('0\r\n\r\n', bodyStart);
    const at = terminator >= 0 && (terminator === bodyStart || buffer.subarray(terminator - 2, terminator).toString() === '\r\n') ? terminator + 5 : -1;
    return { at, status, headers, bodyStart };
  }
  return { at: -1, status, headers, bodyStart }; // delimited by the close
}

/**
 * Sends `bytes` on a fresh connection and reads one response: until it is complete (by its
 * Content-Length, its last chunk, or a 101), the server closes, or the deadline passes.
 * Never throws: what happened is in the answer.
 */
export function rawExchange(port: number, bytes: Buffer | string, options: RawOptions = {}): Promise<RawAnswer> {
  const timeoutMs = options.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: '127.0.0.1', ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    let received = Buffer.alloc(0);
    let error: string | undefined;
    let connected = false;
    let settled = false;
    const finish = (end: RawAnswer['end']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = completeAt(received, options.head ?? false);
      const body = parsed ? received.subarray(parsed.bodyStart, parsed.at >= 0 ? parsed.at : received.length).toString('utf8') : '';
      resolve({ status: parsed && !Number.isNaN(parsed.status) ? parsed.status : undefined, headers: parsed?.headers ?? {}, body, raw: received.toString('utf8'), end: !connected ? 'refused' : end, error });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('connect', () => {
      connected = true;
      socket.write(bytes);
      // The whole body, as fast as the socket takes it, whatever comes back meanwhile: a client
      // that sends its request before it reads (RFC 9112 9.6: a server that closes at once on
      // such a client resets the connection, and the reset can erase the answer unread).
      let left = options.streamBytes ?? 0;
      const filler = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (left > 0 && !settled && !socket.destroyed) {
          const chunk = left >= filler.length ? filler : filler.subarray(0, left);
          left -= chunk.length;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = completeAt(received, options.head ?? false);
      if (parsed && parsed.at >= 0) finish('answered');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on('close', () => finish('closed'));
  });
}

/** One well-formed request with `Connection: close`, for the checks around the fuzzed ones. */
export function rawRequest(port: number, method: string, path: string, options: { headers?: Record<string, string>; body?: string; localAddress?: string; timeoutMs?: number } = {}): Promise<RawAnswer> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { host: `127.0.0.1:${port}`, connection: 'close', ...options.headers };
  if (body) headers['content-length'] ??= String(body.length);
  const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return rawExchange(port, body ? Buffer.concat([Buffer.from(head), body]) : head, {
    head: method === 'HEAD',
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
}

let loopbackCounter = 0;

/**
 * A loopback address not used before by this process (127.1.0.1, 127.1.0.2, …): each hostile
 * request comes from its own address, so the hub's per-address slow-down of wrong tokens
 * (PROTOCOL 5) answers none of the later inputs for an earlier one.
 */
export function freshLoopback(): string {
  loopbackCounter++;
  const n = loopbackCounter;
  return `127.${1 + Math.floor(n / 64516)}.${Math.floor((n % 64516) / 254)}.${1 + (n % 254)}`;
}
