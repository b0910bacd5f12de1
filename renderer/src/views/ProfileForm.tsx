import { useState, type FormEvent } from 'react';
import type { Profile, ProfileInput, ProfileTestResult } from '../../../core/api/contract';
import { ApiError } from '../api/client';
import { useApi } from '../api/hooks';

interface Props {
  /** Editing an existing profile, or creating a new one (optionally prefilled). */
  profile?: Profile;
  prefill?: Partial<FormValues>;
  onDone: (saved: Profile) => void;
  onCancel: () => void;
}

interface FormValues {
  name: string;
  url: string;
  vhost: string;
  username: string;
  password: string;
  heartbeatSeconds: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  servername: string;
  verify: boolean;
  managementUrl: string;
  managementUsername: string;
  managementPassword: string;
  autoConnect: boolean;
}

function initialValues(profile?: Profile, prefill?: Partial<FormValues>): FormValues {
  return {
    name: profile?.name ?? '',
    url: profile?.url ?? 'amqp://127.0.0.1:5672',
    vhost: profile?.vhost ?? '/',
    username: profile?.username ?? '',
    password: '',
    heartbeatSeconds: String(profile?.heartbeatSeconds ?? 30),
    caFile: profile?.tls.caFile ?? '',
    certFile: profile?.tls.certFile ?? '',
    keyFile: profile?.tls.keyFile ?? '',
    servername: profile?.tls.servername ?? '',
    verify: profile?.tls.verify ?? true,
    managementUrl: profile?.managementUrl ?? '',
    managementUsername: profile?.managementUsername ?? '',
    managementPassword: '',
    autoConnect: profile?.autoConnect ?? true,
    ...prefill,
  };
}

function toInput(values: FormValues, editing: boolean): ProfileInput {
  const tls = values.url.trim().toLowerCase().startsWith('amqps:');
  const input: ProfileInput = {
    name: values.name,
    url: values.url,
    vhost: values.vhost,
    username: values.username,
    heartbeatSeconds: Number(values.heartbeatSeconds),
    managementUrl: values.managementUrl,
    managementUsername: values.managementUsername,
    autoConnect: values.autoConnect,
    tls: tls
      ? {
          caFile: values.caFile,
          certFile: values.certFile,
          keyFile: values.keyFile,
          servername: values.servername,
          verify: values.verify,
        }
      : { verify: true },
  };
  // When editing, an empty password field means "keep the saved one".
  if (!editing || values.password !== '') input.password = values.password;
  if (values.managementPassword !== '') input.managementPassword = values.managementPassword;
  return input;
}

export function ProfileForm({ profile, prefill, onDone, onCancel }: Props) {
  const api = useApi();
  const [values, setValues] = useState(() => initialValues(profile, prefill));
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [busy, setBusy] = useState<'save' | 'test' | null>(null);
  const [test, setTest] = useState<ProfileTestResult | null>(null);
  const editing = Boolean(profile);
  const tls = values.url.trim().toLowerCase().startsWith('amqps:');

  const set = <K extends keyof FormValues>(key: K, value: FormValues[K]) => setValues((v) => ({ ...v, [key]: value }));
  const fieldError = (path: string) => (error instanceof ApiError ? error.issueFor(path) : undefined);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy('save');
    setError(null);
    try {
      const input = toInput(values, editing);
      const saved = profile ? await api.call('profiles.update', { id: profile.id, patch: input }) : await api.call('profiles.create', input);
      onDone(saved);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const runTest = async () => {
    setBusy('test');
    setError(null);
    setTest(null);
    try {
      const input = toInput(values, editing);
      setTest(
        profile && values.password === ''
          ? await api.call('profiles.test', { id: profile.id })
          : await api.call('profiles.test', { profile: { ...input, password: input.password ?? '' } }),
      );
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const field = (key: keyof FormValues, label: string, options: { type?: string; placeholder?: string; hint?: string; path?: string } = {}) => {
    const problem = fieldError(options.path ?? key);
    return (
      <label className={`field${problem ? ' field-invalid' : ''}`}>
        <span className="field-label">{label}</span>
        <input
          name={key}
          type={options.type ?? 'text'}
          value={values[key] as string}
          placeholder={options.placeholder}
          onChange={(e) => set(key, e.target.value as never)}
          aria-invalid={problem ? true : undefined}
          autoComplete={options.type === 'password' ? 'new-password' : 'off'}
          spellCheck={false}
        />
        {problem ? <span className="field-error">{problem}</span> : options.hint ? <span className="field-hint">{options.hint}</span> : null}
      </label>
    );
  };

  return (
    <form className="panel profile-form" onSubmit={submit} aria-label={editing ? 'Edit profile' : 'New profile'}>
      <h2>{editing ? `Edit ${profile?.name}` : 'New broker profile'}</h2>
      {field('name', 'Name', { placeholder: 'production-eu' })}
      {field('url', 'Broker URL', { placeholder: 'amqps://rabbit.example.com:5671', hint: 'amqp:// or amqps://; credentials in the URL are moved to the fields below' })}
      <div className="field-row">
        {field('vhost', 'Virtual host')}
        {field('heartbeatSeconds', 'Heartbeat (s)', { type: 'number' })}
      </div>
      <div className="field-row">
        {field('username', 'Username', { placeholder: 'guest' })}
        {field('password', 'Password', {
          type: 'password',
          placeholder: editing && profile?.passwordStorage !== 'none' ? 'unchanged' : '',
          hint: 'Never stored in plain text',
        })}
      </div>
      {tls && (
        <fieldset className="tls">
          <legend>TLS</legend>
          {field('caFile', 'CA certificate file', { path: 'tls.caFile', placeholder: '/etc/ssl/rabbit-ca.pem' })}
          <div className="field-row">
            {field('certFile', 'Client certificate file', { path: 'tls.certFile' })}
            {field('keyFile', 'Client key file', { path: 'tls.keyFile' })}
          </div>
          {field('servername', 'Server name (SNI)', { path: 'tls.servername', placeholder: 'defaults to the URL host' })}
          <label className="check">
            <input type="checkbox" checked={values.verify} onChange={(e) => set('verify', e.target.checked)} />
            Verify the server certificate (recommended; unchecking it is insecure)
          </label>
          {!values.verify && (
            <p className="warning" role="alert">
              ⚠ Verification off: anyone on the network path can impersonate this broker and read its credentials. The
              profile will be marked <strong>Not verified</strong> and every connection logs a warning.
            </p>
          )}
        </fieldset>
      )}
      {field('managementUrl', 'Management API URL (optional)', {
        placeholder: 'http://127.0.0.1:15672',
        hint: 'For the Broker view; a broker on this machine is read at http://<host>:15672 when empty',
      })}
      <div className="field-row">
        {field('managementUsername', 'Monitoring user (optional)', { placeholder: 'the profile’s own user', hint: 'A user with the monitoring tag and read permission' })}
        {field('managementPassword', 'Monitoring password', {
          type: 'password',
          placeholder: editing && profile?.managementPasswordStorage && profile.managementPasswordStorage !== 'none' ? 'unchanged' : '',
          hint: 'Never stored in plain text',
        })}
      </div>
      <label className="check">
        <input type="checkbox" checked={values.autoConnect} onChange={(e) => set('autoConnect', e.target.checked)} />
        Connect when Meshdeck starts
      </label>

      {error && (
        <p className="error-box" role="alert">
          {error.message}
        </p>
      )}
      {test && (
        <p className={test.ok ? 'ok-box' : 'error-box'} role="status" data-testid="test-result">
          {test.ok ? `Broker reachable: handshake done in ${test.latencyMs} ms` : `Broker refused: ${test.error}`}
        </p>
      )}
      <div className="actions">
        <button type="button" onClick={runTest} disabled={busy !== null}>
          {busy === 'test' ? 'Testing…' : 'Test'}
        </button>
        <span className="spacer" />
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy !== null}>
          {busy === 'save' ? 'Saving…' : editing ? 'Save' : 'Save profile'}
        </button>
      </div>
    </form>
  );
}
