/** Keeps docs/api.md true: every method and topic of the contract is documented there. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { methods, topics } from '../core/api/contract';

const apiDoc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');

describe('docs/api.md', () => {
  it.each(Object.keys(methods))('documents method %s', (method) => {
    expect(apiDoc).toContain(`| \`${method}\` |`);
  });
  it.each(Object.keys(topics))('documents topic %s', (topic) => {
    expect(apiDoc).toContain(`| \`${topic}\` |`);
  });
});
