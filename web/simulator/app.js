/* messenger-fcgi simulator — the chat page.
 *
 * Talks only to the simulator's JSON API under /_sim/api/ (docs/simulator.md) and loads only
 * files from /_sim/static/. Plain JavaScript, no framework, no build step.
 *
 * Untrusted text (the bot's answers, the person's words, webhook bodies, Graph answers) is
 * only ever put in the page with textContent, as text nodes or as attribute values of
 * elements made here: never through innerHTML. Links are made only for http(s) URLs.
 *
 * Network: Chromium writes every failed request of a page (an image host the machine cannot
 * reach, a stopped simulator, an answer of 4xx) to the page's console as an error. The same
 * requests made from a worker are not, so the API calls and a reachability probe before each
 * outside image or video go through a small worker (net() below); an outside image is put in
 * the page only once its host answered, else a framed placeholder names the host.
 *
 * Stable hooks for the browser test (tests/browser/test_simulator.js), as data-test="...":
 *
 *   left column
 *     page            a page (connector) to switch to; data-page-id, data-bot ("stories"|"api"),
 *                     aria-current="true" on the one shown
 *     user            a simulated user to switch to; data-user (its key), aria-current
 *     add-user        "+ user": adds a simulated user and switches to it
 *
 *   conversation
 *     msg             one row of the conversation: data-from="user"|"page"|"system",
 *                     data-kind = for the user: text, quick_reply, postback, attachment,
 *                       referral, optin, reaction, edit, read, delivery (the item's kind);
 *                       for the page: text, button, generic, media, image, video, audio,
 *                       file, sticker, template, unknown (what the message carries);
 *                       for the system: refused, owner, note.
 *                     data-seq (the item's seq), data-mid (when it has one). A page row's
 *                     innerText holds its label ("RESPONSE", "MESSAGE_TAG · HUMAN_AGENT",
 *                     "· by Page Inbox"); a system row's holds code and subcode.
 *                     Reactions and edits decorate their message and also get a small row.
 *     msg-pending     the person's message while its event is being posted (not a "msg")
 *     msg-label       under a page message: messaging_type · tag [· by Page Inbox]
 *     status          beside a user row: the connector's answer to its webhook; data-status
 *                     ("200", "0", "batched", "pending")
 *     seen            "Seen" under the person's last message after mark_seen
 *     typing          the typing indicator (three dots) while typing_on is in effect
 *     quick-reply     a quick reply chip under the last page message (text: its title; for
 *                     user_email / user_phone_number the made-up address / number it sends)
 *     button          a template button (button template, card, media template); its text is
 *                     the button's title (a phone_number button also shows the number)
 *     card            a card of a generic template (carousel)
 *     react           on each page message: opens the emoji picker; once the person reacted
 *                     (aria-pressed="true", data-emoji) a tap sends unreact
 *     react-emoji     an emoji in the picker (data-emoji)
 *     reaction        the person's reaction shown under a page message (a tap: unreact)
 *     edit            on each of the person's own text messages: edit it (asks the new text)
 *     get-started-empty  the Get Started button of an empty conversation
 *     composer        the text box (Enter sends, Shift+Enter a new line)
 *     send            the send button
 *     ev-get-started, ev-referral, ev-optin, ev-image, ev-read, ev-delivery
 *                     events no peer lets you send; referral, optin and image ask a value
 *     ask-input, ask-ok, ask-cancel   that question's dialog (also used by edit)
 *     offline         the "simulator unreachable" banner (hidden while it answers)
 *
 *   right panel (tabs tab-thread, tab-controls, tab-webhooks, tab-graph, tab-queue; Thread and
 *   Controls are two sections of one scrolling pane, so their hooks are always clickable
 *   unless the Webhooks, Graph calls or Queue tab is shown)
 *     owner           the thread owner; data-owner = "bot" | "inbox" | "app APPID". Its text
 *                     says "Page Inbox" only when the inbox owns the thread
 *     inbox-take, inbox-reply-text, inbox-reply, inbox-release   the Page Inbox
 *     fail-mode (select: 613, 10, 190, 551, 500, hang), fail-count, fail-apply, fail-clear,
 *     fail-state      failure injection
 *     redeliver       redeliver the last webhook
 *     batch-toggle    batching on/off (aria-pressed), batch-flush "Send batch (N)"
 *     clock-25h, clock-8d, clock-reset, clock-offset   the clock
 *     window          this conversation's window: data-window = "open" | "human_agent" |
 *                     "closed" | "none"; its text says HUMAN_AGENT only in that state
 *     page-send-text, page-send-human-agent (checkbox), page-send, page-send-output
 *                     msgrctl send; the output starts "✓ exit 0" or "✕ exit N"; the text is
 *                     kept when the send failed
 *     transcript-save, transcript-replay (file input), replay-result
 *     webhook-row     a webhook posted (<details>); data-status, data-seq; tags name what it
 *                     carried ("message", "standby · message", "echo", "redelivery")
 *     graph-row       a Graph API call (<details>); data-status, data-seq, data-method
 *     queue, queue-refresh   msgrctl status (refreshed every 3 s while shown)
 */
'use strict';

(() => {
  const API = '/_sim/api/';
  const STATIC = '/_sim/static/';
  const CONV_MS = 400;
  const LOG_MS = 1000;
  const WORLD_MS = 5000;
  const QUEUE_MS = 3000;
  const LOG_ROWS = 400;            // rows kept per log list
  const REACTIONS = ['😆', '😮', '😢', '😠', '👍', '\u2764'];
  const HOUR = 3600e3;

  // ---------------------------------------------------------------- small helpers

  const $ = (sel, root = document) => root.querySelector(sel);

  /** An element: h('div', {class: 'x', text: 'y', onclick: f}, child, 'text', ...). */
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const k of kids.flat()) if (k != null && k !== false) e.append(k);
    return e;
  }

  /** Replaces el's children, skipping null, undefined and false (replaceChildren writes "null"). */
  function put(el, ...kids) {
    el.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
  }

  const SVGNS = 'http://www.w3.org/2000/svg';
  /** A small line icon from path data (our own constants only). */
  function icon(d, size = 20) {
    const s = document.createElementNS(SVGNS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('width', size);
    s.setAttribute('height', size);
    s.setAttribute('aria-hidden', 'true');
    const p = document.createElementNS(SVGNS, 'path');
    p.setAttribute('d', d);
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    p.setAttribute('stroke-width', '1.6');
    p.setAttribute('stroke-linecap', 'round');
    p.setAttribute('stroke-linejoin', 'round');
    s.append(p);
    return s;
  }
  const ICON = {
    image: 'M4 5h16v14H4zM4 16l4.5-4.5 3.5 3.5 2.5-2.5L20 17M15.5 8.5a1 1 0 1 0 0 .1',
    video: 'M4 6h11v12H4zM15 10l5-3v10l-5-3',
    audio: 'M9 18V6l10-2v12M9 18a2.5 2.5 0 1 1-5 0 2.5 2.5 0 0 1 5 0zM19 16a2.5 2.5 0 1 1-5 0 2.5 2.5 0 0 1 5 0z',
    file: 'M6 3h8l4 4v14H6zM14 3v4h4',
    smile: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8.5 14c1.8 2 5.2 2 7 0M9 9.5v.5M15 9.5v.5',
    pencil: 'M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4',
    ext: 'M14 4h6v6M20 4l-9 9M18 14v6H4V6h6',
    phone: 'M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a1 1 0 0 1-1 1A16 16 0 0 1 4 5a1 1 0 0 1 1-1z',
    lock: 'M6 11h12v9H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3',
    left: 'M15 5l-7 7 7 7',
    play: 'M8 5l11 7-11 7z',
    link: 'M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1',
    optin: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8 12l3 3 5-6',
    eye: 'M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
    delivered: 'M2 13l4 4 8-9M10 16l1 1 9-9',
    redo: 'M20 5v5h-5M20 10a8 8 0 1 0 1 5',
    download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
    upload: 'M12 16V5M7 9l5-5 5 5M5 20h14',
    bot: 'M5 9h14v10H5zM12 5v4M9.5 13.5v1M14.5 13.5v1M9 17h6M3 13v2M21 13v2',
    person: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-6 8-6s8 2 8 6',
    apps: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h6v6h-6z',
    clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM12 7v5l3 2',
    bolt: 'M13 3L5 14h6l-1 7 8-11h-6z',
    pause: 'M8 5v14M16 5v14',
    warn: 'M12 4l9 16H3zM12 10v4M12 17v.5',
    right: 'M9 5l7 7-7 7',
  };

  const enc = encodeURIComponent;
  const pad2 = (n) => String(n).padStart(2, '0');

  function hostOf(url) {
    try { return new URL(url, location.href).host || url; } catch (e) { return String(url || ''); }
  }

  /** The URL when it is http(s) (or one of ours, relative), else null: nothing else is loaded
      or linked. */
  function safeUrl(url) {
    if (typeof url !== 'string' || !url) return null;
    try {
      const u = new URL(url, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }
  const sameOrigin = (url) => { try { return new URL(url).origin === location.origin; } catch (e) { return false; } };

  function fmtTime(ms) {
    const d = new Date(ms);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  }
  function fmtTimeSec(ms) {
    const d = new Date(ms);
    return `${fmtTime(ms)}:${pad2(d.getSeconds())}`;
  }
  function fmtDay(ms) {
    return new Date(ms).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
  }
  /** "2 d 3 h", "5 h 12 min", "40 s". */
  function fmtSpan(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const hr = Math.floor(m / 60);
    if (hr < 24) return m % 60 ? `${hr} h ${m % 60} min` : `${hr} h`;
    const d = Math.floor(hr / 24);
    return hr % 24 ? `${d} d ${hr % 24} h` : `${d} d`;
  }
  function prettyJson(text) {
    if (text == null) return '';
    if (typeof text !== 'string') return JSON.stringify(text, null, 2);
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }
  const short = (s, n = 60) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  /** Text with its http(s) URLs as links; line breaks kept by CSS (pre-wrap). */
  function linkified(text) {
    const frag = document.createDocumentFragment();
    const re = /\bhttps?:\/\/[^\s<>"']+/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      let url = m[0];
      const trail = url.match(/[.,;:!?)\]]+$/);
      if (trail) url = url.slice(0, -trail[0].length);
      if (m.index > last) frag.append(text.slice(last, m.index));
      const href = safeUrl(url);
      frag.append(href ? h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: url }) : url);
      last = m.index + url.length;
      re.lastIndex = last;
    }
    if (last < text.length) frag.append(text.slice(last));
    return frag;
  }

  // ---------------------------------------------------------------- network (in a worker)

  const WORKER_SRC = `'use strict';
self.onmessage = async (e) => {
  const q = e.data;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), q.timeout);
  try {
    if (q.probe) {
      await fetch(q.url, { mode: 'no-cors', credentials: 'omit', referrerPolicy: 'no-referrer', signal: ctl.signal });
      self.postMessage({ id: q.id, ok: true });
    } else {
      const init = { method: q.method, cache: 'no-store', signal: ctl.signal, headers: {} };
      if (q.body != null) { init.body = q.body; init.headers['Content-Type'] = 'application/json'; }
      const r = await fetch(q.url, init);
      self.postMessage({ id: q.id, status: r.status, text: await r.text() });
    }
  } catch (err) {
    self.postMessage({ id: q.id, error: ctl.signal.aborted ? 'timed out' : String((err && err.message) || err) });
  } finally {
    clearTimeout(timer);
  }
};`;

  let worker = null;
  let netSeq = 0;
  const netWait = new Map();
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER_SRC], { type: 'text/javascript' })));
    worker.onmessage = (e) => {
      const w = netWait.get(e.data.id);
      if (w) { netWait.delete(e.data.id); w(e.data); }
    };
    worker.onerror = (e) => { e.preventDefault(); worker = null; };
  } catch (e) {
    worker = null;
  }

  /** One request: {status, text} or {error}. Never throws. */
  function net(q) {
    q.url = new URL(q.url, location.href).href;
    q.timeout = q.timeout || 20000;
    if (worker) {
      return new Promise((resolve) => {
        q.id = ++netSeq;
        netWait.set(q.id, resolve);
        worker.postMessage(q);
      });
    }
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), q.timeout);
    const init = q.probe ? { mode: 'no-cors', credentials: 'omit', referrerPolicy: 'no-referrer', signal: ctl.signal }
      : { method: q.method, cache: 'no-store', signal: ctl.signal,
          headers: q.body != null ? { 'Content-Type': 'application/json' } : {}, body: q.body == null ? undefined : q.body };
    return fetch(q.url, init)
      .then(async (r) => (q.probe ? { ok: true } : { status: r.status, text: await r.text() }))
      .catch((err) => ({ error: ctl.signal.aborted ? 'timed out' : String((err && err.message) || err) }))
      .finally(() => clearTimeout(timer));
  }

  class NetError extends Error {}
  class ApiError extends Error {
    constructor(msg, status) { super(msg); this.status = status; }
  }

  /** A call of the page's API: the answer's JSON, or throws NetError (unreachable) or ApiError. */
  async function api(method, path, body, timeout) {
    const r = await net({ url: API + path, method, body: body === undefined ? null : JSON.stringify(body), timeout });
    if (r.error) { reachable(false); throw new NetError(r.error); }
    let data = null;
    try { data = JSON.parse(r.text); } catch (e) { data = null; }
    if (r.status >= 500 && (data == null || typeof data !== 'object')) {
      reachable(false);
      throw new NetError(`HTTP ${r.status}`);
    }
    reachable(true);
    if (r.status < 200 || r.status > 299) {
      throw new ApiError((data && data.error) || `HTTP ${r.status}`, r.status);
    }
    return data;
  }

  const probes = new Map();
  /** Whether an image or video URL can be loaded (asked once per URL, from the worker). */
  function probe(url) {
    if (sameOrigin(url)) return Promise.resolve(true);
    if (!probes.has(url)) probes.set(url, net({ url, probe: true, timeout: 15000 }).then((r) => !!r.ok));
    return probes.get(url);
  }

  // ---------------------------------------------------------------- state

  const S = {
    world: null,
    worldAt: 0,               // Date.now() when world arrived (for the simulated now)
    pageId: null,
    userKey: null,
    convs: new Map(),         // "page|user" -> conversation
    sent: new Map(),          // mid -> {body, answer} of events this page posted
    chipsTapped: new Set(),   // seq of page messages whose quick replies were tapped
    pendingSeq: 0,
    reachable: true,
    tab: 'thread',
    atBottom: true,
    logSeq: 0,
    counts: { webhooks: 0, graph: 0 },
  };

  const convKey = (page, user) => `${page}|${user}`;
  function curConv() {
    if (!S.pageId || !S.userKey) return null;
    const key = convKey(S.pageId, S.userKey);
    let c = S.convs.get(key);
    if (!c) {
      c = { key, page: S.pageId, user: S.userKey, seq: 0, items: new Map(), rows: new Map(),
            pending: [], loaded: false, needFull: false, lastFull: 0, unsettled: false,
            owner: null, typing: false, seen: 0, lastUserMs: null, window: null };
      S.convs.set(key, c);
    }
    return c;
  }
  const curPage = () => (S.world ? S.world.pages.find((p) => p.page_id === S.pageId) : null) || null;
  const curUser = () => (S.world ? S.world.users.find((u) => u.key === S.userKey) : null) || null;
  /** The simulated now, in ms. */
  function simNow() {
    const c = S.world && S.world.clock;
    if (!c || !c.now_ms) return Date.now();
    return c.now_ms + (Date.now() - S.worldAt);
  }

  // ---------------------------------------------------------------- banner and toast

  function reachable(ok) {
    if (ok === S.reachable) return;
    S.reachable = ok;
    $('#offline').hidden = ok;
  }

  let toastTimer = 0;
  function toast(msg, bad = true) {
    const t = $('#toast');
    t.textContent = msg;
    t.classList.toggle('bad', bad);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
  }
  /** An action's failure, told to the person (an unreachable simulator has its banner). */
  function failed(what, e) {
    if (e instanceof NetError) toast(`${what}: the simulator did not answer (${e.message})`);
    else toast(`${what}: ${e && e.message ? e.message : e}`);
  }

  // ---------------------------------------------------------------- pollers

  class Poller {
    constructor(fn, ms) { this.fn = fn; this.ms = ms; this.t = 0; this.busy = false; this.again = false; this.on = true; }
    kick(delay = 0) {
      clearTimeout(this.t);
      if (this.on) this.t = setTimeout(() => this.run(), delay);
    }
    stop() { this.on = false; clearTimeout(this.t); }
    start() { this.on = true; this.kick(0); }
    async run() {
      if (this.busy) { this.again = true; return; }
      this.busy = true;
      try {
        await this.fn();
      } catch (e) {
        if (!(e instanceof NetError) && !(e instanceof ApiError)) setTimeout(() => { throw e; });
      }
      this.busy = false;
      if (this.again) { this.again = false; this.kick(0); return; }
      this.kick(S.reachable ? this.ms : Math.max(this.ms, 2000));
    }
  }

  // ---------------------------------------------------------------- world

  async function loadWorld() {
    const w = await api('GET', 'world');
    if (!w || !Array.isArray(w.pages) || !Array.isArray(w.users)) return;
    S.world = w;
    S.worldAt = Date.now();
    if (!w.pages.some((p) => p.page_id === S.pageId)) S.pageId = w.pages.length ? w.pages[0].page_id : null;
    if (!w.users.some((u) => u.key === S.userKey)) S.userKey = w.users.length ? w.users[0].key : null;
    saveHash();
    renderWorld();
    renderChat();
  }
  const refreshWorld = () => pollers.world.kick(0);

  function saveHash() {
    if (!S.pageId || !S.userKey) return;
    const want = `#page=${enc(S.pageId)}&user=${enc(S.userKey)}`;
    if (location.hash !== want) history.replaceState(null, '', want);
  }
  function readHash() {
    const q = new URLSearchParams(location.hash.slice(1));
    S.pageId = q.get('page') || null;
    S.userKey = q.get('user') || null;
  }

  function avatarOf(u, i) {
    const pic = u && safeUrl(u.picture);
    return pic || `${STATIC}avatar-${(i % 6) + 1}.svg`;
  }
  function userIndex(key) {
    return S.world ? Math.max(0, S.world.users.findIndex((u) => u.key === key)) : 0;
  }

  function renderWorld() {
    const w = S.world;
    if (!w) return;
    // pages
    const pages = $('#pages');
    pages.replaceChildren(...w.pages.map((p) => h('li', null,
      h('button', { type: 'button', class: 'side-item', 'data-test': 'page', 'data-page-id': p.page_id,
                    'data-bot': p.bot, 'aria-current': p.page_id === S.pageId ? 'true' : null,
                    title: `connector ${p.connector} · page ${p.page_id} · ${p.path}`,
                    onclick: () => switchTo(p.page_id, S.userKey) },
        h('img', { class: 'avatar avatar-32', src: `${STATIC}page.svg`, alt: '' }),
        h('span', { class: 'side-text' },
          h('span', { class: 'side-name', text: p.name || p.connector }),
          h('span', { class: 'side-sub', text: `${p.connector} · ${p.bot}` })),
        h('span', { class: `badge bot-${p.bot === 'api' ? 'api' : 'stories'}`, text: p.bot })))));
    // users
    const users = $('#users');
    users.replaceChildren(...w.users.map((u, i) => h('li', null,
      h('button', { type: 'button', class: 'side-item', 'data-test': 'user', 'data-user': u.key,
                    'aria-current': u.key === S.userKey ? 'true' : null,
                    title: `PSID ${(u.psids && u.psids[S.pageId]) || '—'} on this page`,
                    onclick: () => switchTo(S.pageId, u.key) },
        h('img', { class: 'avatar avatar-32', src: avatarOf(u, i), alt: '' }),
        h('span', { class: 'side-text' },
          h('span', { class: 'side-name', text: u.name }),
          h('span', { class: 'side-sub', text: `PSID …${String((u.psids && u.psids[S.pageId]) || '').slice(-6)}` }))))));
    // status summary under the lists
    const bits = [];
    const off = (w.clock && w.clock.offset_s) || 0;
    bits.push(h('span', { class: `chip-state${off ? ' warn' : ''}`, title: 'The simulated clock' }, icon(ICON.clock, 13), off ? `clock ${fmtOffset(off)}` : 'real time'));
    if (w.fail && w.fail.mode && w.fail.mode !== 'none') {
      bits.push(h('span', { class: 'chip-state bad', title: 'Graph API failures armed' }, icon(ICON.bolt, 13), `${failName(w.fail.mode)} ×${w.fail.remaining}`));
    }
    if (w.batch && w.batch.on) bits.push(h('span', { class: 'chip-state warn', title: 'Events are held' }, icon(ICON.pause, 13), `batching (${w.batch.pending || 0})`));
    $('#side-status').replaceChildren(...bits);
    renderControls();
  }

  function fmtOffset(s) {
    if (!s) return 'real time';
    return `${s < 0 ? '−' : '+'}${fmtSpan(Math.abs(s) * 1000)}`;
  }
  const FAIL_NAMES = { 613: '613 rate limit', 10: '10 outside the window', 190: '190 token expired',
                       551: '551 person unavailable', 500: 'HTTP 500', hang: 'no answer (hang)' };
  const failName = (m) => FAIL_NAMES[m] || String(m);

  function switchTo(pageId, userKey) {
    if (pageId === S.pageId && userKey === S.userKey) return;
    closePicker();
    S.pageId = pageId;
    S.userKey = userKey;
    S.atBottom = true;
    saveHash();
    renderWorld();
    renderChat();
    pollers.conv.kick(0);
  }

  // ---------------------------------------------------------------- conversation polling

  async function pollConv() {
    const c = curConv();
    if (!c) return;
    const now = Date.now();
    const full = !c.loaded || c.needFull || (c.unsettled && now - c.lastFull > 1500);
    const d = await api('GET', `conversation?page=${enc(c.page)}&user=${enc(c.user)}&since=${full ? 0 : c.seq}`);
    if (!d || c !== curConv()) return;
    if (typeof d.seq === 'number' && d.seq < c.seq) { restarted(); return; }
    let changed = !c.loaded;
    const items = Array.isArray(d.items) ? d.items : [];
    if (full) {
      c.lastFull = now;
      const next = new Map();
      for (const it of items) next.set(it.seq, it);
      if (next.size !== c.items.size || items.some((it) => JSON.stringify(it) !== JSON.stringify(c.items.get(it.seq)))) changed = true;
      c.items = next;
      c.needFull = false;
    } else {
      for (const it of items) { c.items.set(it.seq, it); changed = true; }
    }
    let top = Math.max(c.seq, typeof d.seq === 'number' ? d.seq : 0);
    for (const it of items) top = Math.max(top, it.seq || 0);
    c.seq = top;
    const owner = d.owner || null;
    const meta = [owner && owner.label, owner && owner.app_id, !!d.typing, d.seen_watermark || 0, d.last_user_ms || null, d.window || null];
    const before = [c.owner && c.owner.label, c.owner && c.owner.app_id, c.typing, c.seen, c.lastUserMs, c.window];
    if (meta.some((v, i) => v !== before[i])) changed = true;
    c.owner = owner;
    c.typing = !!d.typing;
    c.seen = d.seen_watermark || 0;
    c.lastUserMs = d.last_user_ms || null;
    c.window = d.window || null;
    c.loaded = true;
    c.unsettled = [...c.items.values()].some((it) => it.from === 'user' && statusOf(it).pending);
    if (changed) renderChat();
  }

  /** The simulator answers with a seq below one it gave: it restarted, and its seqs, items and
      log start again. Everything cached is dropped and fetched anew. */
  function restarted() {
    S.convs.clear();
    S.sent.clear();
    S.chipsTapped.clear();
    box().replaceChildren();
    box().dataset.conv = '';
    S.logSeq = 0;
    S.counts = { webhooks: 0, graph: 0 };
    $('#webhooks').replaceChildren();
    $('#graph').replaceChildren();
    $('#count-webhooks').textContent = '';
    $('#count-graph').textContent = '';
    toast('The simulator restarted: the conversations start again', false);
    pollers.world.kick(0);
    pollers.conv.kick(0);
    pollers.log.kick(0);
  }

  // ---------------------------------------------------------------- what the items say

  const isPageMsg = (it) => it.from === 'page' && it.message && typeof it.message === 'object';
  const USER_BUBBLES = new Set(['text', 'quick_reply', 'postback', 'attachment']);
  const isUserBubble = (it) => it.from === 'user' && USER_BUBBLES.has(it.kind);
  const isShown = (it) => !(it.from === 'page' && !isPageMsg(it)); // sender actions: state only

  function reactionAction(it) {
    if (it.action) return it.action;
    const s = S.sent.get(it.mid);
    if (s && s.body.action) return s.body.action;
    return it.emoji ? 'react' : 'unreact';
  }

  /** The connector's answer to a user item's webhook. */
  function statusOf(it) {
    const w = it.webhook || {};
    const s = S.sent.get(it.mid);
    const a = (s && s.answer) || {};
    const status = w.status != null ? w.status : (a.status != null ? a.status : null);
    if (status != null) return { status, id: w.id || a.webhook, error: w.error || a.error };
    const batched = !!(w.batched || a.batched || (S.world && S.world.batch && S.world.batch.on));
    return { status: null, batched, pending: !batched, id: w.id || a.webhook };
  }

  /** What depends on more than one item: reactions, edits, runs, chips, "Seen". */
  function derive(c, items) {
    const x = { reactions: new Map(), edits: new Map(), lastOfRun: new Set(), firstOfRun: new Set(),
                chipsSeq: null, seenSeq: null, bubbleText: new Map() };
    let lastPage = null;
    let userAfter = false;
    let lastUser = null;
    let prevKey = null;
    let prevSeq = null;
    for (const it of items) {
      if (!isShown(it)) continue;
      if (it.from === 'user' && it.kind === 'reaction' && it.target_mid) {
        if (reactionAction(it) === 'unreact') x.reactions.delete(it.target_mid);
        else x.reactions.set(it.target_mid, it.emoji || '👍');
      }
      if (it.from === 'user' && it.kind === 'edit' && it.target_mid) {
        const e = x.edits.get(it.target_mid) || { n: 0 };
        x.edits.set(it.target_mid, { text: it.text || '', n: e.n + 1 });
      }
      if (isPageMsg(it)) { lastPage = it; userAfter = false; }
      if (isUserBubble(it)) { userAfter = true; lastUser = it; }
      if (it.mid && (it.kind === 'text' || it.kind === 'quick_reply')) x.bubbleText.set(it.mid, it.text || '');
      if (isPageMsg(it) && it.mid) x.bubbleText.set(it.mid, it.message.text || '');
      // runs of page messages from one sender: the avatar on the last, the name on the first
      const key = isPageMsg(it) ? `p:${it.persona ? it.persona.id : ''}:${it.by || ''}` : null;
      if (key && key !== prevKey) x.firstOfRun.add(it.seq);
      if (prevKey && key !== prevKey) x.lastOfRun.add(prevSeq);
      prevKey = key;
      prevSeq = it.seq;
    }
    if (prevKey) x.lastOfRun.add(prevSeq);
    if (c.pending.length) userAfter = true;
    if (lastPage && !userAfter && !S.chipsTapped.has(lastPage.seq)
        && Array.isArray(lastPage.message.quick_replies) && lastPage.message.quick_replies.length) {
      x.chipsSeq = lastPage.seq;
    }
    if (lastUser && c.seen && c.seen >= lastUser.ts && !c.pending.length) x.seenSeq = lastUser.seq;
    return x;
  }

  // ---------------------------------------------------------------- rendering the chat

  const box = () => $('#messages');

  function renderChat() {
    const c = curConv();
    renderHead(c);
    renderThread(c);
    renderControls();
    const list = box();
    if (!c) { list.replaceChildren(); return; }
    if (list.dataset.conv !== c.key) {
      list.replaceChildren();
      list.dataset.conv = c.key;
      S.atBottom = true;
    }
    const items = [...c.items.values()];
    const ctx = derive(c, items);
    const want = [];
    let prevTs = null;
    for (const it of items) {
      if (!isShown(it)) continue;
      if (typeof it.ts === 'number' && (prevTs == null || it.ts - prevTs > 20 * 60e3)) {
        want.push(rowFor(c, `d${it.seq}`, () => dividerRow(it.ts)));
      }
      if (typeof it.ts === 'number') prevTs = it.ts;
      const row = rowFor(c, `i${it.seq}`, () => buildRow(it));
      row.item = it;
      if (row.update) row.update(ctx);
      want.push(row);
    }
    // the person's messages still being posted
    const known = new Set(items.map((it) => it.mid).filter(Boolean));
    c.pending = c.pending.filter((p) => !(p.mid && known.has(p.mid)));
    for (const p of c.pending) want.push(rowFor(c, `p${p.id}`, () => pendingRow(p)));
    if (c.loaded && !want.length) want.push(rowFor(c, 'empty', emptyRow));
    if (c.typing) want.push(rowFor(c, 'typing', typingRow));
    // put them in place, moving as little as possible (keeps focus and loaded images)
    const els = want.map((r) => r.el);
    let prev = null;
    for (const el of els) {
      const next = prev ? prev.nextSibling : list.firstChild;
      if (next !== el) list.insertBefore(el, next);
      prev = el;
    }
    while (prev ? prev.nextSibling : list.firstChild) (prev ? prev.nextSibling : list.firstChild).remove();
    keepBottom();
  }

  function rowFor(c, key, make) {
    let r = c.rows.get(key);
    if (!r) {
      r = make();
      if (!r.el) r = { el: r };
      c.rows.set(key, r);
    }
    return r;
  }

  function keepBottom() {
    if (S.atBottom) {
      const l = box();
      l.scrollTop = l.scrollHeight;
    }
  }

  function dividerRow(ts) {
    const now = simNow();
    const sameDay = new Date(ts).toDateString() === new Date(now).toDateString();
    return h('div', { class: 'divider', role: 'separator' },
      h('span', { text: sameDay ? fmtTime(ts) : `${fmtDay(ts)} ${fmtTime(ts)}` }));
  }

  function emptyRow() {
    const p = curPage();
    return h('div', { class: 'empty' },
      h('img', { class: 'avatar avatar-64', src: `${STATIC}page.svg`, alt: '' }),
      h('div', { class: 'empty-name', text: p ? p.name : 'Page' }),
      h('div', { class: 'empty-sub', text: 'No messages yet. Say hello, or tap Get Started as a new person would.' }),
      h('button', { type: 'button', class: 'btn primary', 'data-test': 'get-started-empty', onclick: getStarted, text: 'Get Started' }));
  }

  function typingRow() {
    const p = curPage();
    return h('div', { class: 'row page typing-row', 'data-test': 'typing', 'aria-label': `${p ? p.name : 'The page'} is typing` },
      h('img', { class: 'avatar avatar-28', src: `${STATIC}page.svg`, alt: '' }),
      h('div', { class: 'bubble page-bubble typing' }, h('i'), h('i'), h('i')));
  }

  function pendingRow(p) {
    const content = p.image ? imageBox(p.image, 'user-media') : h('div', { class: 'bubble user-bubble', text: p.text || '' });
    return h('div', { class: 'row user pending', 'data-test': 'msg-pending', 'data-kind': p.kind },
      h('div', { class: 'stack' },
        h('div', { class: 'line' }, h('span', { class: 'status', 'data-status': 'pending', text: 'sending…' }), content)));
  }

  function buildRow(it) {
    if (it.from === 'user') return isUserBubble(it) ? userBubbleRow(it) : userEventRow(it);
    if (it.from === 'page') return pageRow(it);
    return systemRow(it);
  }

  // ---- the person's rows

  function statusEl() {
    return h('span', { class: 'status', 'data-test': 'status' });
  }
  function setStatus(el, it) {
    const s = statusOf(it);
    let text;
    let cls = 'status';
    let title;
    if (s.status == null) {
      if (s.batched) { text = 'batched'; cls += ' held'; title = 'Held: batching is on. "Send batch" posts it.'; }
      else { text = '…'; title = 'Waiting for the connector\'s answer'; }
    } else if (s.status >= 200 && s.status < 300) {
      text = `✓ ${s.status}`;
      title = `The connector answered ${s.status}${s.id ? ` to webhook #${s.id}` : ''}`;
    } else {
      text = s.status === 0 ? '✕ no answer' : `✕ ${s.status}`;
      cls += ' bad';
      title = s.status === 0 ? `The connector could not be reached${s.error ? `: ${s.error}` : ''}` : `The connector answered ${s.status}`;
    }
    const ds = s.status == null ? (s.batched ? 'batched' : 'pending') : String(s.status);
    if (el.textContent !== text) el.textContent = text;
    el.className = cls;
    el.title = title;
    el.dataset.status = ds;
  }

  function userBubbleRow(it) {
    let content;
    let textEl = null;
    if (it.kind === 'attachment') {
      const url = it.url || attachmentUrlOfUserItem(it);
      content = url ? imageBox(url, 'user-media') : h('div', { class: 'bubble user-bubble', text: '📎 attachment' });
    } else {
      const text = it.kind === 'postback' ? (it.title || it.payload || 'Postback') : (it.text || '');
      textEl = h('div', { class: 'bubble user-bubble' }, linkified(text));
      if (it.kind === 'postback' || it.kind === 'quick_reply') {
        textEl.title = `${it.kind} · payload ${it.payload == null ? '—' : it.payload}`;
      }
      content = textEl;
    }
    const status = statusEl();
    const edit = it.kind === 'text' && it.mid
      ? h('button', { type: 'button', class: 'tool', 'data-test': 'edit', title: 'Edit this message', 'aria-label': 'Edit this message',
                      onclick: () => editMessage(row.item) }, icon(ICON.pencil, 16))
      : null;
    const edited = h('span', { class: 'edited', hidden: true });
    const seen = h('div', { class: 'seen', 'data-test': 'seen', text: 'Seen', hidden: true });
    const el = h('div', { class: 'row user', 'data-test': 'msg', 'data-from': 'user', 'data-kind': it.kind, 'data-seq': it.seq, 'data-mid': it.mid || null },
      h('div', { class: 'stack' },
        h('div', { class: 'line' }, edit, status, content),
        edited,
        seen));
    let shownText = null;
    const row = {
      el,
      item: it,
      update(ctx) {
        setStatus(status, row.item);
        const e = row.item.mid && ctx.edits.get(row.item.mid);
        if (textEl && e && shownText !== e.text) {
          shownText = e.text;
          textEl.replaceChildren(linkified(e.text));
        }
        edited.hidden = !e;
        if (e) edited.textContent = e.n > 1 ? `Edited ${e.n}×` : 'Edited';
        seen.hidden = ctx.seenSeq !== row.item.seq;
      },
    };
    return row;
  }

  function attachmentUrlOfUserItem(it) {
    const a = Array.isArray(it.attachments) ? it.attachments[0] : null;
    return (a && a.payload && a.payload.url) || null;
  }

  function userEventRow(it) {
    const status = statusEl();
    const mark = h('span', { class: 'event-icon' });
    const text = h('span', { class: 'event-text' });
    const el = h('div', { class: 'row event', 'data-test': 'msg', 'data-from': 'user', 'data-kind': it.kind || 'event', 'data-seq': it.seq, 'data-mid': it.mid || null },
      mark, text, status);
    let marked = null;
    const row = {
      el,
      item: it,
      update(ctx) {
        const i = row.item;
        const u = curUser();
        const who = u ? u.first_name || u.name : 'The person';
        let t;
        let m = null;
        switch (i.kind) {
          case 'referral': m = ICON.link; t = `${who} opened the conversation from an m.me link · ref “${i.ref || ''}”`; break;
          case 'optin': m = ICON.optin; t = `${who} opted in · ref “${i.ref || ''}”`; break;
          case 'read': m = ICON.eye; t = `${who} read the conversation`; break;
          case 'delivery': m = ICON.delivered; t = `Delivered to ${who}`; break;
          case 'reaction': {
            const about = ctx.bubbleText.get(i.target_mid);
            const quoted = about ? ` to “${short(about, 40)}”` : '';
            m = i.emoji && reactionAction(i) !== 'unreact' ? displayEmoji(i.emoji) : ICON.smile;
            t = reactionAction(i) === 'unreact' ? `${who} removed a reaction${quoted}` : `${who} reacted${quoted}`;
            break;
          }
          case 'edit': m = ICON.pencil; t = `${who} edited a message: “${short(i.text || '', 60)}”`; break;
          default: t = `${i.kind || 'event'}${i.text ? `: ${i.text}` : ''}`;
        }
        if (m !== marked) {
          marked = m;
          mark.replaceChildren(!m ? '' : m.length < 8 ? m : icon(m, 14));
        }
        if (text.textContent !== t) text.textContent = t;
        setStatus(status, i);
      },
    };
    return row;
  }

  const displayEmoji = (e) => (e === '\u2764' ? '\u2764\uFE0F' : e || '');

  // ---- the page's rows

  function pageKind(m) {
    if (m.attachment && typeof m.attachment === 'object') {
      const a = m.attachment;
      if (a.type === 'template') return (a.payload && a.payload.template_type) || 'template';
      if (a.payload && a.payload.sticker_id) return 'sticker';
      return a.type || 'unknown';
    }
    if (Array.isArray(m.attachments) && m.attachments.length) return m.attachments[0].type || 'unknown';
    if (m.sticker_id) return 'sticker';
    if (typeof m.text === 'string') return 'text';
    return 'unknown';
  }

  function pageRow(it) {
    const m = it.message;
    const kind = pageKind(m);
    const p = curPage();
    const persona = it.persona && typeof it.persona === 'object' ? it.persona : null;
    const avatarSrc = (persona && safeUrl(persona.picture)) || `${STATIC}page.svg`;
    const avatar = h('img', { class: 'avatar avatar-28', src: avatarSrc, alt: '',
                              title: persona ? persona.name : (p ? p.name : 'the page') });
    const sender = h('div', { class: 'sender', text: persona ? persona.name : (it.by === 'inbox' ? 'Page Inbox' : ''), hidden: true });
    const content = pageContent(it, kind);
    const reactBtn = h('button', { type: 'button', class: 'tool react', 'data-test': 'react', 'aria-label': 'React', title: 'React',
                                   onclick: (e) => reactTapped(e.currentTarget, row.item) }, icon(ICON.smile, 18));
    const badge = h('button', { type: 'button', class: 'reaction', 'data-test': 'reaction', hidden: true,
                                title: 'Your reaction: tap to remove it', onclick: () => unreact(row.item) });
    const labelText = [it.messaging_type || 'RESPONSE', it.tag, it.notification_type && it.notification_type !== 'REGULAR' ? it.notification_type : null]
      .filter(Boolean).join(' · ') + (it.by === 'inbox' ? ' · by Page Inbox' : '');
    const label = it.graph != null
      ? h('button', { type: 'button', class: 'label link', 'data-test': 'msg-label', title: `Show Graph call #${it.graph}`,
                      onclick: () => showLogRow('graph', it.graph), text: labelText })
      : h('div', { class: 'label', 'data-test': 'msg-label', text: labelText });
    const chips = h('div', { class: 'chips', hidden: true });
    const wide = kind === 'generic';
    const el = h('div', { class: `row page${wide ? ' wide' : ''}${it.by === 'inbox' ? ' by-inbox' : ''}`, 'data-test': 'msg', 'data-from': 'page',
                          'data-kind': kind, 'data-seq': it.seq, 'data-mid': it.mid || null },
      avatar,
      h('div', { class: 'stack' },
        sender,
        h('div', { class: 'line' }, content, reactBtn),
        badge,
        label),
      chips);
    let chipsFor = null;
    const row = {
      el,
      item: it,
      update(ctx) {
        const i = row.item;
        avatar.style.visibility = ctx.lastOfRun.has(i.seq) ? 'visible' : 'hidden';
        sender.hidden = !(ctx.firstOfRun.has(i.seq) && sender.textContent);
        const r = i.mid ? ctx.reactions.get(i.mid) : null;
        badge.hidden = !r;
        badge.textContent = r ? displayEmoji(r) : '';
        reactBtn.classList.toggle('on', !!r);
        reactBtn.dataset.emoji = r || '';
        reactBtn.title = r ? `Remove your reaction ${displayEmoji(r)}` : 'React';
        reactBtn.setAttribute('aria-label', reactBtn.title);
        reactBtn.setAttribute('aria-pressed', r ? 'true' : 'false');
        const show = ctx.chipsSeq === i.seq;
        if (show && chipsFor !== i.seq) { chips.replaceChildren(...quickReplies(i)); chipsFor = i.seq; }
        chips.hidden = !show;
      },
    };
    return row;
  }

  function pageContent(it, kind) {
    const m = it.message;
    if (kind === 'text') return h('div', { class: 'bubble page-bubble' }, linkified(m.text));
    const list = m.attachment ? [m.attachment] : (Array.isArray(m.attachments) ? m.attachments : []);
    if (m.sticker_id && !list.length) return sticker(m.sticker_id, null);
    const parts = list.map((a) => attachment(it, a));
    if (typeof m.text === 'string' && m.text) parts.unshift(h('div', { class: 'bubble page-bubble' }, linkified(m.text)));
    if (!parts.length) {
      return h('div', { class: 'bubble page-bubble unknown' },
        h('div', { class: 'hint', text: 'A message the page cannot show:' }),
        h('pre', { class: 'mini-json', text: JSON.stringify(m, null, 2) }));
    }
    return parts.length === 1 ? parts[0] : h('div', { class: 'multi' }, parts);
  }

  /** The URL of an attachment payload: its url, or the one the simulator knows for its id. */
  function urlOf(it, payload) {
    if (!payload) return null;
    if (payload.url) return payload.url;
    const id = payload.attachment_id;
    if (id != null) {
      if (it.urls && it.urls[id]) return it.urls[id];
      if (it.attachment_url) return it.attachment_url;
    }
    return null;
  }

  function attachment(it, a) {
    const p = a.payload || {};
    switch (a.type) {
      case 'template': return template(it, p);
      case 'image': return p.sticker_id ? sticker(p.sticker_id, urlOf(it, p)) : media(it, 'image', urlOf(it, p), p.attachment_id);
      case 'video': return media(it, 'video', urlOf(it, p), p.attachment_id);
      case 'audio': return media(it, 'audio', urlOf(it, p), p.attachment_id);
      case 'file': return fileCard(urlOf(it, p), p.attachment_id);
      default:
        return h('div', { class: 'bubble page-bubble unknown' },
          h('div', { class: 'hint', text: `attachment of type ${a.type}` }),
          h('pre', { class: 'mini-json', text: JSON.stringify(a, null, 2) }));
    }
  }

  function sticker(id, url) {
    if (url) return imageBox(url, 'sticker');
    const like = String(id) === '369239263222822' || String(id) === '369239343222814' || String(id) === '369239383222810';
    return h('div', { class: 'sticker-emoji', title: `sticker ${id}`, text: like ? '👍' : '🙂' });
  }

  function media(it, kind, url, id) {
    if (kind === 'image') return imageBox(url, 'page-media', id);
    return mediaBox(url, kind, id);
  }

  /** A framed placeholder naming the host (or the attachment id). */
  function placeholder(kind, url, id) {
    const what = url ? hostOf(url) : (id != null ? `attachment ${id}` : 'no URL');
    return h('div', { class: 'ph' },
      icon(ICON[kind] || ICON.image, 28),
      h('span', { class: 'ph-host', text: what }),
      h('span', { class: 'ph-note' }));
  }

  /** An image: the placeholder until it loads, and for good when it cannot. */
  function imageBox(url, cls, id) {
    const u = safeUrl(url);
    const frame = h('div', { class: `media ${cls || ''}`, title: url || (id != null ? `attachment ${id}` : '') }, placeholder('image', u, id));
    if (!u) { frame.classList.add('failed'); return frame; }
    probe(u).then((ok) => {
      if (!ok) { frame.classList.add('failed'); return; }
      const img = new Image();
      img.alt = '';
      img.decoding = 'async';
      img.referrerPolicy = 'no-referrer';
      img.addEventListener('load', () => { frame.classList.add('loaded'); keepBottom(); });
      img.addEventListener('error', () => { img.remove(); frame.classList.add('failed'); });
      img.src = u;
      frame.append(img);
    });
    return frame;
  }

  function mediaBox(url, kind, id) {
    const u = safeUrl(url);
    const frame = h('div', { class: `media page-media ${kind}`, title: url || '' }, placeholder(kind, u, id));
    if (!u) { frame.classList.add('failed'); return frame; }
    probe(u).then((ok) => {
      if (!ok) { frame.classList.add('failed'); return; }
      const el = h(kind, { controls: true, preload: 'metadata' });
      el.addEventListener('loadedmetadata', () => { frame.classList.add('loaded'); keepBottom(); });
      el.addEventListener('error', () => { el.remove(); frame.classList.add('failed'); });
      el.src = u;
      frame.append(el);
    });
    return frame;
  }

  function fileCard(url, id) {
    const u = safeUrl(url);
    let name = id != null ? `attachment ${id}` : 'file';
    if (u) {
      try { name = decodeURIComponent(new URL(u).pathname.split('/').filter(Boolean).pop() || hostOf(u)); } catch (e) { name = hostOf(u); }
    }
    const inner = [h('span', { class: 'file-icon' }, icon(ICON.file, 22)),
      h('span', { class: 'file-text' }, h('span', { class: 'file-name', text: name }), h('span', { class: 'file-host', text: u ? hostOf(u) : '' }))];
    return u ? h('a', { class: 'file-card', href: u, target: '_blank', rel: 'noopener noreferrer' }, inner)
      : h('div', { class: 'file-card' }, inner);
  }

  function template(it, p) {
    switch (p.template_type) {
      case 'button':
        return h('div', { class: 'tpl tpl-button' },
          h('div', { class: 'tpl-text' }, linkified(p.text || '')),
          buttons(p.buttons));
      case 'generic': return carousel(it, p);
      case 'media': {
        const e = (Array.isArray(p.elements) && p.elements[0]) || {};
        const kind = e.media_type === 'video' ? 'video' : 'image';
        const url = urlOf(it, e);
        return h('div', { class: 'tpl tpl-media' },
          kind === 'image' ? imageBox(url, 'tpl-media-img', e.attachment_id) : mediaBox(url, 'video', e.attachment_id),
          buttons(e.buttons));
      }
      default:
        return h('div', { class: 'bubble page-bubble unknown' },
          h('div', { class: 'hint', text: `template ${p.template_type || '?'}` }),
          h('pre', { class: 'mini-json', text: JSON.stringify(p, null, 2) }));
    }
  }

  function carousel(it, p) {
    const els = Array.isArray(p.elements) ? p.elements : [];
    const square = p.image_aspect_ratio === 'square';
    const track = h('div', { class: 'carousel-track', role: 'list' }, els.map((e) => card(e, square)));
    const scrollBy = (dir) => track.scrollBy({ left: dir * (track.clientWidth * 0.8), behavior: 'smooth' });
    const prev = h('button', { type: 'button', class: 'car-nav prev', 'aria-label': 'Previous cards', onclick: () => scrollBy(-1) }, icon(ICON.left, 18));
    const next = h('button', { type: 'button', class: 'car-nav next', 'aria-label': 'Next cards', onclick: () => scrollBy(1) }, icon(ICON.right, 18));
    const sync = () => {
      prev.hidden = track.scrollLeft < 8;
      next.hidden = track.scrollLeft + track.clientWidth > track.scrollWidth - 8;
    };
    track.addEventListener('scroll', sync, { passive: true });
    requestAnimationFrame(sync);
    if (window.ResizeObserver) new ResizeObserver(sync).observe(track);
    return h('div', { class: 'carousel' }, track, prev, next);
  }

  function card(e, square) {
    const da = e.default_action && e.default_action.type === 'web_url' ? safeUrl(e.default_action.url) : null;
    const img = e.image_url ? imageBox(e.image_url, square ? 'card-img square' : 'card-img') : null;
    const body = h('div', { class: 'card-body' },
      h('div', { class: 'card-title', text: e.title || '' }),
      e.subtitle ? h('div', { class: 'card-sub', text: e.subtitle }) : null,
      da ? h('div', { class: 'card-url', text: hostOf(da) }) : null);
    const top = da
      ? h('a', { class: 'card-top', href: da, target: '_blank', rel: 'noopener noreferrer', title: da }, img, body)
      : h('div', { class: 'card-top' }, img, body);
    return h('div', { class: 'card', 'data-test': 'card', role: 'listitem' }, top, buttons(e.buttons));
  }

  function buttons(list) {
    if (!Array.isArray(list) || !list.length) return null;
    return h('div', { class: 'tbtns' }, list.map(templateButton));
  }

  function templateButton(b) {
    const title = b.title || '';
    switch (b.type) {
      case 'postback':
        return h('button', { type: 'button', class: 'tbtn', 'data-test': 'button', title: `postback · payload ${b.payload == null ? '—' : b.payload}`,
                             onclick: () => sendEvent('postback', { title, payload: b.payload }, { text: title }) }, title);
      case 'web_url': {
        const u = safeUrl(b.url);
        return u
          ? h('a', { class: 'tbtn', 'data-test': 'button', href: u, target: '_blank', rel: 'noopener noreferrer', title: u }, title, icon(ICON.ext, 14))
          : h('button', { type: 'button', class: 'tbtn', 'data-test': 'button', disabled: true, title: `web_url ${b.url}` }, title);
      }
      case 'phone_number': {
        const num = String(b.payload || '');
        return h('a', { class: 'tbtn phone', 'data-test': 'button', href: `tel:${num.replace(/[^+\d]/g, '')}`, title: `Call ${num}` },
          h('span', null, title), h('span', { class: 'tbtn-sub' }, icon(ICON.phone, 12), num));
      }
      case 'account_link': {
        const u = safeUrl(b.url);
        const inner = [h('span', null, title || 'Log In'), h('span', { class: 'tbtn-sub' }, icon(ICON.lock, 12), 'account_link')];
        return u ? h('a', { class: 'tbtn', 'data-test': 'button', href: u, target: '_blank', rel: 'noopener noreferrer', title: `account linking: ${u}` }, inner)
          : h('button', { type: 'button', class: 'tbtn', 'data-test': 'button', disabled: true }, inner);
      }
      case 'account_unlink':
        return h('button', { type: 'button', class: 'tbtn', 'data-test': 'button',
                             onclick: () => toast('account_unlink: Messenger would unlink the account (not simulated)', false) },
          h('span', null, title || 'Log Out'), h('span', { class: 'tbtn-sub' }, icon(ICON.lock, 12), 'account_unlink'));
      default:
        return h('button', { type: 'button', class: 'tbtn', 'data-test': 'button', disabled: true, title: `${b.type} (not simulated)` }, title || b.type || '?');
    }
  }

  function madeUpEmail() {
    const u = curUser();
    const base = (u ? `${u.first_name || u.name || 'user'}.${u.last_name || ''}` : 'user')
      .normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9.]+/g, '').replace(/\.+$/, '');
    return `${base || 'user'}@example.com`;
  }
  function madeUpPhone() {
    return `+1555010${String(1000 + userIndex(S.userKey) * 37).slice(-4)}`;
  }

  function quickReplies(it) {
    return it.message.quick_replies.map((q) => {
      let text = q.title || '';
      let payload = q.payload;
      if (q.content_type === 'user_email') { text = madeUpEmail(); payload = text; }
      if (q.content_type === 'user_phone_number') { text = madeUpPhone(); payload = text; }
      const img = q.image_url && safeUrl(q.image_url) ? h('img', { class: 'chip-img', alt: '' }) : null;
      if (img) probe(safeUrl(q.image_url)).then((ok) => { if (ok) img.src = safeUrl(q.image_url); else img.remove(); });
      return h('button', { type: 'button', class: 'chip', 'data-test': 'quick-reply', title: `quick reply · payload ${payload == null ? '—' : payload}`,
                           onclick: () => {
                             S.chipsTapped.add(it.seq);
                             sendEvent('quick_reply', { text, payload }, { text });
                           } }, img, text);
    });
  }

  // ---- system rows

  function systemRow(it) {
    const kind = it.kind || 'note';
    const parts = [];
    const detail = [];
    if (kind === 'refused') {
      parts.push(h('span', { class: 'sys-strong', text: 'Facebook refused a call: ' }), h('span', { text: it.text || '' }));
      if (it.code != null) detail.push(h('span', { class: 'sys-code', text: `code ${it.code}${it.subcode != null ? ` · subcode ${it.subcode}` : ''}` }));
    } else {
      parts.push(h('span', { text: it.text || kind }));
    }
    if (it.graph != null) {
      if (detail.length) detail.push(' · ');
      detail.push(h('button', { type: 'button', class: 'sys-link', text: `Graph call #${it.graph}`, title: 'Show this Graph call',
                                onclick: () => showLogRow('graph', it.graph) }));
    }
    if (detail.length) parts.push(h('span', { class: 'sys-detail' }, detail));
    return h('div', { class: `row system sys-${kind}`, 'data-test': 'msg', 'data-from': 'system', 'data-kind': kind, 'data-seq': it.seq },
      h('div', { class: 'sys', title: typeof it.ts === 'number' ? fmtTimeSec(it.ts) : '' }, parts));
  }

  // ---------------------------------------------------------------- chat header, thread panel

  function ownerInfo(c) {
    const o = c && c.owner;
    if (!o || !o.label) return { key: 'none', icon: null, pill: '' };
    if (o.label === 'bot') return { key: 'bot', icon: 'bot', pill: 'Bot', sub: o.app_id ? `the connector's app ${o.app_id}` : '' };
    if (o.label === 'inbox') return { key: 'inbox', icon: 'person', pill: 'Page Inbox', sub: o.app_id ? `app ${o.app_id}` : '' };
    return { key: 'other', icon: 'apps', pill: `Other ${o.label}`, sub: o.app_id ? `app ${o.app_id}` : o.label };
  }

  function renderHead(c) {
    const p = curPage();
    const u = curUser();
    $('#head-name').textContent = p ? p.name : (S.world ? 'No page' : '…');
    const sub = [];
    if (p) sub.push(`${p.connector} · ${p.bot === 'api' ? 'Bot API bot' : 'stories bot'}`);
    if (u) sub.push(`chatting as ${u.name}`);
    $('#head-sub').textContent = sub.join(' — ');
    const o = ownerInfo(c);
    const pill = $('#head-owner');
    put(pill, o.icon ? icon(ICON[o.icon], 14) : null, o.pill);
    pill.hidden = !o.pill;
    pill.className = `pill owner-${o.key}`;
    const wp = $('#head-window');
    const wi = windowInfo(c);
    wp.textContent = wi.pill;
    wp.hidden = !wi.pill;
    wp.className = `pill win-${wi.key}`;
    const note = $('#standby-note');
    if (c && c.owner && c.owner.label && c.owner.label !== 'bot') {
      note.textContent = o.key === 'inbox'
        ? 'A person at the Page Inbox has this thread: the person\'s messages reach the connector on standby, and the bot stays silent.'
        : `Another app (${c.owner.label}) has this thread: the connector gets the person's messages on standby.`;
      note.hidden = false;
    } else {
      note.hidden = true;
    }
  }

  function windowInfo(c) {
    const w = c && c.window;
    const last = c && c.lastUserMs;
    const now = simNow();
    if (!w) return { key: 'none', pill: '', text: 'No message from the person yet: nothing can be sent.' };
    if (w === 'open') {
      const left = last ? last + 24 * HOUR - now : null;
      return { key: 'open', pill: 'Window open',
               text: `Open — standard messaging${left != null && left > 0 ? ` for ${fmtSpan(left)} more` : ''}` };
    }
    if (w === 'human_agent') {
      const left = last ? last + 7 * 24 * HOUR - now : null;
      return { key: 'human_agent', pill: 'HUMAN_AGENT only',
               text: `HUMAN_AGENT only — a person may answer with the tag${left != null && left > 0 ? ` for ${fmtSpan(left)} more` : ''}` };
    }
    return { key: 'closed', pill: 'Window closed', text: 'Closed — nothing can be sent until the person writes again' };
  }

  function renderThread(c) {
    const o = ownerInfo(c);
    const owner = $('#owner');
    owner.dataset.owner = c && c.owner ? c.owner.label : 'none';
    put(owner,
      h('span', { class: `owner-badge owner-${o.key}` }, o.icon ? icon(ICON[o.icon], 18) : null, o.pill || '—'),
      o.sub ? h('span', { class: 'owner-sub', text: o.sub }) : null);
    $('#owner-hint').textContent = !c || !c.owner ? ''
      : o.key === 'bot' ? 'The connector\'s app owns the thread: events arrive on messaging and the bot answers.'
        : o.key === 'inbox' ? 'The person\'s events reach the connector on standby; the bot stays silent until the thread is released.'
          : 'Another app owns the thread: the connector gets standby events.';
    const u = curUser();
    const p = curPage();
    const facts = [];
    const fact = (k, v) => facts.push(h('dt', { text: k }), h('dd', { text: v }));
    if (u) fact('Person', u.name);
    if (u && p) fact('PSID', (u.psids && u.psids[p.page_id]) || '—');
    if (p) fact('Page', `${p.name} · ${p.page_id}`);
    if (p) fact('Connector', `${p.connector} · ${p.path}`);
    if (c && c.lastUserMs) fact('Last message', `${fmtDay(c.lastUserMs)} ${fmtTime(c.lastUserMs)} (${fmtSpan(simNow() - c.lastUserMs)} ago)`);
    fact('Window', windowInfo(c).text);
    $('#facts').replaceChildren(...facts);
  }

  function renderControls() {
    const w = S.world;
    const c = curConv();
    if (w) {
      const f = w.fail || {};
      $('#fail-state').textContent = f.mode && f.mode !== 'none'
        ? `armed: next ${f.remaining} call${f.remaining === 1 ? '' : 's'} fail as ${failName(f.mode)}` : 'no failure armed';
      $('#fail-state').classList.toggle('bad', !!(f.mode && f.mode !== 'none'));
      const b = w.batch || { on: false, pending: 0 };
      const t = $('#batch-toggle');
      t.setAttribute('aria-pressed', b.on ? 'true' : 'false');
      t.title = b.on ? 'Batching is on: events are held until "Send batch"' : 'Batching is off: each event is posted at once';
      const fl = $('#batch-flush');
      fl.textContent = `Send batch (${b.pending || 0})`;
      fl.disabled = !b.on && !b.pending;
      $('#echoes').textContent = w.echoes
        ? 'Echoes on: each message the page sends comes back to the connector as a message echo.'
        : 'Echoes off: the page\'s own messages are not echoed to the connector.';
      const off = (w.clock && w.clock.offset_s) || 0;
      const co = $('#clock-offset');
      co.textContent = off ? `Clock ${fmtOffset(off)}` : 'Real time';
      co.classList.toggle('warn', !!off);
      $('#clock-now').textContent = `simulated now: ${fmtDay(simNow())} ${fmtTime(simNow())}`;
    }
    const wi = windowInfo(c);
    const win = $('#window');
    win.dataset.window = wi.key;
    win.replaceChildren(h('span', { class: `dot win-${wi.key}`, 'aria-hidden': 'true' }), h('span', { text: wi.text }));
  }

  // ---------------------------------------------------------------- sending events

  async function sendEvent(type, fields = {}, show = null) {
    const c = curConv();
    if (!c) { toast('No page or user to send as'); return null; }
    const body = { page: c.page, user: c.user, type, ...fields };
    let p = null;
    if (show) {
      p = { id: ++S.pendingSeq, kind: type, ...show };
      c.pending.push(p);
      S.atBottom = true;
      renderChat();
    }
    let answer = null;
    try {
      answer = await api('POST', 'event', body);
      if (answer && answer.mid) {
        S.sent.set(answer.mid, { body, answer });
        if (p) p.mid = answer.mid;
      }
      if (answer && answer.status === 0) toast(`The connector could not be reached${answer.error ? `: ${answer.error}` : ''}`);
    } catch (e) {
      failed(`Sending ${type}`, e);
    }
    if (p && !p.mid) c.pending = c.pending.filter((x) => x !== p);
    renderChat();
    pollers.conv.kick(0);
    pollers.log.kick(100);
    refreshWorld();
    return answer;
  }

  function sendText() {
    const ta = $('#composer-input');
    const text = ta.value;
    if (!text.trim()) return;
    ta.value = '';
    autosize();
    sendEvent('text', { text }, { text });
  }

  function autosize() {
    const ta = $('#composer-input');
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 140)}px`;
  }

  const getStarted = () => sendEvent('get_started', {}, { text: 'Get Started' });

  // ---------------------------------------------------------------- reactions and edits

  let pickerFor = null;
  let pickerAnchor = null;
  function reactTapped(btn, it) {
    const c = curConv();
    const items = c ? [...c.items.values()] : [];
    const current = derive(c, items).reactions.get(it.mid);
    if (current) { closePicker(); unreact(it); return; }
    if (pickerFor === it.mid) { closePicker(); return; }
    openPicker(btn, it);
  }

  function openPicker(anchor, it) {
    const pk = $('#picker');
    pk.replaceChildren(...REACTIONS.map((e) => h('button', { type: 'button', class: 'pick', role: 'menuitem', 'data-test': 'react-emoji',
                                                             'data-emoji': e, 'aria-label': `React ${displayEmoji(e)}`,
                                                             onclick: () => { closePicker(); sendEvent('reaction', { mid: it.mid, emoji: e, action: 'react' }); } },
      displayEmoji(e))));
    pk.hidden = false;
    pickerFor = it.mid;
    pickerAnchor = anchor;
    placePicker();
    pk.firstChild.focus();
  }
  /** Over its react button; closed once that button scrolled out of the conversation. */
  function placePicker() {
    if (!pickerFor) return;
    const pk = $('#picker');
    const r = pickerAnchor.getBoundingClientRect();
    const l = box().getBoundingClientRect();
    if (!pickerAnchor.isConnected || r.bottom < l.top || r.top > l.bottom) { closePicker(); return; }
    const w = pk.offsetWidth;
    pk.style.left = `${Math.max(8, Math.min(window.innerWidth - w - 8, r.left + r.width / 2 - w / 2))}px`;
    const above = r.top - pk.offsetHeight - 6;
    pk.style.top = `${above >= l.top - 40 ? above : r.bottom + 6}px`;
  }
  function closePicker() {
    $('#picker').hidden = true;
    pickerFor = null;
    pickerAnchor = null;
  }
  function unreact(it) {
    const c = curConv();
    const current = c ? derive(c, [...c.items.values()]).reactions.get(it.mid) : null;
    sendEvent('reaction', { mid: it.mid, emoji: current || '', action: 'unreact' });
  }

  async function editMessage(it) {
    const c = curConv();
    const e = c ? derive(c, [...c.items.values()]).edits.get(it.mid) : null;
    const text = await ask({ title: 'Edit your message', label: 'New text', value: e ? e.text : it.text || '' });
    if (text == null || !text.trim()) return;
    sendEvent('edit', { mid: it.mid, text });
  }

  // ---------------------------------------------------------------- the small question dialog

  let askResolve = null;
  function ask({ title, label, value = '', placeholder = '' }) {
    const d = $('#ask');
    $('#ask-title').textContent = title;
    $('#ask-label').textContent = label;
    const input = $('#ask-input');
    input.value = value;
    input.placeholder = placeholder;
    if (askResolve) askResolve(null);
    return new Promise((resolve) => {
      askResolve = resolve;
      if (typeof d.showModal === 'function') d.showModal(); else d.setAttribute('open', '');
      input.focus();
      input.select();
    });
  }
  function askDone(value) {
    const d = $('#ask');
    if (d.open) { if (typeof d.close === 'function') d.close(); else d.removeAttribute('open'); }
    const r = askResolve;
    askResolve = null;
    if (r) r(value);
  }

  // ---------------------------------------------------------------- the log tabs

  async function pollLog() {
    const d = await api('GET', `log?since=${S.logSeq}`);
    if (!d) return;
    if (typeof d.seq === 'number' && d.seq < S.logSeq) { restarted(); return; }
    const wh = Array.isArray(d.webhooks) ? d.webhooks : [];
    const gr = Array.isArray(d.graph) ? d.graph : [];
    let top = S.logSeq;
    for (const x of wh) { addWebhookRow(x); top = Math.max(top, x.seq || 0); }
    for (const x of gr) { addGraphRow(x); top = Math.max(top, x.seq || 0); }
    if (typeof d.seq === 'number') top = Math.max(top, d.seq);
    S.logSeq = top;
    if (wh.length || gr.length) {
      S.counts.webhooks += wh.length;
      S.counts.graph += gr.length;
      $('#count-webhooks').textContent = S.counts.webhooks || '';
      $('#count-graph').textContent = S.counts.graph || '';
    }
  }

  function statusClass(s) {
    if (s == null) return 'st wait';
    return s >= 200 && s < 300 ? 'st ok' : 'st bad';
  }

  function prepend(list, el) {
    list.prepend(el);
    while (list.children.length > LOG_ROWS) list.lastChild.remove();
  }

  /** A collapsible row whose bodies are made when first opened. */
  function logRow(attrs, summary, bodies) {
    const d = h('details', attrs, h('summary', null, summary));
    d.addEventListener('toggle', () => {
      if (d.open && !d.dataset.filled) {
        d.dataset.filled = '1';
        for (const [title, text] of bodies()) {
          d.append(h('div', { class: 'log-body-title', text: title }), h('pre', { class: 'log-body', text: prettyJson(text) || '(empty)' }));
        }
      }
    });
    return d;
  }

  function addWebhookRow(x) {
    const st = x.status == null ? '—' : String(x.status);
    const summary = [
      h('span', { class: statusClass(x.status), text: x.status === 0 ? 'no answer' : st }),
      h('span', { class: 'log-time', text: typeof x.ts === 'number' ? fmtTimeSec(x.ts) : '' }),
      h('span', { class: 'log-what', text: `${x.connector || '?'}${x.events > 1 ? ` · ${x.events} events` : ''}`,
                  title: `POST ${x.path || ''} · ${x.events} event${x.events === 1 ? '' : 's'}` }),
      x.redelivery ? h('span', { class: 'tag warn', text: 'redelivery' }) : null,
      ...webhookWhat(x.body).map((t) => h('span', { class: `tag${t.startsWith('standby') ? ' warn' : ''}`, text: t })),
      h('span', { class: 'log-ms', text: x.ms != null ? `${x.ms} ms` : '' }),
    ];
    prepend($('#webhooks'), logRow({ class: 'log-row', 'data-test': 'webhook-row', 'data-status': st, 'data-seq': x.seq },
      summary, () => [[`POST ${x.path || ''}`, x.body]]));
  }

  function addGraphRow(x) {
    const st = x.status == null ? '—' : String(x.status);
    const path = String(x.path || '');
    const summary = [
      h('span', { class: statusClass(x.status), text: x.status === 0 ? 'no answer' : st }),
      h('span', { class: 'log-time', text: typeof x.ts === 'number' ? fmtTimeSec(x.ts) : '' }),
      h('span', { class: 'method', text: x.method || '' }),
      h('span', { class: 'log-what', text: path.replace(/^\/v\d+\.\d+(?=\/)/, ''), title: path }),
    ];
    const what = graphWhat(x);
    if (what) summary.push(h('span', { class: 'tag', text: what }));
    prepend($('#graph'), logRow({ class: 'log-row', 'data-test': 'graph-row', 'data-status': st, 'data-seq': x.seq, 'data-method': x.method || '' },
      summary, () => [['Request', x.request], ['Answer', x.answer]]));
  }

  const EVENT_KEYS = ['message', 'postback', 'reaction', 'message_edit', 'read', 'delivery', 'referral', 'optin',
                      'pass_thread_control', 'take_thread_control', 'request_thread_control', 'app_roles'];
  /** What a webhook carried: ["message", "standby · read"], at most three distinct. */
  function webhookWhat(body) {
    const out = [];
    try {
      const b = JSON.parse(body);
      for (const e of (b && Array.isArray(b.entry) ? b.entry : [])) {
        for (const where of ['messaging', 'standby']) {
          for (const ev of (Array.isArray(e[where]) ? e[where] : [])) {
            let k = EVENT_KEYS.find((key) => ev && ev[key] != null) || 'event';
            if (k === 'message' && ev.message && ev.message.is_echo) k = 'echo';
            if (k === 'message' && ev.message && ev.message.quick_reply) k = 'quick_reply';
            const t = where === 'standby' ? `standby · ${k}` : k;
            if (!out.includes(t)) out.push(t);
          }
        }
      }
    } catch (e) {
      return [];
    }
    return out.length > 3 ? [...out.slice(0, 3), '…'] : out;
  }

  /** A hint of what a Graph call did: "typing_on", "text", "pass_thread_control"... */
  function graphWhat(x) {
    try {
      const r = typeof x.request === 'string' ? JSON.parse(x.request) : x.request;
      if (!r || typeof r !== 'object') return '';
      if (r.sender_action) return r.sender_action;
      if (r.message) return r.message.attachment ? (r.message.attachment.type === 'template' ? (r.message.attachment.payload || {}).template_type || 'template' : r.message.attachment.type) : 'text';
      return '';
    } catch (e) {
      return '';
    }
  }

  function showLogRow(kind, seq) {
    selectTab(kind === 'graph' ? 'graph' : 'webhooks');
    const row = $(`#${kind === 'graph' ? 'graph' : 'webhooks'} [data-seq="${CSS.escape(String(seq))}"]`);
    if (row) {
      row.open = true;
      row.scrollIntoView({ block: 'nearest' });
      row.classList.add('flash');
      setTimeout(() => row.classList.remove('flash'), 1200);
    }
  }

  // ---------------------------------------------------------------- queue

  async function pollQueue() {
    if (S.tab !== 'queue') return;
    const d = await api('GET', 'queue', undefined, 30000);
    if (!d) return;
    $('#queue').textContent = d.text || '(nothing)';
    $('#queue-meta').textContent = `msgrctl status · exit ${d.exit} · ${fmtTimeSec(Date.now())}`;
    $('#queue').classList.toggle('bad', d.exit !== 0);
  }

  // ---------------------------------------------------------------- tabs

  function selectTab(tab) {
    const pane = tab === 'thread' || tab === 'controls' ? 'main' : tab;
    S.tab = tab;
    for (const b of document.querySelectorAll('.tabs [role=tab]')) {
      const on = b.dataset.tab === tab;
      b.setAttribute('aria-selected', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
    }
    for (const p of document.querySelectorAll('.panel .pane')) p.hidden = p.id !== `pane-${pane}`;
    if (pane === 'main') {
      const main = $('#pane-main');
      spyMuted = true;
      main.scrollTop = tab === 'thread' ? 0 : $('#sec-controls').offsetTop - main.offsetTop - 4;
      setTimeout(() => { spyMuted = false; }, 150);
    }
    if (tab === 'queue') { pollers.queue.start(); } else pollers.queue.stop();
  }

  let spyMuted = false;
  /** Within the shared pane, the tab of the section in view. */
  function scrollSpy() {
    if (spyMuted) return;
    const main = $('#pane-main');
    const ctl = $('#sec-controls').offsetTop - main.offsetTop;
    const atEnd = main.scrollTop + main.clientHeight >= main.scrollHeight - 4;
    const tab = main.scrollTop + main.clientHeight / 3 >= ctl || (atEnd && main.scrollTop > 0) ? 'controls' : 'thread';
    if (tab !== S.tab) {
      S.tab = tab;
      for (const b of document.querySelectorAll('.tabs [role=tab]')) {
        const on = b.dataset.tab === tab;
        b.setAttribute('aria-selected', on ? 'true' : 'false');
        b.tabIndex = on ? 0 : -1;
      }
    }
  }

  // ---------------------------------------------------------------- controls' actions

  /** Runs an action of a button, disabling it meanwhile; refreshes what it may change. */
  async function action(btn, what, fn) {
    if (btn) btn.disabled = true;
    try {
      return await fn();
    } catch (e) {
      failed(what, e);
      return null;
    } finally {
      if (btn) btn.disabled = false;
      renderControls();
      refreshWorld();
      pollers.conv.kick(0);
      pollers.log.kick(100);
    }
  }

  function inbox(btn, act, text) {
    const c = curConv();
    if (!c) return null;
    const body = { page: c.page, user: c.user, action: act };
    if (text != null) body.text = text;
    return action(btn, `Page Inbox ${act}`, () => api('POST', 'inbox', body));
  }

  function wire() {
    for (const e of document.querySelectorAll('[data-icon]')) e.prepend(icon(ICON[e.dataset.icon], 15));
    // composer
    const ta = $('#composer-input');
    $('#composer').addEventListener('submit', (e) => { e.preventDefault(); sendText(); });
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); }
    });
    ta.addEventListener('input', autosize);

    // events no peer lets you send
    $('[data-test=ev-get-started]').addEventListener('click', getStarted);
    $('[data-test=ev-referral]').addEventListener('click', async () => {
      const ref = await ask({ title: 'Open from an m.me link', label: 'ref (m.me/PAGE?ref=…)', value: 'spring-poster' });
      if (ref != null) sendEvent('referral', { ref });
    });
    $('[data-test=ev-optin]').addEventListener('click', async () => {
      const ref = await ask({ title: 'Opt in (send-to-Messenger plugin)', label: 'ref (data-ref of the plugin)', value: 'newsletter' });
      if (ref != null) sendEvent('optin', { ref });
    });
    $('[data-test=ev-image]').addEventListener('click', async () => {
      const url = await ask({ title: 'Send an image', label: 'Image URL', value: 'https://picsum.photos/seed/latte-art/640/480' });
      if (url == null || !url.trim()) return;
      if (!safeUrl(url.trim())) { toast('An image URL starts with http:// or https://'); return; }
      sendEvent('image', { url: url.trim() }, { image: url.trim() });
    });
    $('[data-test=ev-read]').addEventListener('click', () => sendEvent('read'));
    $('[data-test=ev-delivery]').addEventListener('click', () => sendEvent('delivery'));

    // the question dialog
    $('#ask-form').addEventListener('submit', (e) => { e.preventDefault(); askDone($('#ask-input').value); });
    $('#ask-cancel').addEventListener('click', () => askDone(null));
    $('#ask').addEventListener('cancel', (e) => { e.preventDefault(); askDone(null); });
    $('#ask').addEventListener('close', () => { if (askResolve) askDone(null); });

    // reactions picker: closes on Escape and outside clicks, follows its button
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && pickerFor) closePicker(); });
    document.addEventListener('click', (e) => {
      if (pickerFor && !e.target.closest('#picker') && !e.target.closest('[data-test=react]')) closePicker();
    });

    // scrolling of the conversation: follow new messages only when at the bottom
    const list = box();
    list.addEventListener('scroll', () => {
      S.atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
      placePicker();
    }, { passive: true });

    // add a user
    $('[data-test=add-user]').addEventListener('click', (e) => action(e.currentTarget, 'Adding a user', async () => {
      const u = await api('POST', 'users', {});
      await loadWorld();
      if (u && u.key) switchTo(S.pageId, u.key);
    }));

    // tabs (arrow keys move between them)
    const tabs = [...document.querySelectorAll('.tabs [role=tab]')];
    for (const b of tabs) {
      b.addEventListener('click', () => selectTab(b.dataset.tab));
      b.addEventListener('keydown', (e) => {
        if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
        const i = tabs.indexOf(b) + (e.key === 'ArrowRight' ? 1 : -1);
        const t = tabs[(i + tabs.length) % tabs.length];
        t.focus();
        selectTab(t.dataset.tab);
      });
    }
    $('#pane-main').addEventListener('scroll', scrollSpy, { passive: true });

    // Page Inbox
    $('#inbox-take').addEventListener('click', (e) => inbox(e.currentTarget, 'take'));
    $('#inbox-release').addEventListener('click', (e) => inbox(e.currentTarget, 'release'));
    $('#inbox-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const t = $('#inbox-text');
      if (!t.value.trim()) { t.focus(); return; }
      const r = await inbox($('[data-test=inbox-reply]'), 'reply', t.value);
      if (r) t.value = '';
    });
    $('#inbox-text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('#inbox-form').requestSubmit(); }
    });

    // failures
    $('#fail-apply').addEventListener('click', (e) => action(e.currentTarget, 'Arming a failure', () => {
      const count = Math.max(1, Math.min(1000, parseInt($('#fail-count').value, 10) || 1));
      return api('POST', 'fail', { mode: $('#fail-mode').value, count });
    }));
    $('#fail-clear').addEventListener('click', (e) => action(e.currentTarget, 'Clearing failures', () => api('POST', 'fail', { mode: 'none', count: 0 })));

    // webhooks
    $('#redeliver').addEventListener('click', (e) => action(e.currentTarget, 'Redelivering', async () => {
      const r = await api('POST', 'redeliver', {});
      $('#redeliver-state').textContent = r ? `→ ${r.status === 0 ? 'no answer' : r.status}${r.webhook != null ? ` (webhook #${r.webhook})` : ''}` : '';
      $('#redeliver-state').classList.toggle('bad', !!r && !(r.status >= 200 && r.status < 300));
      for (const c of S.convs.values()) c.needFull = true;
    }));
    $('#batch-toggle').addEventListener('click', (e) => action(e.currentTarget, 'Batching', async () => {
      const on = !(S.world && S.world.batch && S.world.batch.on);
      await api('POST', 'batch', { on });
      if (S.world) S.world.batch = { ...(S.world.batch || {}), on };
      for (const c of S.convs.values()) c.needFull = true;
    }));
    $('#batch-flush').addEventListener('click', (e) => action(e.currentTarget, 'Sending the batch', async () => {
      const r = await api('POST', 'batch/flush', {});
      for (const c of S.convs.values()) c.needFull = true;
      if (r && r.status != null && !(r.status >= 200 && r.status < 300)) toast(`The batch was answered ${r.status}`);
    }));

    // clock
    const clock = (body) => (e) => action(e.currentTarget, 'Moving the clock', async () => {
      await api('POST', 'clock', body);
      await loadWorld();
    });
    $('#clock-25h').addEventListener('click', clock({ advance_s: 25 * 3600 }));
    $('#clock-8d').addEventListener('click', clock({ advance_s: 8 * 86400 }));
    $('#clock-reset').addEventListener('click', clock({ reset: true }));

    // send as the page (msgrctl send)
    $('#page-send-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const c = curConv();
      const text = $('#page-send-text').value;
      if (!c || !text.trim()) { $('#page-send-text').focus(); return; }
      const body = { page: c.page, user: c.user, text };
      if ($('#page-send-human-agent').checked) body.tag = 'HUMAN_AGENT';
      const out = $('#page-send-output');
      out.hidden = false;
      out.className = 'output';
      out.textContent = 'running msgrctl send…';
      action($('[data-test=page-send]'), 'msgrctl send', async () => {
        try {
          const r = await api('POST', 'page_send', body, 90000);
          const ok = !!(r && r.ok);
          out.className = `output ${ok ? 'ok' : 'bad'}`;
          out.textContent = `${ok ? '✓' : '✕'} exit ${r && r.exit != null ? r.exit : '?'}\n${(r && r.output) || ''}`.trimEnd();
          if (ok) $('#page-send-text').value = '';
        } catch (err) {
          out.className = 'output bad';
          out.textContent = `✕ failed: ${err.message}`;
          throw err;
        }
      });
    });

    // transcripts
    $('#transcript-save').addEventListener('click', (e) => action(e.currentTarget, 'Saving the transcript', async () => {
      const c = curConv();
      if (!c) return;
      const t = await api('GET', `transcript?page=${enc(c.page)}&user=${enc(c.user)}`);
      const p = curPage();
      const name = `transcript-${(p && p.connector) || c.page}-${c.user}.json`.replace(/[^\w.-]+/g, '_');
      const url = URL.createObjectURL(new Blob([`${JSON.stringify(t, null, 2)}\n`], { type: 'application/json' }));
      const a = h('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      const steps = t && Array.isArray(t.steps) ? t.steps.length : 0;
      toast(`Saved ${name} (${steps} step${steps === 1 ? '' : 's'})`, false);
    }));
    $('#transcript-replay').addEventListener('change', async (e) => {
      const input = e.currentTarget;
      const file = input.files && input.files[0];
      input.value = '';
      if (!file) return;
      const res = $('#replay-result');
      res.className = 'replay-result';
      put(res, h('span', { text: `replaying ${file.name}…` }));
      let t;
      try {
        t = JSON.parse(await file.text());
      } catch (err) {
        res.className = 'replay-result bad';
        put(res, h('span', { text: `✕ ${file.name} is not JSON: ${err.message}` }));
        return;
      }
      const before = new Set(S.world ? S.world.users.map((u) => u.key) : []);
      await action(null, 'Replaying', async () => {
        try {
          const r = await api('POST', 'replay', t, 600000);
          await loadWorld();
          const fresh = S.world ? S.world.users.find((u) => !before.has(u.key)) : null;
          const open = fresh ? h('button', { type: 'button', class: 'btn small', text: `Open ${fresh.name}'s conversation`,
                                             onclick: () => switchTo(S.pageId, fresh.key) }) : null;
          if (r && r.ok) {
            res.className = 'replay-result ok';
            put(res, h('span', { text: `✓ ok — ${r.steps} step${r.steps === 1 ? '' : 's'} replayed, every answer matched` }), open);
          } else {
            res.className = 'replay-result bad';
            put(res, h('span', { text: `✕ differs${r && r.steps != null ? ` (${r.steps} steps)` : ''}` }), open,
              h('pre', { class: 'output diff', text: (r && r.diff) || '(no diff given)' }));
          }
        } catch (err) {
          res.className = 'replay-result bad';
          put(res, h('span', { text: `✕ ${err.message}` }));
          throw err;
        }
      });
    });

    // queue
    $('#queue-refresh').addEventListener('click', () => pollers.queue.kick(0));

    // window status and times move with the clock even when nothing arrives
    setInterval(() => { renderControls(); if (S.tab === 'thread') renderThread(curConv()); }, 15000);
  }

  // ---------------------------------------------------------------- start

  const pollers = {
    world: new Poller(loadWorld, WORLD_MS),
    conv: new Poller(pollConv, CONV_MS),
    log: new Poller(pollLog, LOG_MS),
    queue: new Poller(pollQueue, QUEUE_MS),
  };

  function start() {
    readHash();
    wire();
    selectTab('thread');
    renderChat();
    pollers.world.start();
    pollers.conv.start();
    pollers.log.start();
    window.addEventListener('hashchange', () => {
      const q = new URLSearchParams(location.hash.slice(1));
      if (q.get('page') && q.get('user')) switchTo(q.get('page'), q.get('user'));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
