import { useState, type ReactNode } from 'react';

export interface Column<T> {
  key: string;
  label: string;
  /** What the column sorts by; null sorts last. */
  value: (row: T) => string | number | null;
  render?: (row: T) => ReactNode;
  numeric?: boolean;
}

interface Props<T> {
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T) => string;
  initialSort: string;
  testId: string;
  label: string;
}

/** A table whose column headers sort it (click again to reverse); the sort is announced via aria-sort. */
export function SortableTable<T>({ rows, columns, rowKey, initialSort, testId, label }: Props<T>) {
  const [sort, setSort] = useState<{ key: string; dir: 1 | -1 }>({ key: initialSort, dir: 1 });
  const column = columns.find((c) => c.key === sort.key) ?? columns[0]!;
  const sorted = [...rows].sort((a, b) => {
    const va = column.value(a);
    const vb = column.value(b);
    if (va === vb) return 0;
    if (va === null) return 1;
    if (vb === null) return -1;
    const cmp = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
    return cmp * sort.dir;
  });
  return (
    <table className="grid" data-testid={testId} aria-label={label}>
      <thead>
        <tr>
          {columns.map((c) => {
            const active = c.key === sort.key;
            return (
              <th key={c.key} className={c.numeric ? 'num' : undefined} aria-sort={active ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}>
                <button
                  type="button"
                  className="sort-button"
                  data-sort={c.key}
                  onClick={() => setSort(active ? { key: c.key, dir: sort.dir === 1 ? -1 : 1 } : { key: c.key, dir: c.numeric ? -1 : 1 })}
                >
                  {c.label}
                  <span aria-hidden="true" className="sort-mark">
                    {active ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
                  </span>
                </button>
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {sorted.map((row) => (
          <tr key={rowKey(row)} data-row={rowKey(row)}>
            {columns.map((c) => (
              <td key={c.key} className={c.numeric ? 'num' : undefined}>
                {c.render ? c.render(row) : (c.value(row) ?? '—')}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
