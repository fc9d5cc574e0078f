/** A sha256, shortened for reading, whole in the tooltip and for copying. */
export function Hash({ value, testId }: { value: string | null | undefined; testId?: string }) {
  if (!value) return <span className="hash">—</span>;
  return (
    <code className="hash" title={value} data-testid={testId} data-value={value}>
      {value.slice(0, 12)}
    </code>
  );
}
