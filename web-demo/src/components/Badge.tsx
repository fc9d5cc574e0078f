/** A priority, status or SLA state as a coloured pill. */
export function Badge({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="badge">—</span>;
  return <span className={`badge badge-${value.toLowerCase()}`}>{value}</span>;
}
