import { useEffect, useState } from 'react';
import { api, type User } from './api';
import { atLeast, useSession } from './session';

/** User id → display name: everyone for agents and above, team members otherwise. */
export function useNames(): (id: string | null | undefined) => string {
  const { user, context } = useSession();
  const [users, setUsers] = useState<User[]>([]);
  useEffect(() => {
    if (atLeast(user, 'agent')) void api.users().then(setUsers).catch(() => undefined);
  }, [user]);
  return (id) => {
    if (!id) return '—';
    if (id === 'automation') return 'Automation';
    const u = users.find((x) => x.id === id);
    if (u) return u.name;
    if (user?.id === id) return user.name;
    for (const members of Object.values(context?.roles ?? {})) {
      const m = members.find((x) => x.id === id);
      if (m) return m.name;
    }
    return id;
  };
}
