#!/usr/bin/env node
// test_simulator.js — the README's run command and the chat page, in real headless Chromium.
//
// Starts `sh scripts/quickstart.sh` (simulator mode) in a temporary run folder on free ports,
// opens the URL it prints, and chats with the example café bot as a person would: a story,
// a quick reply, a carousel card button, a button template button, a handover to the Page
// Inbox and back, a 613 rate limit that the connector retries, and the clock moved past the
// 24-hour window where the connector refuses to send. Each step asserts what the page shows
// and saves a screenshot. TAP lines out ("ok N - ..." / "not ok N - ..."), counted by
// tests/run. Everything is bounded in time; the run is stopped at the end whatever happened.
//
// Environment: MSGR_SCREENSHOTS (default build/screenshots), CHROMIUM (default
// /usr/bin/chromium), MSGR_FCGI / MSGR_SIM / MSGRCTL (the binaries the run command uses).
'use strict';

const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.resolve(ROOT, process.env.MSGR_SCREENSHOTS || 'build/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 20000;          // a step that takes longer has failed
const RETRY_MS = 45000;         // a retried answer: backoff plus the worker's turn, on a loaded machine
const START_MS = 90000;         // the run command, from nothing to a printed URL

let n = 0;
let failed = 0;
function ok(name) { n += 1; console.log(`ok ${n} - ${name}`); }
function notOk(name, err) {
  n += 1; failed += 1;
  console.log(`not ok ${n} - ${name}`);
  for (const line of String(err && err.stack || err).split('\n').slice(0, 8)) console.log(`# ${line}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}

// Runs the run command and resolves with its output once it has printed the chat page's URL
// and exited (it daemonizes lighttpd and the bot).
function runCommand(env) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['scripts/quickstart.sh'], { cwd: ROOT, env });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`run command still running after ${START_MS} ms:\n${out}`)); }, START_MS);
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`run command exited ${code}:\n${out}`));
      else resolve(out);
    });
  });
}

function stopCommand(env) {
  try {
    execFileSync('sh', ['scripts/quickstart.sh', 'stop'], { cwd: ROOT, env, timeout: 30000, stdio: 'pipe' });
  } catch (e) {
    console.log(`# stop: ${e.message}`);
  }
}

async function main() {
  let puppeteer;
  try {
    puppeteer = require(path.join(__dirname, 'node_modules', 'puppeteer-core'));
  } catch (e) {
    notOk('puppeteer-core is installed (sh scripts/deps.sh --test)', e);
    return;
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'msgr-browser-'));
  const port = await freePort();
  let botPort = await freePort();
  while (botPort === port) botPort = await freePort();
  const env = { ...process.env, RUN_DIR: runDir, PORT: String(port), BOT_PORT: String(botPort) };
  let browser = null;
  let page = null;

  const shot = async (name) => {
    if (page) await page.screenshot({ path: path.join(SHOTS, `simulator-${name}.png`) });
  };
  // One step: runs fn, prints ok / not ok, screenshots on the way out either way.
  const step = async (name, shotName, fn) => {
    try {
      await fn();
      ok(name);
    } catch (e) {
      notOk(name, e);
    }
    try { await shot(shotName); } catch (e) { console.log(`# screenshot ${shotName}: ${e.message}`); }
  };

  // Waits until fn (evaluated in the page) returns a truthy value; throws what it last saw.
  const untilWithin = async (ms, what, fn, ...args) => {
    try {
      const h = await page.waitForFunction(fn, { timeout: ms, polling: 100 }, ...args);
      return await h.jsonValue();
    } catch (e) {
      const last = await page.evaluate(() => [...document.querySelectorAll('[data-test=msg]')]
        .slice(-6).map((m) => `${m.dataset.from}/${m.dataset.kind}: ${m.innerText.replace(/\s+/g, ' ').slice(0, 160)}`)
        .join('\n')).catch(() => '(page gone)');
      throw new Error(`${what}: not seen within ${ms} ms; last messages:\n${last}`);
    }
  };
  const until = (what, fn, ...args) => untilWithin(STEP_MS, what, fn, ...args);
  // The page messages' texts, in order.
  const pageTexts = () => page.evaluate(() => [...document.querySelectorAll('[data-test=msg][data-from=page]')]
    .map((m) => m.innerText));
  const pageMsgCount = () => page.evaluate(() => document.querySelectorAll('[data-test=msg][data-from=page]').length);
  const click = async (sel, text) => {
    const h = await until(`${sel} "${text || ''}" to click`, (s, t) => {
      const all = [...document.querySelectorAll(s)].filter((e) => !t || e.innerText.trim() === t || e.innerText.includes(t));
      return all.length ? true : false;
    }, sel, text || '');
    void h;
    await page.evaluate((s, t) => {
      const all = [...document.querySelectorAll(s)].filter((e) => !t || e.innerText.trim() === t || e.innerText.includes(t));
      all[all.length - 1].click();
    }, sel, text || '');
  };
  const say = async (text) => {
    await page.click('[data-test=composer]', { clickCount: 3 });
    await page.type('[data-test=composer]', text);
    await page.keyboard.press('Enter');
  };
  const waitPageText = (what, needle) => until(what, (t) => [...document.querySelectorAll('[data-test=msg][data-from=page]')]
    .some((m) => m.innerText.includes(t)), needle);

  let url = null;
  const t0 = Date.now();
  try {
    await step('the run command starts lighttpd, the responder, the bot and the simulator and prints the chat page URL', 'none', async () => {
      const out = await runCommand(env);
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\/_sim\//);
      if (!m) throw new Error(`no chat page URL in the output:\n${out}`);
      if (Number(m[1]) !== port) throw new Error(`URL on port ${m[1]}, asked for ${port}`);
      url = m[0];
      console.log(`# run command ready in ${Date.now() - t0} ms: ${url}`);
    });
    if (!url) return;

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1400,900'],
      defaultViewport: { width: 1400, height: 900 },
    });
    page = await browser.newPage();
    const consoleErrors = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    await step('the chat page opens with the pages and simulated users', 'open', async () => {
      await page.goto(url, { waitUntil: 'domcontentloaded', timeout: STEP_MS });
      await until('the composer', () => document.querySelector('[data-test=composer]'));
      await until('the cafe page in the page list', () => document.querySelector('[data-test=page][data-page-id="200000000000002"]'));
      await until('a simulated user', () => document.querySelector('[data-test=user]'));
      await page.click('[data-test=page][data-page-id="200000000000002"]');
      const title = await page.title();
      if (!/simulator/i.test(title)) throw new Error(`title ${title}`);
    });

    await step('"hello" gets the welcome story with the profile first name and quick replies', 'hello', async () => {
      await say('hello');
      await waitPageText('the welcome answer', "I'm Lumi, the bot of Café Lumière");
      const texts = await pageTexts();
      if (!texts.some((t) => /Hello \S+! 👋/.test(t))) throw new Error(`no personal greeting in ${JSON.stringify(texts)}`);
      await until('the welcome quick replies', () => [...document.querySelectorAll('[data-test=quick-reply]')].some((q) => q.innerText.includes('Menu')));
      console.log(`# first answer ${Date.now() - t0} ms after the run command started`);
    });

    await step('tapping the "☕ Menu" quick reply shows the carousel of cards', 'carousel', async () => {
      await click('[data-test=quick-reply]', 'Menu');
      await until('4 or more cards', () => document.querySelectorAll('[data-test=card]').length >= 4);
      const first = await page.evaluate(() => document.querySelector('[data-test=card]').innerText);
      if (!first.includes('Butter croissant')) throw new Error(`first card: ${first}`);
      // The user's tap is a quick reply: its webhook was acknowledged.
      await until('the quick reply on the user side', () => [...document.querySelectorAll('[data-test=msg][data-from=user]')].some((m) => m.innerText.includes('Menu')));
    });

    await step('a carousel card button (postback) reaches the order story', 'card-button', async () => {
      await page.evaluate(() => {
        const card = document.querySelector('[data-test=card]');
        [...card.querySelectorAll('[data-test=button]')].find((b) => b.innerText.includes("I'll have one")).click();
      });
      await waitPageText('the order answer', "Show this message at the counter");
    });

    await step('a button template button (postback) runs its story', 'button', async () => {
      await say('help');
      await until('the help buttons', () => [...document.querySelectorAll('[data-test=button]')].some((b) => b.innerText.includes('See the menu')));
      const cards = await page.evaluate(() => document.querySelectorAll('[data-test=card]').length);
      await click('[data-test=button]', 'See the menu');
      await until('a second carousel', (c) => document.querySelectorAll('[data-test=card]').length > c, cards);
    });

    await step('asking for a person hands the thread to the Page Inbox; the owner shown changes', 'handover', async () => {
      const before = await page.$eval('[data-test=owner]', (e) => e.innerText);
      if (/inbox/i.test(before)) throw new Error(`owner already the inbox: ${before}`);
      await say('I would like to talk to a human');
      await waitPageText('the handover answer', 'Someone from our team will answer you');
      await until('the owner to become the Page Inbox', () => /inbox/i.test(document.querySelector('[data-test=owner]').innerText));
    });

    await step('while the inbox owns the thread the bot stays silent; a person answers and releases it', 'inbox', async () => {
      const count = await pageMsgCount();
      await say('are you there?');
      await new Promise((r) => setTimeout(r, 2500));
      if ((await pageMsgCount()) !== count) throw new Error('the bot answered a message that arrived on standby');
      await page.type('[data-test=inbox-reply-text]', 'Hi, Sam here from the café.');
      await page.click('[data-test=inbox-reply]');
      await until('the person\'s answer', () => [...document.querySelectorAll('[data-test=msg][data-from=page]')].some((m) => m.innerText.includes('Sam here')));
      await page.click('[data-test=inbox-release]');
      await until('the owner back to the bot', () => !/inbox/i.test(document.querySelector('[data-test=owner]').innerText));
      await say('hours');
      await waitPageText('the bot answering again', 'We\'re open Monday to Saturday');
    });

    await step('a 613 rate limit on the next Graph call is retried and the answer arrives', '613', async () => {
      await page.select('[data-test=fail-mode]', '613');
      await page.click('[data-test=fail-apply]');
      const count = await pageMsgCount();
      await say('thanks');
      await until('a refused Graph call shown beside the chat', () => [...document.querySelectorAll('[data-test=msg][data-from=system]')].some((m) => m.innerText.includes('613')));
      await untilWithin(RETRY_MS, 'the answer after the retry', (t) => [...document.querySelectorAll('[data-test=msg][data-from=page]')]
        .some((m) => m.innerText.includes(t)), "You're welcome");
      if ((await pageMsgCount()) <= count) throw new Error('no new page message');
      await page.click('[data-test=tab-graph]').catch(() => {});
      await until('a 400 and a 200 in the Graph calls log', () => {
        const rows = [...document.querySelectorAll('[data-test=graph-row]')];
        return rows.some((r) => r.dataset.status === '400') && rows.some((r) => r.dataset.status === '200');
      });
    });

    await step('past the 24-hour window the connector refuses to send; HUMAN_AGENT still goes', 'clock', async () => {
      await page.click('[data-test=tab-controls]').catch(() => {});
      await page.click('[data-test=clock-25h]');
      await until('the window shown as HUMAN_AGENT only', () => /human/i.test(document.querySelector('[data-test=window]').innerText));
      await page.type('[data-test=page-send-text]', 'Your order is ready!');
      await page.click('[data-test=page-send]');
      await until('the connector\'s refusal', () => /window/i.test(document.querySelector('[data-test=page-send-output]').innerText)
        && /exit 1|failed|refus/i.test(document.querySelector('[data-test=page-send-output]').innerText));
      const count = await pageMsgCount();
      await page.click('[data-test=page-send-human-agent]');
      await page.click('[data-test=page-send]');
      await waitPageText('the HUMAN_AGENT message', 'Your order is ready!');
      if ((await pageMsgCount()) !== count + 1) throw new Error('expected exactly one new page message');
      const label = await page.evaluate(() => [...document.querySelectorAll('[data-test=msg][data-from=page]')].pop().innerText);
      if (!label.includes('HUMAN_AGENT')) throw new Error(`no HUMAN_AGENT label on ${label}`);
      await page.click('[data-test=clock-reset]');
    });

    await step('the page made no console error', 'end', async () => {
      if (consoleErrors.length) throw new Error(consoleErrors.join('\n'));
    });
  } catch (e) {
    notOk('the browser run', e);
  } finally {
    if (browser) await browser.close().catch(() => {});
    stopCommand(env);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(`# screenshots in ${SHOTS}`);
  process.exit(failed ? 1 : 0);
}, (e) => { notOk('test_simulator.js', e); process.exit(1); });
