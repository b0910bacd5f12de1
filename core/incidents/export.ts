/**
 * An incident as a report: Markdown for people, JSON for tools. Secrets are redacted in both
 * (credentials in URLs, bearer tokens, values under secret-named keys: core/lib/redact.ts),
 * wherever they appear — notes, evidence, reasoning.
 */
import { redact } from '../lib/redact.js';
import type { IncidentDetail } from './schema.js';

export type ExportFormat = 'markdown' | 'json';

const iso = (ms: number | null) => (ms === null ? '—' : new Date(ms).toISOString());
/** Table cells: no line breaks, no unescaped pipes. */
const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

export function exportIncident(incident: IncidentDetail, format: ExportFormat): { filename: string; contentType: string; content: string } {
  const safe = redact(incident);
  const base = `incident-${safe.id}-${safe.scope.replace(/[^a-zA-Z0-9._-]+/g, '-')}`;
  if (format === 'json') {
    return { filename: `${base}.json`, contentType: 'application/json', content: `${JSON.stringify({ format: 'meshdeck.incident.v1', incident: safe }, null, 2)}\n` };
  }
  return { filename: `${base}.md`, contentType: 'text/markdown', content: toMarkdown(safe) };
}

function toMarkdown(i: IncidentDetail): string {
  const lines: string[] = [];
  lines.push(`# Incident ${i.id}: ${i.title}`, '');
  lines.push(`| | |`, `|---|---|`);
  lines.push(`| Status | ${i.status}${i.resolvedBy ? ` (by ${cell(i.resolvedBy)})` : ''} |`);
  lines.push(`| Severity | ${i.severity} (peak ${i.peakSeverity}) |`);
  lines.push(`| Mesh | ${cell(i.mesh)} |`, `| Scope | ${cell(i.scope)} |`);
  lines.push(`| Onset | ${iso(i.onsetAt)} |`, `| Opened | ${iso(i.openedAt)} |`, `| Resolved | ${iso(i.resolvedAt)} |`);
  lines.push(`| Acknowledged | ${i.acknowledgedAt ? `${iso(i.acknowledgedAt)} by ${cell(i.acknowledgedBy ?? '')}` : '—'} |`);
  lines.push(`| Assignee | ${cell(i.assignee ?? '—')} |`, '');
  if (i.rules.length) {
    lines.push('## Rules', '');
    for (const r of i.rules) lines.push(`- **${r.rule}** on ${r.subject}: ${r.severity ?? 'cleared'} — ${r.text}`);
    lines.push('');
  }
  lines.push('## Suspects', '');
  if (i.suspects.length === 0) lines.push('None ranked.', '');
  else {
    lines.push('| # | Suspect | Kind | Score | Reasoning |', '|---|---|---|---|---|');
    for (const s of i.suspects) lines.push(`| ${s.rank} | ${cell(s.target)} | ${s.kind} | ${s.score.toFixed(2)} | ${cell(s.reasoning)} |`);
    lines.push('');
  }
  lines.push('## Timeline', '');
  for (const e of i.timeline) {
    lines.push(`- \`${iso(e.at)}\` **${e.kind}**${e.actor ? ` (${e.actor})` : ''}: ${e.text}`);
    if (e.evidence !== null && e.evidence !== undefined) lines.push(`  <details><summary>evidence</summary>\n\n  \`\`\`json\n  ${JSON.stringify(e.evidence)}\n  \`\`\`\n  </details>`);
  }
  lines.push('');
  if (i.notes.length) {
    lines.push('## Notes', '');
    for (const n of i.notes) lines.push(`- ${iso(n.at)} ${n.actor ?? ''}: ${n.text}`);
    lines.push('');
  }
  lines.push(`_Exported by Meshdeck at ${new Date().toISOString()}; secrets redacted._`, '');
  return lines.join('\n');
}
