import { useCallback, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore, type KeyboardEvent as ReactKeyboardEvent, type ReactNode } from 'react';
import { useApi } from '../api/hooks';
import { useTail } from '../events/EventsView';
import { ActionDialog } from '../views/ActionDialog';
import { buildCommands, type InstanceAction, type PaletteCommand, type PaletteInstance } from './commands';
import { ShortcutReader, VIEW_KEYS, isTypingTarget, paletteKeyLabel } from './keys';
import { rank, type Ranked } from './match';

interface Props {
  views: ReadonlyArray<{ route: string; label: string }>;
  /** The mesh operator actions act on (the top bar's profile), or null when none is connected. */
  profileId: string | null;
  navigate: (route: string) => void;
}

type Overlay = 'none' | 'palette' | 'help';
type Acting = { target: { service: string; instanceId: string }; action: InstanceAction; title: string };

const MAX_SERVICES = 100;

/**
 * The command palette (Ctrl/Cmd+K), the keyboard shortcuts (g then a letter for a view, ? for
 * help) and the action dialog the palette opens. Mounted once, in the top bar.
 */
export function CommandCenter({ views, profileId, navigate }: Props) {
  const api = useApi();
  const tail = useTail();
  // Only whether it is paused (a primitive): new events do not re-render the top bar.
  const eventsPaused = useSyncExternalStore(
    (onChange) => tail.onChange(onChange),
    () => tail.isPaused(),
  );
  const [overlay, setOverlay] = useState<Overlay>('none');
  const [acting, setActing] = useState<Acting | null>(null);
  const [instances, setInstances] = useState<{ services: string[]; instances: PaletteInstance[] }>({ services: [], instances: [] });
  const returnFocus = useRef<HTMLElement | null>(null);
  const reader = useMemo(() => new ShortcutReader(), []);
  const paletteLabel = paletteKeyLabel(typeof navigator === 'undefined' ? '' : navigator.platform);

  const open = useCallback((next: Overlay) => {
    setOverlay((current) => {
      if (current === 'none') returnFocus.current = document.activeElement as HTMLElement | null;
      return next;
    });
  }, []);
  const close = useCallback(() => {
    setOverlay('none');
    const el = returnFocus.current;
    returnFocus.current = null;
    if (el?.isConnected) queueMicrotask(() => el.focus());
  }, []);

  // Global shortcuts; none while the action dialog is open (it has the keyboard).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (acting || e.defaultPrevented) return;
      const action = reader.read({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, typing: isTypingTarget(e.target) }, Date.now());
      if (!action) return;
      if (action.kind === 'palette') {
        e.preventDefault();
        if (overlay === 'palette') close();
        else open('palette');
      } else if (overlay !== 'none') {
        return; // an overlay is open: its own keys apply
      } else if (action.kind === 'help') {
        e.preventDefault();
        open('help');
      } else if (action.kind === 'view') {
        e.preventDefault();
        navigate(action.route);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [reader, overlay, acting, open, close, navigate]);

  // The instances the actions name, read when the palette opens.
  useEffect(() => {
    if (overlay !== 'palette' || !profileId) return;
    let live = true;
    (async () => {
      const services = (await api.call('mesh.services', { profileId })).map((s) => s.name).slice(0, MAX_SERVICES);
      const lists = await Promise.all(services.map((service) => api.call('mesh.instances', { profileId, service }).catch(() => [])));
      if (!live) return;
      setInstances({
        services,
        instances: lists.flat().map((i) => ({ service: i.service, instanceId: i.instanceId, state: i.state, failover: i.failover?.state ?? null })),
      });
    })().catch(() => undefined); // no mesh yet: views and console commands only
    return () => {
      live = false;
    };
  }, [overlay, profileId, api]);

  const commands = useMemo(
    () =>
      buildCommands(
        { views, services: profileId ? instances.services : [], instances: profileId ? instances.instances : [], eventsPaused },
        {
          navigate,
          act: (target, action, title) => setActing({ target, action, title }),
          pauseEvents: () => tail.pause(),
          resumeEvents: () => tail.resume(),
          clearEvents: () => tail.clear(),
          help: () => open('help'),
        },
      ),
    [views, profileId, instances, eventsPaused, navigate, tail, open],
  );

  return (
    <>
      <button className="palette-trigger" onClick={() => open('palette')} aria-haspopup="dialog" aria-keyshortcuts="Control+K Meta+K" data-testid="palette-trigger">
        <span aria-hidden="true">⌕</span> Search or run a command… <kbd>{paletteLabel}</kbd>
      </button>
      {overlay === 'palette' && (
        <Palette
          commands={commands}
          onClose={close}
          onRun={(command) => {
            // The command decides what comes next (the help overlay, the action dialog, a view).
            setOverlay('none');
            returnFocus.current = null;
            command.run();
          }}
        />
      )}
      {overlay === 'help' && <ShortcutHelp views={views} paletteLabel={paletteLabel} onClose={close} />}
      {acting && profileId && <ActionDialog profileId={profileId} target={acting.target} action={{ action: acting.action }} title={acting.title} onClose={() => setActing(null)} />}
    </>
  );
}

function Highlighted({ text, indices }: { text: string; indices: number[] }): ReactNode {
  if (indices.length === 0) return text;
  const marks = new Set(indices);
  return [...text].map((ch, i) => (marks.has(i) ? <mark key={i}>{ch}</mark> : ch));
}

function Palette({ commands, onClose, onRun }: { commands: PaletteCommand[]; onClose: () => void; onRun: (c: PaletteCommand) => void }) {
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const list = useRef<HTMLUListElement>(null);
  const id = useId();
  const results: Ranked<PaletteCommand>[] = useMemo(() => rank(query, commands, 60), [query, commands]);
  const current = Math.min(active, Math.max(0, results.length - 1));
  const optionId = (i: number) => `${id}-option-${i}`;

  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    list.current?.querySelector(`[data-index="${current}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [current]);

  const onKeyDown = (e: ReactKeyboardEvent) => {
    const move = (to: number) => {
      e.preventDefault();
      if (results.length) setActive((to + results.length) % results.length);
    };
    if (e.key === 'ArrowDown') move(current + 1);
    else if (e.key === 'ArrowUp') move(current - 1);
    else if (e.key === 'Home' && e.ctrlKey) move(0);
    else if (e.key === 'End' && e.ctrlKey) move(results.length - 1);
    else if (e.key === 'Enter') {
      e.preventDefault();
      const chosen = results[current];
      if (chosen) onRun(chosen.item);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      onClose();
    } else if (e.key === 'Tab') {
      e.preventDefault(); // focus stays in the palette: its one field drives the list
    }
  };

  return (
    <div className="dialog-backdrop palette-backdrop" role="presentation" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="palette panel" role="dialog" aria-modal="true" aria-label="Command palette" data-testid="palette" onKeyDown={onKeyDown}>
        <input
          ref={input}
          className="palette-input"
          role="combobox"
          aria-expanded="true"
          aria-controls={`${id}-list`}
          aria-autocomplete="list"
          aria-activedescendant={results.length ? optionId(current) : undefined}
          aria-label="Command"
          placeholder="Go to a view, drain or restore an instance, open a service…"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActive(0);
          }}
        />
        {results.length === 0 ? (
          <p className="muted palette-empty" role="status">
            Nothing matches “{query}”. Try a view (Events), an action (drain) or an instance or service name.
          </p>
        ) : (
          <ul className="palette-list" role="listbox" id={`${id}-list`} aria-label="Commands" ref={list}>
            {results.map((r, i) => (
              <li
                key={r.item.id}
                id={optionId(i)}
                role="option"
                aria-selected={i === current}
                data-index={i}
                data-command={r.item.id}
                className={i === current ? 'active' : undefined}
                onMouseDown={(e) => e.preventDefault()}
                onMouseMove={() => i !== current && setActive(i)}
                onClick={() => onRun(r.item)}
              >
                <span className="palette-title">
                  <Highlighted text={r.item.title} indices={r.indices} />
                </span>
                <span className="palette-group muted">{r.item.group}</span>
                {r.item.keys && (
                  <span className="palette-keys" aria-label={`shortcut ${r.item.keys.join(' then ')}`}>
                    {r.item.keys.map((k) => (
                      <kbd key={k}>{k}</kbd>
                    ))}
                  </span>
                )}
              </li>
            ))}
          </ul>
        )}
        <p className="palette-hint muted" aria-hidden="true">
          <kbd>↑</kbd> <kbd>↓</kbd> choose · <kbd>Enter</kbd> run · <kbd>Esc</kbd> close
        </p>
      </div>
    </div>
  );
}

function ShortcutHelp({ views, paletteLabel, onClose }: { views: ReadonlyArray<{ route: string; label: string }>; paletteLabel: string; onClose: () => void }) {
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => button.current?.focus(), []);
  const onKeyDown = (e: ReactKeyboardEvent) => {
    if (e.key === 'Escape' || e.key === '?') {
      e.preventDefault();
      onClose();
    } else if (e.key === 'Tab') {
      e.preventDefault(); // one control: focus stays on it
    }
  };
  return (
    <div className="dialog-backdrop" role="presentation" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog panel shortcut-help" role="dialog" aria-modal="true" aria-labelledby="shortcut-help-title" data-testid="shortcut-help" onKeyDown={onKeyDown}>
        <h2 id="shortcut-help-title">Keyboard shortcuts</h2>
        <dl className="facts">
          <dt>
            <kbd>{paletteLabel}</kbd>
          </dt>
          <dd>Command palette: views, instance actions, services</dd>
          <dt>
            <kbd>?</kbd>
          </dt>
          <dd>This help</dd>
          {views
            .filter((v) => VIEW_KEYS[v.route])
            .map((v) => (
              <div key={v.route} className="fact-row">
                <dt>
                  <kbd>g</kbd> then <kbd>{VIEW_KEYS[v.route]}</kbd>
                </dt>
                <dd>{v.label}</dd>
              </div>
            ))}
          <dt>
            <kbd>Esc</kbd>
          </dt>
          <dd>Close the palette or this help</dd>
        </dl>
        <div className="actions">
          <span className="spacer" />
          <button ref={button} className="primary" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
