import { highlightRuns } from '../engine';
import type { KeywordMatch } from '../api';

/** Text with the module's keyword matches marked (offsets are UTF-16, as JavaScript counts). */
export function Highlighted({ text, matches, field }: { text: string; matches: KeywordMatch[]; field: 'title' | 'description' }) {
  const runs = highlightRuns(
    text,
    matches.filter((m) => m.field === field),
  );
  if (!text) return <span className="muted">(empty)</span>;
  return (
    <span className="highlighted" data-testid={`highlight-${field}`}>
      {runs.map((r, i) =>
        r.rule ? (
          <mark key={i} title={`rule ${r.rule}`}>
            {r.text}
          </mark>
        ) : (
          <span key={i}>{r.text}</span>
        ),
      )}
    </span>
  );
}
