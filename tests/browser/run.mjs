// Runner of the HMS browser test: serves index.html and app.js on their own
// origin, opens the page in Debian's headless Chromium and reports the checks
// the page made. Usage: node run.mjs API_BASE_URL
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGE_TIMEOUT_MS = 90_000;
const WATCHDOG_MS = 150_000;

const here = path.dirname(fileURLToPath(import.meta.url));
const STATIC = {
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
};

/** Drops query strings from every URL in a text (presigned links carry signatures). */
function stripQueries(text) {
  return String(text).replace(/(https?:\/\/[^\s'"?]+)\?[^\s'"]*/g, '$1');
}

function bare(url) {
  return String(url).split('?')[0];
}

function startStaticServer() {
  const server = http.createServer(async (req, res) => {
    const pathname = new URL(req.url, 'http://127.0.0.1').pathname;
    const entry = STATIC[pathname === '/' ? '/index.html' : pathname];
    if (!entry || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    try {
      const body = await readFile(path.join(here, entry[0]));
      res.writeHead(200, { 'Content-Type': entry[1], 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  const apiBase = (process.argv[2] || '').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(apiBase)) {
    console.error('usage: node run.mjs API_BASE_URL   (e.g. http://127.0.0.1:3000)');
    return 2;
  }

  const server = await startStaticServer();
  const staticPort = server.address().port;
  const pageUrl = `http://127.0.0.1:${staticPort}/index.html?api=${encodeURIComponent(apiBase)}`;
  console.log(`page: http://127.0.0.1:${staticPort}/index.html  api: ${apiBase}`);

  const consoleErrors = [];
  const failedRequests = [];
  let browser;
  let checks = [];
  let finished = false;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      timeout: 60_000,
    });
    console.log(`browser: Chromium ${browser.version()}`);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(stripQueries(msg.text()));
    });
    page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${stripQueries(err.message)}`));
    page.on('requestfailed', (req) => {
      const failure = req.failure();
      failedRequests.push(`${req.method()} ${bare(req.url())} failed: ${failure ? failure.errorText : 'unknown'}`);
    });
    page.on('response', (resp) => {
      if (resp.status() >= 400) {
        failedRequests.push(`${resp.request().method()} ${bare(resp.url())} -> ${resp.status()}`);
      }
    });

    await page.goto(pageUrl, { waitUntil: 'load', timeout: 30_000 });
    try {
      await page.waitForFunction(() => window.__hmsResult !== undefined, null, { timeout: PAGE_TIMEOUT_MS });
      const result = await page.evaluate(() => window.__hmsResult);
      checks = Array.isArray(result.checks) ? result.checks : [];
      finished = true;
    } catch (err) {
      checks = (await page.evaluate(() => window.__hmsChecks || []).catch(() => [])) || [];
      checks = checks.concat([{
        name: 'page finished',
        ok: false,
        detail: `window.__hmsResult not set within ${PAGE_TIMEOUT_MS / 1000} s (${err.message.split('\n')[0]})`,
      }]);
    }
  } catch (err) {
    checks.push({ name: 'browser run', ok: false, detail: stripQueries(err.message.split('\n')[0]) });
  } finally {
    if (browser) await browser.close().catch(() => {});
    server.closeAllConnections();
    server.close();
  }

  for (const c of checks) {
    console.log(`${c.ok ? 'PASS' : 'FAIL'}  ${c.name}${c.detail ? ` — ${stripQueries(c.detail)}` : ''}`);
  }
  if (consoleErrors.length) {
    console.log(`\nbrowser console errors (${consoleErrors.length}):`);
    for (const line of consoleErrors) console.log(`  ${line}`);
  }
  if (failedRequests.length) {
    console.log(`\nfailed network requests (${failedRequests.length}):`);
    for (const line of failedRequests) console.log(`  ${line}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  const passed = checks.length - failed;
  const ok = finished && checks.length > 0 && failed === 0;
  console.log('');
  console.log(`${passed} passed, ${failed} failed`);
  return ok ? 0 : 1;
}

const watchdog = setTimeout(() => {
  console.error(`browser test did not finish within ${WATCHDOG_MS / 1000} s`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

main().then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`runner error: ${err && err.stack ? err.stack : err}`);
    console.log('0 passed, 1 failed');
    process.exitCode = 1;
  },
);
