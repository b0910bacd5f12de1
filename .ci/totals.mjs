// Prints one line of totals over every vitest suite from the JSON report: "N passed, N failed, N skipped".
import { existsSync, readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
if (!existsSync(file)) {
  console.log('0 passed, 1 failed');
  console.error(`totals: no test report at ${file} (the test run did not finish)`);
  process.exit(0);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const passed = report.numPassedTests ?? 0;
// A suite that failed to load counts as a failure even though none of its tests ran.
const failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites > 0 && !report.numFailedTests ? report.numFailedTestSuites : 0);
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
