import { Navigate, NavLink, Route, Routes, useLocation } from 'react-router-dom';
import { SessionProvider, atLeast, useSession } from './session';
import { LoginPage } from './pages/Login';
import { BoardPage } from './pages/Board';
import { NewTicketPage } from './pages/NewTicket';
import { TicketPage } from './pages/Ticket';
import { RulesPage } from './pages/Rules';
import { SlaPage } from './pages/Sla';
import { Hash } from './components/Hash';

export function App() {
  return (
    <SessionProvider>
      <Shell />
    </SessionProvider>
  );
}

function Shell() {
  const { user, logout, context, liveState } = useSession();
  const location = useLocation();
  if (!user) {
    return location.pathname === '/login' ? <LoginPage /> : <Navigate to="/login" state={{ from: location.pathname }} replace />;
  }
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">NixFlow</span>
        <nav>
          <NavLink to="/" end>
            Board
          </NavLink>
          <NavLink to="/new">New ticket</NavLink>
          {atLeast(user, 'agent') && <NavLink to="/sla">SLA</NavLink>}
          {atLeast(user, 'manager') && <NavLink to="/rules">Rules</NavLink>}
        </nav>
        <span className="spacer" />
        <span className={`live live-${liveState}`} data-testid="live-state" title="live updates">
          {liveState === 'live' ? '● live' : liveState}
        </span>
        {context && (
          <span className="module-badge" title="the rule module deciding on the server and previewing here">
            rules v{context.rule_set_version} · module <Hash value={context.module_sha256} testId="active-module" />
          </span>
        )}
        <span className="who">
          {user.name} <small>({user.permission})</small>
        </span>
        <button className="link" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <main>
        <Routes>
          <Route path="/" element={<BoardPage />} />
          <Route path="/new" element={<NewTicketPage />} />
          <Route path="/tickets/:id" element={<TicketPage />} />
          <Route path="/rules" element={atLeast(user, 'manager') ? <RulesPage /> : <Forbidden />} />
          <Route path="/sla" element={atLeast(user, 'agent') ? <SlaPage /> : <Forbidden />} />
          <Route path="/login" element={<Navigate to="/" replace />} />
          <Route path="*" element={<p className="empty">Nothing here.</p>} />
        </Routes>
      </main>
    </div>
  );
}

function Forbidden() {
  return (
    <div className="panel forbidden" data-testid="forbidden">
      <h2>Not available</h2>
      <p>Your role does not give access to this page.</p>
    </div>
  );
}
