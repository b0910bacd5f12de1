import { describe, expect, it } from 'vitest';
import {
  APP_ORIGIN,
  CONTENT_SECURITY_POLICY,
  EXTERNAL_URL_ALLOW_LIST,
  isAllowedExternalUrl,
  isSameOrigin,
  isTrustedSender,
  rendererOrigin,
  secureWebPreferences,
} from './security';

function cspDirectives(): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const part of CONTENT_SECURITY_POLICY.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) map.set(name, values);
  }
  return map;
}

describe('secureWebPreferences', () => {
  it('switches every isolation feature on and every Node feature off', () => {
    expect(secureWebPreferences('/opt/meshdeck/preload/index.cjs')).toEqual({
      preload: '/opt/meshdeck/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    });
  });

  it('passes the preload path through unchanged', () => {
    expect(secureWebPreferences('C:\\Program Files\\Meshdeck\\preload.cjs').preload).toBe('C:\\Program Files\\Meshdeck\\preload.cjs');
  });
});

describe('rendererOrigin', () => {
  it('is the app scheme when there is no dev server', () => {
    expect(APP_ORIGIN).toBe('meshdeck://app');
    expect(rendererOrigin(undefined)).toBe('meshdeck://app');
    expect(rendererOrigin('')).toBe('meshdeck://app');
  });

  it('is the dev server origin (no path) while developing', () => {
    expect(rendererOrigin('http://localhost:5173')).toBe('http://localhost:5173');
    expect(rendererOrigin('http://localhost:5173/some/page?x=1')).toBe('http://localhost:5173');
  });
});

describe('isSameOrigin', () => {
  it('accepts URLs of the app scheme origin (Node gives custom schemes the opaque origin "null")', () => {
    expect(isSameOrigin('meshdeck://app/index.html', APP_ORIGIN)).toBe(true);
    expect(isSameOrigin('meshdeck://app/', APP_ORIGIN)).toBe(true);
    expect(isSameOrigin('meshdeck://app/assets/index-abc.js?v=1#top', APP_ORIGIN)).toBe(true);
  });

  it('refuses other hosts, ports and schemes', () => {
    expect(isSameOrigin('meshdeck://evil/index.html', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('meshdeck://app:8080/index.html', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('meshdeck://app.evil.example/index.html', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('other://app/index.html', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('https://app/index.html', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('file:///app/index.html', APP_ORIGIN)).toBe(false);
  });

  it('never treats two opaque origins as the same', () => {
    expect(new URL('data:text/html,x').origin).toBe('null');
    expect(isSameOrigin('data:text/html,<script>1</script>', 'null')).toBe(false);
    expect(isSameOrigin('about:blank', 'null')).toBe(false);
    expect(isSameOrigin('other://x/y', 'null')).toBe(false);
  });

  it('compares http origins exactly', () => {
    expect(isSameOrigin('http://localhost:5173/src/main.tsx', 'http://localhost:5173')).toBe(true);
    expect(isSameOrigin('http://localhost:5174/', 'http://localhost:5173')).toBe(false);
    expect(isSameOrigin('https://localhost:5173/', 'http://localhost:5173')).toBe(false);
  });

  it('is false for strings that are not URLs', () => {
    expect(isSameOrigin('not a url', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('', APP_ORIGIN)).toBe(false);
    expect(isSameOrigin('/index.html', APP_ORIGIN)).toBe(false);
  });
});

describe('isTrustedSender', () => {
  it('accepts the top frame of the app', () => {
    expect(isTrustedSender({ url: 'meshdeck://app/index.html', parent: null }, APP_ORIGIN)).toBe(true);
    expect(isTrustedSender({ url: 'meshdeck://app/', parent: null }, APP_ORIGIN)).toBe(true);
  });

  it('refuses an iframe of the app (a parent that is not null)', () => {
    expect(isTrustedSender({ url: 'meshdeck://app/index.html', parent: {} }, APP_ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'meshdeck://app/index.html', parent: undefined }, APP_ORIGIN)).toBe(false);
  });

  it('refuses a top frame of another origin', () => {
    expect(isTrustedSender({ url: 'https://evil.example/', parent: null }, APP_ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'file:///tmp/index.html', parent: null }, APP_ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: 'about:blank', parent: null }, APP_ORIGIN)).toBe(false);
    expect(isTrustedSender({ url: '', parent: null }, APP_ORIGIN)).toBe(false);
  });

  it('refuses a frame that is gone', () => {
    expect(isTrustedSender(null, APP_ORIGIN)).toBe(false);
    expect(isTrustedSender(undefined, APP_ORIGIN)).toBe(false);
  });

  it('accepts the dev server origin, and only it, while developing', () => {
    const dev = rendererOrigin('http://localhost:5173');
    expect(isTrustedSender({ url: 'http://localhost:5173/', parent: null }, dev)).toBe(true);
    expect(isTrustedSender({ url: 'http://localhost:5173/index.html?x=1', parent: null }, dev)).toBe(true);
    expect(isTrustedSender({ url: 'http://localhost:5174/', parent: null }, dev)).toBe(false);
    expect(isTrustedSender({ url: 'http://127.0.0.1:5173/', parent: null }, dev)).toBe(false);
    expect(isTrustedSender({ url: 'meshdeck://app/index.html', parent: null }, dev)).toBe(false);
    expect(isTrustedSender({ url: 'http://localhost:5173/', parent: {} }, dev)).toBe(false);
  });
});

describe('CONTENT_SECURITY_POLICY', () => {
  it('allows only the app itself, and no framing, plugins or base/form tricks', () => {
    const csp = cspDirectives();
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'self'");
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
  });

  it('has no unsafe script sources', () => {
    const script = cspDirectives().get('script-src') ?? [];
    expect(script).not.toContain("'unsafe-eval'");
    expect(script).not.toContain("'unsafe-inline'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-eval|unsafe-inline|wasm-unsafe-eval|\*/);
  });

  it('names every directive once', () => {
    const names = CONTENT_SECURITY_POLICY.split(';').map((part) => part.trim().split(/\s+/)[0]);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toHaveLength(10);
  });
});

describe('isAllowedExternalUrl', () => {
  it('accepts https URLs on the allow-list', () => {
    expect(EXTERNAL_URL_ALLOW_LIST).toEqual(['https://www.rabbitmq.com', 'https://github.com']);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com/docs')).toBe(true);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com/docs/queues#durability')).toBe(true);
    expect(isAllowedExternalUrl('https://github.com/meshdeck/meshdeck/issues')).toBe(true);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com:443/docs')).toBe(true);
    expect(isAllowedExternalUrl('HTTPS://WWW.RABBITMQ.COM/docs')).toBe(true);
  });

  it('refuses other schemes', () => {
    expect(isAllowedExternalUrl('http://www.rabbitmq.com/docs')).toBe(false);
    expect(isAllowedExternalUrl('javascript:alert(1)')).toBe(false);
    expect(isAllowedExternalUrl('file:///etc/passwd')).toBe(false);
    expect(isAllowedExternalUrl('meshdeck://app/index.html')).toBe(false);
    expect(isAllowedExternalUrl('smb://www.rabbitmq.com/share')).toBe(false);
    expect(isAllowedExternalUrl('data:text/html,hi')).toBe(false);
  });

  it('refuses hosts that only look like allowed ones', () => {
    expect(isAllowedExternalUrl('https://evil.example/')).toBe(false);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com.evil.example/docs')).toBe(false);
    expect(isAllowedExternalUrl('https://rabbitmq.com/docs')).toBe(false);
    expect(isAllowedExternalUrl('https://evil.example/https://www.rabbitmq.com')).toBe(false);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com:8443/docs')).toBe(false);
    expect(isAllowedExternalUrl('https://gist.github.com/x')).toBe(false);
  });

  it('refuses credentials in the URL', () => {
    expect(isAllowedExternalUrl('https://user:pw@www.rabbitmq.com/docs')).toBe(false);
    expect(isAllowedExternalUrl('https://user@www.rabbitmq.com/docs')).toBe(false);
    expect(isAllowedExternalUrl('https://:pw@www.rabbitmq.com/docs')).toBe(false);
  });

  it('refuses strings that are not URLs', () => {
    expect(isAllowedExternalUrl('')).toBe(false);
    expect(isAllowedExternalUrl('www.rabbitmq.com/docs')).toBe(false);
    expect(isAllowedExternalUrl('//www.rabbitmq.com/docs')).toBe(false);
  });

  it('uses the allow-list it is given', () => {
    expect(isAllowedExternalUrl('https://docs.example/x', ['https://docs.example'])).toBe(true);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com/docs', ['https://docs.example'])).toBe(false);
    expect(isAllowedExternalUrl('https://www.rabbitmq.com/docs', [])).toBe(false);
  });
});
