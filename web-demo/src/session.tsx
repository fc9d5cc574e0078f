// Who is signed in, the preview context and the active rule module, shared by every page and
// kept current by the live stream.

import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { api, setToken, authHeaders, UNAUTHORIZED, type PreviewContext, type Session, type User, type Permission } from './api';
import { moduleFor, type BrowserModule } from './engine';
import { live, type LiveState } from './live';

const RANK: Record<Permission, number> = { requester: 0, agent: 1, manager: 2, admin: 3 };

export function atLeast(user: User | null, p: Permission): boolean {
  return !!user && RANK[user.permission] >= RANK[p];
}

interface SessionValue {
  user: User | null;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  /** The active rule set, module hash, team members and counters. */
  context: PreviewContext | null;
  /** When the context was read, by this page's clock (to advance the server's `now`). */
  contextAt: number;
  /** The active module, instantiated here; null while it loads. */
  module: BrowserModule | null;
  moduleError: string | null;
  liveState: LiveState;
  refreshContext(): Promise<void>;
  /** The server's clock now, estimated from the context. */
  serverNow(): number;
}

const Ctx = createContext<SessionValue | null>(null);

const STORAGE_KEY = 'nixflow.session';

/** Events after which the preview context is stale. */
const CONTEXT_EVENTS = new Set([
  'ruleset.published',
  'rules.module_activated',
  'user.created',
  'user.updated',
  'automation.assignment_applied',
  'ticket.assigned',
  'ticket.escalated',
  'ticket.status_changed',
  'ticket.closed',
]);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(() => {
    try {
      const saved = sessionStorage.getItem(STORAGE_KEY);
      if (!saved) return null;
      const s = JSON.parse(saved) as Session;
      if (!s.token || s.expires_at < Date.now()) return null;
      setToken(s.token);
      return s.user;
    } catch {
      return null; // unreadable storage: sign in again
    }
  });
  const [context, setContext] = useState<PreviewContext | null>(null);
  const [contextAt, setContextAt] = useState(0);
  const [module, setModule] = useState<BrowserModule | null>(null);
  const [moduleError, setModuleError] = useState<string | null>(null);
  const [liveState, setLiveState] = useState<LiveState>('closed');
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const refreshContext = useCallback(async () => {
    const c = await api.previewContext();
    setContext(c);
    setContextAt(Date.now());
    try {
      const m = await moduleFor(c.module_sha256, authHeaders());
      setModule(m);
      setModuleError(null);
    } catch (e) {
      setModuleError(String(e));
    }
  }, []);

  useEffect(() => {
    if (!user) return;
    const offState = live.onState(setLiveState);
    live.start();
    void refreshContext().catch(() => undefined);
    const off = live.subscribe((event) => {
      if (!CONTEXT_EVENTS.has(event.type)) return;
      // Throttle: one re-read covers every event of the next half second, so a busy helpdesk
      // costs each page at most two reads a second, and a flood never starves the refresh.
      if (timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        void refreshContext().catch(() => undefined);
      }, 500);
    });
    return () => {
      off();
      offState();
      live.stop();
    };
  }, [user, refreshContext]);

  const login = useCallback(async (username: string, password: string) => {
    const s = await api.login(username, password);
    setToken(s.token);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    setUser(s.user);
  }, []);

  // The server refused the token (expired, revoked): back to the login page.
  useEffect(() => {
    const signOut = () => {
      setToken(null);
      sessionStorage.removeItem(STORAGE_KEY);
      setUser(null);
      setContext(null);
      setModule(null);
    };
    window.addEventListener(UNAUTHORIZED, signOut);
    return () => window.removeEventListener(UNAUTHORIZED, signOut);
  }, []);

  const logout = useCallback(async () => {
    await api.logout().catch(() => undefined);
    setToken(null);
    sessionStorage.removeItem(STORAGE_KEY);
    setUser(null);
    setContext(null);
    setModule(null);
  }, []);

  const serverNow = useCallback(
    () => (context ? context.now + (Date.now() - contextAt) : Date.now()),
    [context, contextAt],
  );

  return (
    <Ctx.Provider
      value={{ user, login, logout, context, contextAt, module, moduleError, liveState, refreshContext, serverNow }}
    >
      {children}
    </Ctx.Provider>
  );
}

export function useSession(): SessionValue {
  const v = useContext(Ctx);
  if (!v) throw new Error('useSession outside SessionProvider');
  return v;
}

/** Subscribes to the live stream for the life of a component. */
export function useLive(listener: (e: import('./api').CloudEvent) => void): void {
  const ref = useRef(listener);
  ref.current = listener;
  useEffect(() => live.subscribe((e) => ref.current(e)), []);
}
