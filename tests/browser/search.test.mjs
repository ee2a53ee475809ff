// Headless-Chromium test of kosearchd's search page (TAP lines, no plan:
// run.sh adds its own checks and the plan). Every expectation about results
// is fetched here from the daemon's JSON API and compared with what the page
// shows; screenshots go to the artifacts folder.
//
// Environment: KS_HTTP_URL (http://127.0.0.1:PORT of a running kosearchd
// --http), KS_BROWSER_DEPS (folder holding node_modules/playwright-core),
// KS_ARTIFACTS (screenshot folder), KS_CHROMIUM (default /usr/bin/chromium).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const BASE = process.env.KS_HTTP_URL;
const DEPS = process.env.KS_BROWSER_DEPS;
const ARTIFACTS = process.env.KS_ARTIFACTS || '.';
const CHROMIUM = process.env.KS_CHROMIUM || '/usr/bin/chromium';
if (!BASE || !DEPS) {
  console.error('search.test.mjs: set KS_HTTP_URL and KS_BROWSER_DEPS (tests/browser/run.sh does)');
  process.exit(2);
}
// playwright-core lives in the build folder, not beside this file.
const { chromium } = createRequire(path.join(DEPS, 'package.json'))('playwright-core');

const QUERY = '데이터';          // common in the corpus slice: several pages
const NONE = '퀣뷁퀣';           // no such syllables in the corpus
const BAD = QUERY + ' OR';       // OR without a right side: 400
const OTHER = '파일';           // a second query with hits (the stale-response check)
const TIMEOUT = 15000;           // one wait for the page; generous for loaded machines

// --- TAP ---------------------------------------------------------------------

let n = 0, failed = 0;
function ok(cond, desc, diag) {
  n++;
  console.log((cond ? 'ok ' : 'not ok ') + n + ' - ' + desc.replace(/#/g, 'no.'));
  if (!cond) {
    failed++;
    if (diag !== undefined) {
      for (const line of String(typeof diag === 'string' ? diag : JSON.stringify(diag, null, 1)).split('\n').slice(0, 30))
        console.log('#   ' + line);
    }
  }
  return !!cond;
}
function eq(got, want, desc) {
  return ok(JSON.stringify(got) === JSON.stringify(want), desc,
    'want: ' + JSON.stringify(want) + '\ngot:  ' + JSON.stringify(got));
}

// --- the API, from node --------------------------------------------------------

async function api(p) {
  const r = await fetch(BASE + p);
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch (_) { /* reported by the caller */ }
  return { status: r.status, body: body, text: text };
}
async function apiSearch(q, offset) {
  const r = await api('/search?' + new URLSearchParams({ q: q, limit: '10', offset: String(offset || 0), highlight: '1' }));
  if (r.status !== 200 || !r.body || !Array.isArray(r.body.hits))
    throw new Error('GET /search q=' + q + ': ' + r.status + ' ' + r.text.slice(0, 300));
  return r.body;
}
const ids = (d) => d.hits.map((h) => h.id);
// The query's adjacent syllable pairs: what a highlight of it must contain.
function pairs(q) {
  const cps = Array.from(q.toLowerCase().replace(/\s+/g, ''));
  const out = [];
  for (let i = 0; i + 1 < cps.length; i++) out.push(cps[i] + cps[i + 1]);
  return out;
}

// --- the page ------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  // headless: Playwright adds --headless; it also makes a fresh profile
  // (a --user-data-dir of our own is refused by launch()).
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-quic', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
page.setDefaultTimeout(TIMEOUT);
mkdirSync(ARTIFACTS, { recursive: true });

const searches = [];   // every /search request the page made, in order
const jsErrors = [];   // uncaught exceptions and console errors (CSP violations among them)
page.on('request', (req) => {
  const u = new URL(req.url());
  if (u.pathname === '/search') searches.push(u.searchParams.get('q'));
});
page.on('pageerror', (e) => jsErrors.push('pageerror: ' + e.message));
page.on('console', (m) => {
  // A 400 or an aborted fetch is logged by Chromium itself; the page handles those.
  if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) jsErrors.push('console: ' + m.text());
});

const shownIds = () => page.$$eval('#results > li', (lis) => lis.map((li) => li.dataset.id));
const hash = () => page.evaluate(() => decodeURIComponent(location.hash));
const visible = (sel) => page.isVisible(sel);
// Waits until the page shows `want` (ids in order), then returns what it shows.
async function waitIds(want) {
  try {
    await page.waitForFunction((w) => Array.from(document.querySelectorAll('#results > li'))
      .map((li) => li.dataset.id).join('\n') === w, want.join('\n'));
  } catch (_) { /* the comparison after this reports what was there */ }
  return shownIds();
}
// A promise for the page's next /search response for query q.
const nextSearch = (q) => page.waitForResponse((r) => {
  const u = new URL(r.url());
  return u.pathname === '/search' && u.searchParams.get('q') === q;
});
async function typeQuery(q) {
  await page.fill('#q', '');
  await page.waitForTimeout(300); // the empty box's own debounced render
  await page.focus('#q');
  const done = nextSearch(q);
  await page.keyboard.type(q);
  return done;
}

async function main() {
  // 1. The empty page.
  await page.goto(BASE + '/');
  eq(await page.evaluate(() => document.documentElement.lang), 'ko', 'page: lang="ko"');
  eq(await page.evaluate(() => getComputedStyle(document.querySelector('main')).wordBreak), 'keep-all',
    'page: Korean text breaks between words (word-break: keep-all)');
  ok(await visible('#empty'), 'empty state shown before any query');
  const info = await api('/info');
  const docs = info.body && info.body.info && info.body.info.documents;
  await page.waitForFunction(() => document.getElementById('index-info').textContent !== '').catch(() => {});
  const infoText = await page.textContent('#index-info');
  ok(typeof docs === 'number' && infoText.includes(docs.toLocaleString('ko-KR') + '건'),
    'empty state: the number of documents from /info (' + docs + ')', infoText + ' / ' + info.text.slice(0, 200));
  eq(await page.getByRole('searchbox', { name: '검색어' }).count(), 1, 'the search box has an accessible name');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('/');
  eq(await page.evaluate(() => [document.activeElement.id, document.activeElement.value]), ['q', ''],
    "'/' focuses the search box (and types nothing)");

  // 2. Korean IME: no search during composition, exactly one after it.
  // First a composition driven through Chromium's own IME path, then one
  // made of dispatched events around keyboard typing.
  const cdp = await page.context().newCDPSession(page);
  searches.length = 0;
  for (const t of ['ㄷ', '데', '뎅', '데이', '데잍', '데이터']) {
    await cdp.send('Input.imeSetComposition', { text: t, selectionStart: Array.from(t).length, selectionEnd: Array.from(t).length });
    await page.waitForTimeout(60);
  }
  await page.waitForTimeout(500); // more than twice the debounce
  eq(searches.length, 0, 'IME (Chromium composition): no search while a syllable is being composed');
  let resp = nextSearch(QUERY);
  await cdp.send('Input.insertText', { text: QUERY }); // commits: compositionend
  await resp;
  await page.waitForTimeout(500);
  eq(searches, [QUERY], 'IME (Chromium composition): exactly one search after compositionend, for the whole word');

  await page.fill('#q', '');
  await page.waitForTimeout(400);
  searches.length = 0;
  await page.focus('#q');
  await page.dispatchEvent('#q', 'compositionstart', { data: '' });
  await page.keyboard.type('데이', { delay: 30 });
  await page.waitForTimeout(500);
  eq(searches.length, 0, 'IME (dispatched compositionstart): typing during composition fires no search');
  resp = nextSearch('데이');
  await page.dispatchEvent('#q', 'compositionend', { data: '데이' });
  await resp;
  await page.waitForTimeout(500);
  eq(searches, ['데이'], 'IME (dispatched compositionend): exactly one search after it');

  // 3. Results for QUERY, typed on the keyboard, against the API.
  const p1 = await apiSearch(QUERY, 0);
  ok(p1.total > 10 && p1.hits.length === 10, 'API: ' + QUERY + ' has more than one page (' + p1.total + ' hits)', p1);
  resp = await typeQuery(QUERY);
  eq(resp.status(), 200, 'typed query: the page searched for it (HTTP 200)');
  const got1 = await waitIds(ids(p1));
  eq(got1, ids(p1), 'typed query: the ids shown, in order, are the API\'s');
  const hitsShown = await page.$$eval('#results > li', (lis) => lis.map((li) => ({
    title: li.querySelector('.hit-title').textContent,
    rank: li.querySelector('.hit-rank').textContent,
    snippet: li.querySelector('.snippet') ? li.querySelector('.snippet').textContent : '',
    marks: Array.from(li.querySelectorAll('.snippet mark')).map((m) => m.textContent),
    tags: Array.from(li.querySelectorAll('.snippet *')).map((e) => e.tagName),
  })));
  const want = p1.hits.map((h) => {
    const cps = Array.from(h.snippet);
    return { title: h.title || h.id, rank: String(h.rank), snippet: h.snippet,
      marks: h.highlights.map(([s, e]) => cps.slice(s, e).join('')), tags: h.highlights.map(() => 'MARK') };
  });
  eq(hitsShown, want, 'titles, ranks, snippets and <mark> ranges are the API\'s (code-point offsets)');
  // Each mark holds a syllable pair of the query, except one that the
  // snippet window cut (next to its '…' or an end), which is a piece of it.
  // (The page's marks are the API's: checked just above.)
  const qp = pairs(QUERY);
  const marks = [], badMarks = [];
  for (const h of p1.hits) {
    const cps = Array.from(h.snippet);
    for (const [s, e] of h.highlights) {
      const m = cps.slice(s, e).join('').toLowerCase();
      const cut = s === 0 || cps[s - 1] === '…' || e === cps.length || cps[e] === '…';
      marks.push(m);
      if (!qp.some((p) => m.includes(p)) && !(cut && QUERY.toLowerCase().includes(m))) badMarks.push(h.id + ': ' + m);
    }
  }
  ok(marks.length > 0 && badMarks.length === 0,
    'highlights: ' + marks.length + ' <mark> elements, each holding a syllable pair of the query', badMarks);
  const status = await page.textContent('#status');
  const totalText = (p1.estimate ? '약 ' : '') + p1.total.toLocaleString('ko-KR') + '건';
  ok(status.includes(totalText) && /\(\d+(\.\d+)?(ms|초)\)/.test(status),
    'the total (' + totalText + ') and the time taken are shown', status);
  await page.screenshot({ path: path.join(ARTIFACTS, 'results.png'), fullPage: true });

  // 4. Keyboard: arrows move through the results, with a visible focus ring.
  await page.focus('#q');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  const focused = await page.evaluate(() => {
    const a = document.activeElement;
    return { id: a.closest('li') && a.closest('li').dataset.id, outline: getComputedStyle(a).outlineStyle };
  });
  eq(focused.id, p1.hits[1].id, 'ArrowDown twice from the box focuses the second result');
  ok(focused.outline !== 'none', 'the focused result has a visible outline', focused);
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  eq(await page.evaluate(() => document.activeElement.id), 'q', 'ArrowUp from the first result returns to the box');

  // 5. Page 2 (the "next" link) against the API at offset 10.
  const p2 = await apiSearch(QUERY, 10);
  resp = nextSearch(QUERY);
  await page.click('#pager a.next');
  await resp;
  eq(await waitIds(ids(p2)), ids(p2), 'next page: the ids shown are the API\'s at offset=10');
  eq(await page.textContent('#pager [aria-current="page"]'), '2', 'next page: the pager marks page 2 as current');
  ok((await hash()).includes('page=2'), 'next page: the URL holds page=2', await hash());
  await page.screenshot({ path: path.join(ARTIFACTS, 'page2.png'), fullPage: true });

  // 6. Open a document with the keyboard, compare with /doc/{id}.
  const target = p2.hits[0].id;
  const doc = await api('/doc/' + encodeURIComponent(target));
  ok(doc.status === 200 && doc.body && doc.body.fields, 'API: /doc/{id} answers for ' + target, doc.text.slice(0, 300));
  await page.focus('#q');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#doc:not([hidden])');
  const f = (doc.body && doc.body.fields) || {};
  try {
    await page.waitForFunction((t) => document.getElementById('doc-title').textContent === t, f.title || target);
  } catch (_) { /* compared below */ }
  eq(await page.textContent('#doc-title'), f.title || target, 'document view: the title is /doc/{id}\'s');
  const bodyShown = await page.$$eval('#doc-body p', (ps) => ps.map((p) => p.textContent));
  eq(bodyShown, String(f.body || '').split('\n').filter((l) => l.trim()), 'document view: the body is /doc/{id}\'s, line by line');
  ok(await visible('#results-view') === false, 'document view: the results are hidden');
  await page.screenshot({ path: path.join(ARTIFACTS, 'document.png'), fullPage: true });

  // 7. Esc goes back to page 2; browser back/forward and reload keep the state.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#doc', { state: 'hidden' });
  eq(await waitIds(ids(p2)), ids(p2), 'Esc: back to the results of page 2');
  eq(await page.evaluate(() => document.activeElement.closest('li') && document.activeElement.closest('li').dataset.id),
    target, 'Esc: the document\'s result has the focus again');
  await page.goBack();
  eq(await waitIds(ids(p1)), ids(p1), 'browser back: page 1 again');
  await page.goForward();
  eq(await waitIds(ids(p2)), ids(p2), 'browser forward: page 2 again');
  await page.goForward();
  await page.waitForSelector('#doc:not([hidden])');
  await page.reload();
  try {
    await page.waitForFunction((t) => document.getElementById('doc-title').textContent === t, f.title || target);
  } catch (_) { /* compared below */ }
  eq(await page.textContent('#doc-title'), f.title || target, 'reload on a document shows the same document');
  await page.click('#doc-back');
  eq(await waitIds(ids(p2)), ids(p2), 'the back link of a reloaded document returns to its results page');

  // 8. No results.
  const none = await apiSearch(NONE, 0);
  eq(none.total, 0, 'API: ' + NONE + ' has no hits');
  await typeQuery(NONE);
  await page.waitForSelector('#noresults:not([hidden])').catch(() => {});
  ok(await visible('#noresults') && (await page.textContent('#noresults')).includes(NONE) && (await shownIds()).length === 0,
    'a query without hits shows the no-results state with the query');

  // A page past the end (an old link) says so and links to page 1.
  const last = Math.floor((p1.total + 9) / 10);
  await page.goto(BASE + '/#' + new URLSearchParams({ q: QUERY, page: String(last + 5) }));
  await page.waitForSelector('#pastend:not([hidden])').catch(() => {});
  ok(await visible('#pastend') && !(await visible('#noresults')) && !(await visible('#error')),
    'page ' + (last + 5) + ' of ' + last + ': "no results on this page", not "no results"');
  await page.click('#pastend-first');
  eq(await waitIds(ids(p1)), ids(p1), 'its link leads to page 1');

  // 9. Debounce: five characters typed quickly, at most two searches, and the
  // page ends on the results of the whole text.
  const five = '데이터베이';
  const pFive = await apiSearch(five, 0);
  await page.fill('#q', '');
  await page.waitForTimeout(400);
  searches.length = 0;
  resp = nextSearch(five);
  await page.keyboard.type(five);
  await resp;
  await page.waitForTimeout(500);
  ok(searches.length >= 1 && searches.length <= 2, 'debounce: 5 characters typed quickly fired ' + searches.length + ' search(es) (at most 2)', searches);
  eq(await waitIds(ids(pFive)), ids(pFive), 'debounce: the page shows the results of the whole text');

  // 10. A stale, slow response never overwrites a newer one.
  const pOther = await apiSearch(OTHER, 0);
  ok(pOther.hits.length > 0 && ids(pOther).join() !== ids(p1).join(), 'API: ' + OTHER + ' has hits, not those of ' + QUERY);
  // The first request for QUERY is held for 1.5 s, then let through.
  let held = 0, slowSeen, slowDone;
  const seen = new Promise((r) => { slowSeen = r; });
  const done = new Promise((r) => { slowDone = r; });
  await page.route('**/search?*', async (route) => {
    const slow = new URL(route.request().url()).searchParams.get('q') === QUERY && held++ === 0;
    if (slow) {
      slowSeen();
      await new Promise((r) => setTimeout(r, 1500));
    }
    await route.continue().catch(() => {}); // the page may have aborted it meanwhile
    if (slow) slowDone();
  });
  await page.fill('#q', QUERY);
  await seen; // the slow request is under way
  resp = nextSearch(OTHER);
  await page.fill('#q', OTHER);
  await resp;
  await done;
  await page.waitForTimeout(300); // time to (wrongly) render the slow answer
  eq(await shownIds(), ids(pOther), 'a slow older search does not replace the newer results');
  await page.unroute('**/search?*');

  // 11. Errors are shown in the page: an unknown document (from the results
  // just shown, which are not searched again), a bad query, no daemon.
  const missing = await api('/doc/no-such-document');
  eq(missing.status, 404, 'API: /doc/ of an unknown id is a 404');
  await page.goto(BASE + '/#' + new URLSearchParams({ doc: 'no-such-document', q: OTHER }));
  await page.waitForSelector('#error:not([hidden])').catch(() => {});
  ok(await visible('#error') && /찾을 수 없습니다/.test(await page.textContent('#error')) && await visible('#doc'),
    'an unknown document: the document view says it was not found', await page.textContent('#error'));
  await page.click('#doc-back');
  eq(await waitIds(ids(pOther)), ids(pOther), 'its back link returns to the results');
  ok(!(await visible('#error')), 'and the error is gone');

  const bad = await api('/search?' + new URLSearchParams({ q: BAD, limit: '10', offset: '0', highlight: '1' }));
  const badMsg = bad.body && bad.body.message;
  ok(bad.status === 400 && typeof badMsg === 'string', 'API: "' + BAD + '" is a 400 with an error message', bad.text.slice(0, 300));
  resp = nextSearch(BAD);
  await page.fill('#q', BAD);
  await resp;
  await page.waitForSelector('#error:not([hidden])').catch(() => {});
  const errText = await page.textContent('#error');
  ok(await visible('#error') && errText.includes(String(badMsg)) && (await shownIds()).length === 0,
    'a bad query shows the server\'s message in the page, and no results', errText);
  await page.route('**/search?*', (route) => route.abort('connectionrefused'));
  await page.fill('#q', '검색');
  await page.waitForFunction(() => !document.getElementById('error').hidden &&
    /연결/.test(document.getElementById('error').textContent)).catch(() => {});
  ok(/연결/.test(await page.textContent('#error')), 'daemon unreachable: a polite "cannot connect" message',
    await page.textContent('#error'));
  await page.unroute('**/search?*');
  await page.fill('#q', '');
  await page.waitForSelector('#empty:not([hidden])').catch(() => {});
  ok(await visible('#empty') && !(await visible('#error')), 'clearing the box returns to the empty state, error gone');

  eq(jsErrors, [], 'no script errors or CSP violations in the console');
}

try {
  await main();
} catch (e) {
  ok(false, 'the browser test ran to its end', e && e.stack ? e.stack : String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
