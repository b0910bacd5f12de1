import type { ConnectionState } from '../../../core/api/contract';
import { STATUS_META, statusText } from '../format';

/** Colour plus icon plus words: never colour alone. */
export function StatusPill({ state }: { state: ConnectionState }) {
  const meta = STATUS_META[state.status];
  return (
    <span className={`pill pill-${meta.health}`} data-status={state.status} role="status">
      <span aria-hidden="true" className="pill-icon">
        {meta.icon}
      </span>
      {statusText(state)}
    </span>
  );
}
