// A grouped bar chart in plain SVG: compliance per priority, two series. Hand-written because a
// charting library would triple the bundle for four bars (see BENCHMARKS.md, bundle sizes).

export interface Series {
  label: string;
  className: string;
  values: (number | null)[];
}

export function BarChart({ categories, series, max = 10000, format }: { categories: string[]; series: Series[]; max?: number; format: (v: number) => string }) {
  const width = 560;
  const height = 220;
  const pad = { left: 44, bottom: 28, top: 10 };
  const band = (width - pad.left) / categories.length;
  const bar = Math.min(36, (band - 16) / series.length);
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  return (
    <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label="compliance per priority">
      {[0, 0.25, 0.5, 0.75, 1].map((f) => (
        <g key={f}>
          <line x1={pad.left} x2={width} y1={y(max * f)} y2={y(max * f)} className="grid" />
          <text x={pad.left - 6} y={y(max * f) + 4} textAnchor="end" className="axis">
            {format(max * f)}
          </text>
        </g>
      ))}
      {categories.map((c, i) => (
        <g key={c}>
          {series.map((s, j) => {
            const v = s.values[i];
            const x = pad.left + i * band + (band - bar * series.length) / 2 + j * bar;
            return v == null ? (
              <text key={s.label} x={x + bar / 2} y={y(0) - 4} textAnchor="middle" className="axis">
                n/a
              </text>
            ) : (
              <g key={s.label}>
                <rect x={x} y={y(v)} width={bar - 3} height={y(0) - y(v)} className={s.className}>
                  <title>{`${c} ${s.label}: ${format(v)}`}</title>
                </rect>
                {/* The value above its bar: a 0 % bar has no height to see. */}
                <text x={x + (bar - 3) / 2} y={y(v) - 4} textAnchor="middle" className="axis value">
                  {format(v)}
                </text>
              </g>
            );
          })}
          <text x={pad.left + i * band + band / 2} y={height - 8} textAnchor="middle" className="axis">
            {c}
          </text>
        </g>
      ))}
    </svg>
  );
}
