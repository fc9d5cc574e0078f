import { useState } from 'react';
import type { TraceEntry } from '../api';

/**
 * The explain trace: each rule considered, whether it matched, and what each condition saw.
 * Closed, it renders only its summary, so a 500-rule trace costs nothing per keystroke.
 */
export function Trace({ trace }: { trace: TraceEntry[] | undefined }) {
  const [open, setOpen] = useState(false);
  if (!trace?.length) return null;
  const matched = trace.filter((t) => t.matched).length;
  return (
    <details className="trace" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        Why: {trace.length} rules considered, {matched} matched
      </summary>
      {open && (
        <ul>
          {trace.map((t, i) => (
            <li key={i} className={t.matched ? 'matched' : 'unmatched'}>
              <span className="kind">{t.kind}</span> <code>{t.rule}</code> {t.matched ? 'matched' : 'did not match'}
              {t.note && <span className="note"> — {t.note}</span>}
              <ul className="conditions">
                {t.conditions.map((c, j) => (
                  <li key={j} className={c.passed ? 'pass' : 'fail'}>
                    {c.passed ? '✓' : '✗'} {c.condition}: wants <code>{c.expected}</code>, saw <code>{c.saw}</code>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      )}
    </details>
  );
}
