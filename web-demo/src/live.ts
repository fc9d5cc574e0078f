// The live event stream: one SSE connection per page, shared by every view. It reads
// /api/events/stream with the bearer token (EventSource cannot send headers, hence
// fetch-event-source), and on a dropped connection resumes with `Last-Event-ID`, so no event is
// missed or repeated: the server's stream is the log read forward from that position.

import { fetchEventSource } from '@microsoft/fetch-event-source';
import { authHeaders, type CloudEvent } from './api';

type Listener = (event: CloudEvent) => void;
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export class LiveStream {
  private listeners = new Set<Listener>();
  private stateListeners = new Set<(s: LiveState) => void>();
  private controller: AbortController | null = null;
  /** The last log position delivered. */
  lastPosition = 0;
  state: LiveState = 'closed';

  start(): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.setState('connecting');
    void fetchEventSource('/api/events/stream', {
      headers: authHeaders(),
      signal: controller.signal,
      openWhenHidden: true,
      onopen: async (response) => {
        if (response.ok) {
          this.setState('live');
          return;
        }
        // 401 and friends will not heal by retrying.
        if (response.status >= 400 && response.status < 500) throw new FatalStreamError(response.status);
        throw new Error(`stream: HTTP ${response.status}`);
      },
      onmessage: (message) => {
        // The library resends the last id as Last-Event-ID on reconnect; the first frame is the
        // starting position alone, so even a quiet stream resumes where it began.
        const position = Number(message.id);
        if (message.id && Number.isFinite(position)) this.lastPosition = position;
        if (!message.data) return; // the position frame and keep-alive comments
        const event = JSON.parse(message.data) as CloudEvent;
        for (const l of this.listeners) l(event);
      },
      onclose: () => {
        // The server ended the stream (a restart): reconnect and resume.
        this.setState('reconnecting');
        throw new Error('stream closed');
      },
      onerror: (error) => {
        if (error instanceof FatalStreamError) {
          this.setState('closed');
          throw error;
        }
        this.setState('reconnecting');
        return 1000; // retry after a second; Last-Event-ID is sent by the library
      },
    }).catch(() => this.setState('closed'));
  }

  stop(): void {
    this.controller?.abort();
    this.controller = null;
    this.setState('closed');
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: (s: LiveState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  private setState(s: LiveState): void {
    this.state = s;
    for (const l of this.stateListeners) l(s);
  }
}

class FatalStreamError extends Error {
  constructor(readonly status: number) {
    super(`stream refused: HTTP ${status}`);
  }
}

export const live = new LiveStream();

/** Streams that are not tickets (every other stream id is a ticket id). */
const SYSTEM_STREAMS = new Set(['ruleset', 'rules-modules', 'sla-reports', 'users']);

export function isTicketEvent(event: CloudEvent): boolean {
  return !!event.subject && !SYSTEM_STREAMS.has(event.subject);
}
