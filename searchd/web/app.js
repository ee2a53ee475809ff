// kosearch search page: talks to kosearchd's JSON API (/search, /doc/{id},
// /info). The URL hash holds the state (#q=…&page=N, #doc=ID&q=…&page=N) so
// reload and back/forward work. Document text only ever reaches the page
// through textContent and <mark> elements built here, never innerHTML.
'use strict';

(function () {
  const PER_PAGE = 10;
  const MAX_RESULTS = 10000; // the daemon's offset+limit ceiling
  const DEBOUNCE_MS = 200;

  const $ = (id) => document.getElementById(id);
  const box = $('q');
  const form = $('search-form');
  const results = $('results');
  const pager = $('pager');
  const views = { results: $('results-view'), doc: $('doc') };

  // One request of each kind in flight: a newer one aborts the older, and a
  // response is applied only if its request is still the current one.
  const inflight = { search: null, doc: null };
  let debounceTimer = 0;
  let composing = false;
  let shown = { q: null, page: 0 }; // what the results list holds now
  let lastOpened = null;            // id of the document opened from the list
  let cameFromResults = false;      // the doc view was entered from the list

  // --- state <-> URL hash ----------------------------------------------------

  function readState() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    const page = Math.min(Math.max(1, parseInt(p.get('page') || '1', 10) || 1), MAX_RESULTS / PER_PAGE);
    return { q: (p.get('q') || '').trim(), page: page, doc: p.get('doc') };
  }

  function hashFor(s) {
    const p = new URLSearchParams();
    if (s.doc) p.set('doc', s.doc);
    if (s.q) p.set('q', s.q);
    if (s.q && s.page > 1) p.set('page', String(s.page));
    const h = p.toString();
    return h ? '#' + h : '#';
  }

  // push: a new history entry (Enter, paging, opening); replace: typing.
  function go(s, push) {
    const h = hashFor(s);
    if (h !== (location.hash || '#')) {
      if (push) history.pushState(null, '', h);
      else history.replaceState(null, '', h);
    }
    render(true);
  }

  // --- helpers ---------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtNumber(n) {
    return Number(n).toLocaleString('ko-KR');
  }

  function fmtTook(us) {
    if (typeof us !== 'number' || !isFinite(us)) return '';
    if (us < 10000) return (us / 1000).toFixed(2) + 'ms';
    if (us < 1e6) return (us / 1000).toFixed(0) + 'ms';
    return (us / 1e6).toFixed(2) + '초';
  }

  // A polite message for a failed request: status 0 when there was no
  // answer; body the daemon's {"ok":false,"error":CODE,"message":…}.
  function describeError(status, body) {
    const msg = body && typeof body.message === 'string' ? body.message : '';
    switch (status) {
      case 0: return '검색 서버에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.';
      case 400: return '검색어를 해석할 수 없습니다' + (msg ? ': ' + msg : '.');
      case 404: return '찾을 수 없습니다' + (msg ? ': ' + msg : '.');
      case 413: return '검색어가 너무 깁니다. 더 짧게 입력해 주세요.';
      case 429: return '요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.';
      case 503: return '검색 서버가 지금 바쁘거나 준비 중입니다. 잠시 후 다시 시도해 주세요.';
      default: return '요청을 처리하지 못했습니다 (' + status + ')' + (msg ? ': ' + msg : '.');
    }
  }

  function showError(text) {
    const box = $('error');
    box.textContent = text || '';
    box.hidden = !text;
  }

  // Fetches JSON with the request of `kind` made current; resolves to
  // {ok, status, body} or null when a newer request superseded this one.
  async function getJSON(kind, url) {
    if (inflight[kind]) inflight[kind].abort();
    const ctl = new AbortController();
    inflight[kind] = ctl;
    let status = 0, body = null;
    try {
      const r = await fetch(url, { signal: ctl.signal, headers: { Accept: 'application/json' } });
      status = r.status;
      try { body = await r.json(); } catch (_) { body = null; }
    } catch (e) {
      if (ctl.signal.aborted) return null;
      status = 0;
    }
    if (inflight[kind] !== ctl) return null;
    inflight[kind] = null;
    return { ok: status >= 200 && status < 300 && body !== null, status: status, body: body };
  }

  // Text with <mark> around the [start, end) code-point ranges of `ranges`.
  // Bad ranges (out of order, overlapping, outside the text) are skipped.
  function highlighted(cls, text, ranges) {
    const out = el('p', cls);
    const cps = Array.from(text || '');
    let at = 0;
    const sorted = (Array.isArray(ranges) ? ranges : [])
      .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
      .sort((a, b) => a[0] - b[0]);
    for (const [s, e] of sorted) {
      if (s < at || e <= s || e > cps.length) continue;
      if (s > at) out.append(cps.slice(at, s).join(''));
      out.append(el('mark', null, cps.slice(s, e).join('')));
      at = e;
    }
    if (at < cps.length) out.append(cps.slice(at).join(''));
    return out;
  }

  // --- results view ----------------------------------------------------------

  function setStatus(total, estimate, tookUs) {
    $('total').textContent = total === null ? '' :
      '결과 ' + (estimate ? '약 ' : '') + fmtNumber(total) + '건';
    $('took').textContent = tookUs === null ? '' : ' (' + fmtTook(tookUs) + ')';
  }

  function clearResults() {
    results.replaceChildren();
    pager.replaceChildren();
    pager.hidden = true;
    $('noresults').hidden = true;
    $('pastend').hidden = true;
    setStatus(null, false, null);
  }

  function resultItem(hit, q, page) {
    const li = el('li', 'hit');
    li.dataset.id = hit.id;
    const a = el('a', 'hit-link');
    a.href = hashFor({ doc: hit.id, q: q, page: page });
    a.append(el('span', 'hit-rank', hit.rank), el('span', 'hit-title', hit.title || hit.id));
    a.setAttribute('aria-label', hit.rank + '위: ' + (hit.title || hit.id));
    li.append(a);
    const meta = el('p', 'hit-meta');
    meta.append(el('span', 'hit-id', hit.id));
    if (hit.source) meta.append(el('span', 'hit-source', hit.source));
    if (typeof hit.score === 'number') meta.append(el('span', 'hit-score', '점수 ' + hit.score.toFixed(3)));
    li.append(meta);
    if (hit.snippet) li.append(highlighted('snippet', hit.snippet, hit.highlights));
    return li;
  }

  // Previous, a window of page numbers with the first and last, next.
  function renderPager(q, page, total) {
    pager.replaceChildren();
    const pages = Math.max(1, Math.min(Math.ceil(total / PER_PAGE), Math.floor(MAX_RESULTS / PER_PAGE)));
    pager.hidden = pages <= 1;
    if (pages <= 1) return;
    const link = (n, text, cls, label) => {
      const a = el('a', cls, text);
      a.href = hashFor({ q: q, page: n });
      if (label) a.setAttribute('aria-label', label);
      if (n === page) a.setAttribute('aria-current', 'page');
      return a;
    };
    const gap = () => el('span', 'gap', '…');
    if (page > 1) pager.append(link(page - 1, '‹ 이전', 'prev', '이전 페이지'));
    const lo = Math.max(1, page - 2), hi = Math.min(pages, page + 2);
    if (lo > 1) pager.append(link(1, '1', 'num', '1페이지'));
    if (lo > 2) pager.append(gap());
    for (let n = lo; n <= hi; n++) pager.append(link(n, String(n), 'num', n + '페이지'));
    if (hi < pages - 1) pager.append(gap());
    if (hi < pages) pager.append(link(pages, String(pages), 'num', pages + '페이지'));
    if (page < pages) pager.append(link(page + 1, '다음 ›', 'next', '다음 페이지'));
  }

  async function search(q, page) {
    clearTimeout(debounceTimer);
    $('empty').hidden = !!q;
    if (!q) {
      if (inflight.search) { inflight.search.abort(); inflight.search = null; }
      shown = { q: '', page: 1 };
      showError('');
      clearResults();
      views.results.removeAttribute('aria-busy');
      return;
    }
    if (shown.q === q && shown.page === page) {
      // Already on the page; an older request for something else must not land.
      if (inflight.search) { inflight.search.abort(); inflight.search = null; }
      views.results.removeAttribute('aria-busy');
      focusLastOpened();
      return;
    }
    views.results.setAttribute('aria-busy', 'true');
    const url = '/search?' + new URLSearchParams({
      q: q, limit: String(PER_PAGE), offset: String((page - 1) * PER_PAGE), highlight: '1' });
    const r = await getJSON('search', url);
    if (r === null) return; // superseded by a newer search
    views.results.removeAttribute('aria-busy');
    if (!r.ok) {
      shown = { q: null, page: 0 };
      clearResults();
      showError(describeError(r.status, r.body));
      return;
    }
    showError('');
    const d = r.body;
    const hits = Array.isArray(d.hits) ? d.hits : [];
    if (shown.q === q && shown.page !== page) window.scrollTo(0, 0); // a new page starts at its top
    shown = { q: q, page: page };
    results.replaceChildren(...hits.map((h) => resultItem(h, q, page)));
    setStatus(typeof d.total === 'number' ? d.total : hits.length, !!d.estimate, d.took_us);
    $('noresults-q').textContent = q;
    // No hits on a page past the end (an old link, a shrunken index) is not "no results".
    const pastEnd = hits.length === 0 && page > 1 && d.total > 0;
    $('noresults').hidden = hits.length > 0 || pastEnd;
    $('pastend').hidden = !pastEnd;
    $('pastend-first').href = hashFor({ q: q, page: 1 });
    renderPager(q, page, typeof d.total === 'number' ? d.total : 0);
    document.title = q + ' - kosearch';
    focusLastOpened();
  }

  // Back from a document: focus its result so the keyboard user keeps their place.
  function focusLastOpened() {
    if (lastOpened === null) return;
    const a = results.querySelector('li[data-id="' + CSS.escape(lastOpened) + '"] a.hit-link');
    lastOpened = null;
    if (a) a.focus();
  }

  // --- document view ---------------------------------------------------------

  async function showDoc(id) {
    const title = $('doc-title'), meta = $('doc-meta'), body = $('doc-body');
    title.textContent = '불러오는 중…';
    meta.replaceChildren();
    body.replaceChildren();
    const r = await getJSON('doc', '/doc/' + encodeURIComponent(id));
    if (r === null) return;
    if (!r.ok) {
      title.textContent = '문서를 열 수 없습니다';
      showError(describeError(r.status, r.body));
      return;
    }
    showError('');
    const f = (r.body && r.body.fields) || {};
    title.textContent = f.title || r.body.id || id;
    const addMeta = (k, v) => meta.append(el('dt', null, k), el('dd', null, v));
    addMeta('ID', r.body.id || id);
    for (const [k, v] of Object.entries(f)) {
      if (k !== 'title' && k !== 'body' && k !== 'id' && v !== '' && v !== null) addMeta(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
    // One paragraph per line of the stored body.
    for (const line of String(f.body || '').split('\n')) {
      if (line.trim()) body.append(el('p', null, line));
    }
    document.title = (f.title || id) + ' - kosearch';
    title.focus();
  }

  // --- rendering the current state -------------------------------------------

  let renderedHash = null;

  // Shows the state the hash names; a hash already shown is left alone
  // (back/forward can report one change twice) unless `force`.
  function render(force) {
    const h = location.hash || '#';
    if (h === renderedHash && force !== true) return;
    renderedHash = h;
    showError(''); // an error belongs to the view that had it
    const s = readState();
    if (!composing && document.activeElement !== box && box.value.trim() !== s.q) box.value = s.q;
    const inDoc = !!s.doc;
    if (inDoc && views.doc.hidden) cameFromResults = !views.results.hidden && shown.q === s.q;
    views.doc.hidden = !inDoc;
    views.results.hidden = inDoc;
    $('status').hidden = inDoc;
    $('doc-back').href = hashFor({ q: s.q, page: s.page });
    if (inDoc) {
      if (inflight.search) { inflight.search.abort(); inflight.search = null; shown = { q: null, page: 0 }; }
      lastOpened = s.doc;
      showDoc(s.doc);
    } else {
      if (inflight.doc) { inflight.doc.abort(); inflight.doc = null; }
      if (!s.q) document.title = 'kosearch';
      search(s.q, s.page);
    }
  }

  function backToResults() {
    if (cameFromResults) history.back();
    else { const s = readState(); go({ q: s.q, page: s.page }, false); }
  }

  // Search for what the box holds (page 1); `push` for Enter/submit.
  function searchBox(push) {
    clearTimeout(debounceTimer);
    const q = box.value.trim();
    const s = readState();
    if (!push && q === s.q && !s.doc) return;
    go({ q: q, page: 1 }, push && q !== s.q);
  }

  // --- events ----------------------------------------------------------------

  box.addEventListener('compositionstart', () => { composing = true; clearTimeout(debounceTimer); });
  box.addEventListener('compositionend', () => {
    composing = false;
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => searchBox(false), DEBOUNCE_MS);
  });
  box.addEventListener('input', (e) => {
    // A Hangul syllable in the middle of composition is not a query yet.
    if (composing || e.isComposing) return;
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => searchBox(false), DEBOUNCE_MS);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (composing) return;
    searchBox(true);
  });
  $('doc-back').addEventListener('click', (e) => { e.preventDefault(); backToResults(); });
  $('home').addEventListener('click', (e) => { e.preventDefault(); box.value = ''; go({ q: '', page: 1 }, true); box.focus(); });

  function resultLinks() {
    return Array.from(results.querySelectorAll('a.hit-link'));
  }

  document.addEventListener('keydown', (e) => {
    if (e.isComposing || composing || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || (t && t.isContentEditable);
    if (e.key === '/' && !typing) {
      e.preventDefault();
      box.focus();
      box.select();
    } else if (e.key === 'Escape') {
      if (!views.doc.hidden) { e.preventDefault(); backToResults(); }
      else if (t !== box) { e.preventDefault(); box.focus(); }
    } else if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && !views.results.hidden) {
      const links = resultLinks();
      if (!links.length) return;
      const i = links.indexOf(t);
      if (t === box && e.key === 'ArrowDown') { e.preventDefault(); links[0].focus(); }
      else if (i >= 0) {
        e.preventDefault();
        if (e.key === 'ArrowDown') links[Math.min(i + 1, links.length - 1)].focus();
        else if (i === 0) box.focus();
        else links[i - 1].focus();
      }
    }
  });

  window.addEventListener('popstate', render);
  window.addEventListener('hashchange', render);

  // The empty state tells how many documents there are to search.
  getJSON('info', '/info').then((r) => {
    const info = r && r.ok && r.body.info;
    if (info && typeof info.documents === 'number') {
      $('index-info').textContent = '문서 ' + fmtNumber(info.documents) + '건을 검색합니다.';
    }
  });

  render(true);
  if (!readState().doc) box.focus();
})();
