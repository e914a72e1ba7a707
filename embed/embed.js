'use strict';
// Ranklet embed (API.md §5); its CSS custom properties are in the README. The service
// serves this file minified by rjsmin, which keeps template literals only when unnested:
// never put a template literal inside another's ${}.
(() => {
  const STRINGS = {
    ja: {
      ranking: 'ランキング',
      rank: (pos, best) => pos + '位' + (best ? `（最高順位 ${best}位）` : ''), nb: '最高順位更新！',
      count: (n) => `コメント ${n}件`,
      sort: '並び順', oldest: '古い順', newest: '新しい順', top: '人気順',
      author: '名前（任意）', email: 'メール（任意）', emailNote: 'メールアドレスは公開されません',
      website: 'サイト（任意）', body: 'コメント', hint: 'Markdown が使えます',
      notify: '返信をメールで通知', submit: '投稿', cancel: 'キャンセル',
      reply: '返信', like: 'いいね', isAuthor: '著者', pin: '固定', edited: '編集済み',
      deleted: 'このコメントは削除されました', more: 'さらに表示',
      posted: '投稿しました', pending: 'コメントを受け付けました。承認後に表示されます。',
      now: 'たった今', left: (n) => (n < 0 ? `${-n}文字オーバー` : `残り${n}文字`),
      failed: 'エラーが発生しました',
      loadError: 'コメントを読み込めませんでした'
    },
    en: {
      ranking: ' ranking',
      rank: (pos, best) => '#' + pos + (best ? ` (best #${best})` : ''), nb: 'New best!',
      count: (n) => n + (n === 1 ? ' comment' : ' comments'),
      sort: 'Sort', oldest: 'Oldest', newest: 'Newest', top: 'Top',
      author: 'Name (optional)', email: 'E-mail (optional)', emailNote: 'Your e-mail is never shown',
      website: 'Website (optional)', body: 'Comment', hint: 'Markdown works',
      notify: 'E-mail me replies', submit: 'Post', cancel: 'Cancel',
      reply: 'Reply', like: 'Like', isAuthor: 'Author', pin: 'Pinned', edited: 'edited',
      deleted: 'This comment was deleted', more: 'More comments',
      posted: 'Posted', pending: 'Thanks! It will appear once approved.',
      now: 'just now', left: (n) => (n < 0 ? -n + ' characters too many' : n + ' characters left'),
      failed: 'Something went wrong',
      loadError: 'Comments could not be loaded'
    }
  };

  const CSS = `:host,.r{all:initial;display:block;font:inherit;color:inherit}:host([hidden]){display:none}
.r{font-family:var(--ranklet-font);overflow-wrap:anywhere;--bg:#fff;--mute:color-mix(in srgb,currentColor 72%,transparent);--soft:color-mix(in srgb,currentColor 12%,transparent);--a:var(--ranklet-accent,#0a58ca);--err:#b42318}
.dark{--bg:#16181d;--a:var(--ranklet-accent,#7cb4ff);--err:#ff9b93;color-scheme:dark}
a{color:var(--a)}:focus-visible{outline:2px solid var(--a)}
h2{font-size:1.2em;margin:0}
section,.ranklet-badge,.ranklet-author-badge,input,select,textarea,button,svg{border-radius:var(--ranklet-radius,6px)}
.ranklet-head,.ranklet-fields,.ranklet-meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 10px}
.ranklet-badges{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(12em,100%),1fr));gap:6px}
.ranklet-badge{display:grid;font-size:13px;border:1px solid var(--a);overflow:hidden;text-decoration:none}
.ranklet-badge span{padding:1px 8px;background:var(--soft)}
.ranklet-badge span+span,.ranklet-submit,.ranklet-author-badge{background:var(--a);color:var(--bg);font-weight:600}.ranklet-author-badge{padding:0 6px}
form{display:grid;gap:6px;margin:10px 0}form p{margin:0}.ranklet-field{display:grid;flex:1 1 12em}
label,small,time,.ranklet-note,.ranklet-deleted>div p{color:var(--mute);font-size:.85em}
input,select,textarea,button{font:inherit;color:inherit;background:none;border:1px solid var(--mute);padding:4px 8px}
.ranklet-hp{position:absolute;clip-path:inset(50%)}.ranklet-error{color:var(--err)}[aria-invalid=true]{border-color:var(--err)}
.ranklet-list,.ranklet-replies{list-style:none;margin:0;padding:0}.ranklet-replies{margin-left:8px;padding-left:10px;border-left:2px solid var(--soft)}
.ranklet-c{display:flex;gap:10px;padding:8px 0}.ranklet-main{flex:1;min-width:0}svg{flex:none;background:var(--soft)}
.ranklet-author{font-weight:600}pre{overflow:auto}
.ranklet-actions button{border:0;color:var(--mute);font-size:.85em}
.ranklet-actions [aria-pressed=true]{color:var(--a)}`;

  const log = (...args) => console.warn('[ranklet]', ...args);
  let cfg, site, base, tokens, liked;
  const dark = matchMedia('(prefers-color-scheme:dark)');
  let uid = 0;
  let generation = 0;

  const recall = (key, fallback) => {
    try { return JSON.parse(localStorage['ranklet:' + key]) || fallback; } catch (e) { return fallback; }
  };
  const remember = (key, value) => {
    try { localStorage['ranklet:' + key] = JSON.stringify(value); } catch (e) { /* storage is off */ }
  };
  const safe = (fn) => (event) => {
    try { Promise.resolve(fn(event)).catch(log); } catch (e) { log(e); }
  };

  function h(tag, props, ...kids) {
    const el = /^(svg|path)$/.test(tag)
      ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (!value) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), safe(value));
      else el.setAttribute(key, value);
    }
    el.append(...kids.filter(Boolean));
    return el;
  }
  const button = (name, label, onclick, props) =>
    h('button', { type: 'button', class: 'ranklet-' + name, onclick, ...props }, label);

  // A script of embed/ that only some pages or moments need (pow.js, recent.js, edit.js)
  const lazy = (name) => new Promise((ok) => document.head.append(h('script', { src: base.replace(/api.*/, 'embed/') + name + '.js', onload: ok, onerror: ok })));
  // The edit and delete buttons, once: only for a reader who holds an edit token
  const editor = () => (editor.p ||= lazy('edit'));
  const httpUrl = (url) => (/^https?:\/\//i.test(url) ? url : null);
  // The article key as the server spells it (API.md §4: 経営, not %E7%B5%8C...)
  const canon = (k) => {
    try {
      return decodeURI(k).normalize();
    } catch (e) {
      return k;
    }
  };
  const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v));
  const langOf = (tag) => {
    const lang = String(tag).toLowerCase().split('-')[0];
    return Object.hasOwn(STRINGS, lang) ? lang : '';
  };
  const api = (path, init) =>
    fetch(base + path, { credentials: 'omit', cache: 'no-cache', ...init })
      .then(async (res) => ({
        ok: res.ok, status: res.status,
        data: (await res.json().catch(() => 0)) || {},
      }))
      .catch((e) => (log(e), { data: {} }));

  function avatar(seed) {
    let x = 2166136261;
    let d = '';
    for (const ch of String(seed)) x = Math.imul(x ^ ch.codePointAt(0), 16777619) >>> 0;
    for (let i = 0; i < 15; i++) {
      if ((x >>> i) & 1) d += `M${i % 3} ${(i / 3) | 0}h1v1h-1zM${4 - (i % 3)} ${(i / 3) | 0}h1v1h-1z`;
    }
    return h('svg', { viewBox: '-1 -1 7 7', width: 32, height: 32, 'aria-hidden': 'true' },
      seed && h('path', { d, fill: `hsl(${(x >>> 15) % 360} 55% 45%)` }));
  }

  function badges(categories, S) {
    // Readers see positions only: a category not ranked yet reads as "not registered"
    const picked = (cfg.categories?.split(',').map((key) => categories.find((c) => c.key === key.trim())) || categories).filter((c) => c?.current);
    return h('div', { class: 'ranklet-badges' }, ...picked.map((c) => {
      const url = httpUrl(c.url);
      return h(url ? 'a' : 'span', { class: 'ranklet-badge', href: url, rel: url && 'noopener' },
        h('span', {}, c.label + S.ranking), ' ',
        h('span', {}, S.rank(c.current.position, c.best?.position)),
        Date.parse(c.new_best_until) > Date.now() && h('span', {}, S.nb));
    }));
  }

  function thread(widget, S, lang, article) {
    const relative = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
    let total, cursor;
    let sort = 'oldest';
    const title = h('h2', {});
    const list = h('ol', { class: 'ranklet-list' });
    const more = button('more', S.more, () => load(cursor));
    // What just happened, for a while, beside the top form's button; errors go to a form's
    // alert line. One replaces the other in place: never both, and nothing moves the form.
    const note = h('span', { class: 'ranklet-note', role: 'status' });
    const top = form(void 0, void 0, 0, note);
    const say = (text, error, f = top) => {
      clearTimeout(note.t);
      note.textContent = error ? '' : text;
      f.lastChild.textContent = error ? text : '';
      note.t = setTimeout(() => (note.textContent = ''), 8e3);
    };
    const sync = (d = 0) => {
      total += d;
      title.textContent = S.count(total);
      more.hidden = !cursor;
      paint({ [article]: total }, S);
    };
    const focus = (el) => {
      el.tabIndex = -1;
      el.focus();
    };

    function time(iso, text) {
      const date = new Date(iso);
      let n = (date - Date.now()) / 1000;
      const units = { second: 60, minute: 60, hour: 24, day: 30, month: 12, year: 1 / 0 };
      if (!text && Math.abs(n) < 60) text = S.now;
      for (const unit in units) {
        if (!text && Math.abs(n) < units[unit]) text = relative.format(Math.round(n), unit).replace(/ (?=[^ -~])/, ''); // 16日前
        n /= units[unit];
      }
      return date > 0 && h('time', { datetime: iso, title: date.toLocaleString(lang) }, text);
    }

    function page(data, from) {
      const nodes = data.comments.map(comment);
      if (!from) list.replaceChildren();
      list.append(...nodes);
      ({ total, next_cursor: cursor } = data);
      sync();
      if (from && nodes[0]) focus(nodes[0]);
    }

    async function load(from) {
      const r = await api('/comments?' + query({ article, lang, sort, cursor: from }));
      if (r.ok) page(r.data, from);
      else say(S.loadError, 1);
    }

    function comment(c) {
      const key = site + '/' + c.id;
      const own = tokens[key];
      const main = h('div', { class: 'ranklet-main' });
      const li = h('li', { class: 'ranklet-comment', 'data-id': c.id },
        h('div', { class: 'ranklet-c' }, avatar(!c.deleted && c.avatar), main),
        h('ol', { class: 'ranklet-replies' }, ...(c.replies || []).map(comment)));
      const gone = () => {
        li.classList.add('ranklet-deleted');
        main.replaceChildren(h('p', {}, S.deleted));
        main.previousSibling.replaceWith(avatar());
        return li;
      };
      if (c.deleted) return gone();

      const body = h('div', { class: 'ranklet-body' });
      body.innerHTML = c.body_html; // server-sanitized, the only innerHTML
      const url = httpUrl(c.website);
      const like = button('like', `${S.like} ${c.likes}`, async () => {
        const r = !liked[key] && await send(null, `/comments/${c.id}/like`, 'POST');
        if (!r) return;
        liked[key] = 1;
        remember('liked', liked);
        like.setAttribute('aria-pressed', 'true');
        like.textContent = `${S.like} ${r.data.likes}`;
      }, { 'aria-pressed': String(!!liked[key]) });
      const reply = button('reply', S.reply, () => {
        let f = main.querySelector(':scope>.ranklet-reply-form');
        if (!f) {
          f = form(c.id, () => {
            f.remove();
            reply.setAttribute('aria-expanded', 'false');
            reply.focus();
          });
          main.append(f);
          reply.setAttribute('aria-expanded', 'true');
        }
        f.elements.body.focus();
      }, { 'aria-expanded': 'false' });
      const actions = h('div', { class: 'ranklet-actions' }, like, reply);
      // embed/edit.js adds them while the token is valid
      if (own) Ranklet.edit?.(t, c, key, li, body, actions, gone);

      main.append(h('div', { class: 'ranklet-meta' },
        h(url ? 'a' : 'span', { class: 'ranklet-author', href: url, rel: url && 'nofollow ugc noopener noreferrer' }, c.author),
        c.is_author && h('span', { class: 'ranklet-author-badge' }, S.isAuthor),
        c.pinned && h('span', { class: 'ranklet-author-badge' }, S.pin),
        time(c.created_at),
        c.edited_at && time(c.edited_at, S.edited)), body, actions);
      return li;
    }

    // Every field is described by its note, if any, and by the form's alert line, which
    // is empty until the server refuses a post (then the fields it names are aria-invalid).
    function form(parent, close, edit, note) {
      const fid = 'rk' + ++uid;
      const field = (name, label, tag, attrs, note) => h('p', { class: 'ranklet-field' },
        h('label', { for: fid + name }, label),
        h(tag, { id: fid + name, name, 'aria-describedby': (note ? fid + 'n' + name + ' ' : '') + fid + 'e', ...attrs }),
        note && h('small', { id: fid + 'n' + name }, note));
      const f = h('form', {
        class: 'ranklet-form' + (edit ? ' ranklet-editor' : parent ? ' ranklet-reply-form' : ''),
        onsubmit: (e) => {
          e.preventDefault();
          return submit(f, parent, edit);
        },
      },
      !edit && h('div', { class: 'ranklet-fields' },
        field('author', S.author, 'input', { maxlength: 64, value: recall('author', '') }),
        field('email', S.email, 'input', { type: 'email', maxlength: 254 }, S.emailNote),
        field('website', S.website, 'input', { type: 'url', maxlength: 256 })),
      field('body', S.body, 'textarea', {
        required: true, rows: 4,
        // A counter near the limit instead of a silent cut; the service refuses what is over
        oninput: (e) => {
          const left = 5e3 - [...e.target.value.trim()].length;
          e.target.nextSibling.textContent = left < 500 ? S.left(left) : S.hint;
        },
      }, S.hint),
      !edit && h('input', { class: 'ranklet-hp', name: 'homepage', tabindex: -1, autocomplete: 'off', 'aria-hidden': 'true' }),
      !edit && widget.features?.notify && h('label', {}, h('input', { type: 'checkbox', name: 'notify' }), ' ', S.notify),
      h('p', {},
        h('button', { class: 'ranklet-submit' }, S.submit), ' ',
        close && button('cancel', S.cancel, close), note),
      h('p', { class: 'ranklet-error', role: 'alert', id: fid + 'e' }));
      f.close = close;
      return f;
    }

    // With the site's proof of work on, embed/pow.js solves a challenge in the background
    // while the reader types; each post spends one, so the next is started at once.
    let proof;
    const prove = () => (proof = widget.site.challenge && lazy('pow').then(() => RankletPow(base)).catch(log));
    prove();

    async function submit(f, parent, edit) {
      const fields = f.elements;
      const value = (name) => fields[name]?.value.trim() || undefined;
      const text = fields.body.value;
      if (f.busy) return;
      f.busy = true;
      f.lastChild.textContent = '';
      for (const el of fields) el.removeAttribute('aria-invalid');
      // An edit (embed/edit.js) saves and redraws the comment itself
      const r = await (edit
        ? edit(f, text)
        : send(f, '/comments', 'POST', {
          article, article_title: document.title, article_url: location.href.split('#')[0],
          parent_id: parent, author: value('author'), email: value('email'), website: value('website'),
          body: text, notify: !!fields.notify?.checked, homepage: fields.homepage.value, altcha: await proof,
        }));
      edit || prove();
      f.busy = false;
      if (!r) return;
      remember('author', fields.author.value.trim());
      fields.body.value = '';
      fields.body.dispatchEvent(new Event('input'));
      f.close?.();
      if (r.status === 202) return say(S.pending);
      const c = r.data.comment;
      tokens[site + '/' + c.id] = { t: r.data.edit_token, u: r.data.editable_until, b: text };
      remember('tokens', tokens);
      await editor();
      // c.parent_id: a reply at level 5 lands beside its parent
      const host = [...list.querySelectorAll('.ranklet-comment')].find((el) => el.dataset.id == c.parent_id);
      (host ? host.lastChild : list).append(comment(c));
      sync(1);
      say(S.posted);
    }

    async function send(f, path, method, body, token) {
      const headers = body ? { 'Content-Type': 'application/json' } : {};
      if (token) headers['X-Edit-Token'] = token;
      const r = await api(path + '?lang=' + lang, { method, headers, body: body && JSON.stringify(body) });
      if (r.ok) return r;
      // The service's own words (already in the reader's language): per field for a 422,
      // each under its short label unless it names the field itself
      const named = (r.status === 422 && r.data.errors) || {};
      const text = Object.entries(named).map(([n, m], l) => (l = S[n]?.split(/ \(|（/)[0] || n, `${m}`.includes(l) ? m : `${l}: ${m}`)).join(' ') || r.data.message || S.failed;
      if (r.status === 403 && !token) log(text, `Add ${location.origin} to the origins of site "${site}" (admin settings, or ranklet site update)`);
      say(text, 1, f || top);
      if (!f) return;
      const bad = [...f.elements].filter((el) => named[el.name]);
      for (const el of bad) el.setAttribute('aria-invalid', 'true');
      bad[0]?.focus();
    }

    const t = { S, lang, button, form, send, comment, sync, say, focus, title, tokens, remember };
    page(widget.comments);
    return h('section', { class: 'ranklet-thread' },
      h('div', { class: 'ranklet-head' }, title, h('label', {}, S.sort, ' ', h('select', {
        class: 'ranklet-sort',
        onchange: (e) => {
          sort = e.target.value;
          return load();
        },
      }, ...['oldest', 'newest', 'top'].map((k) => h('option', { value: k }, S[k]))))),
      top, list, more);
  }

  // auto: the first opaque background up from the mount decides, else the system
  function shade(el) {
    if (/^(light|dark)$/.test(cfg.theme)) return cfg.theme;
    for (; el; el = el.parentElement) {
      const [r, g, b, a = 1] = getComputedStyle(el).backgroundColor.match(/[\d.]+/g) || [];
      if (a > 0) return r * 0.2 + g * 0.7 + b * 0.1 < 128 ? 'dark' : ''; // luminance
    }
    return dark.matches ? 'dark' : '';
  }

  function paint(counts, S) {
    for (const el of document.querySelectorAll('[data-ranklet-count]')) {
      const n = counts[canon(el.dataset.rankletCount)];
      if (n != null) el.textContent = el.dataset.rankletCountFormat === 'long' ? S.count(n) : n;
    }
  }

  async function mount(all) {
    const run = ++generation;
    // WordPress's plain permalinks name the post in the query: /?p=1, /?page_id=2
    const plain = /[?&](p(age_id)?=\d+)/.exec(location.search);
    const article = canon(cfg.article || location.pathname + (plain ? '?' + plain[1] : ''));
    let lang = langOf(cfg.lang) || langOf(document.documentElement.lang);
    const els = [...document.querySelectorAll('[data-ranklet-badges],[data-ranklet-comments]')]
      .filter((el) => all || !el.hasAttribute('data-ranklet-mounted'));
    const countEls = [...document.querySelectorAll('[data-ranklet-count]')];
    // A recent-comments box rides on the widget request; embed/recent.js draws it
    const rec = document.querySelector('[data-ranklet-recent]');
    const counts = countEls[0] && api('/counts?' + new URLSearchParams(
      countEls.slice(0, 100).map((el) => ['article', el.dataset.rankletCount])));
    const edits = Object.keys(tokens).some((k) => k.startsWith(site + '/')) && editor();
    const r = (els[0] || rec) && await api('/widget?' + query({ article, lang, recent: rec && (rec.dataset.limit || 10) }));
    await edits;
    if (run !== generation) return;
    lang ||= langOf(r?.data.site?.lang) || 'en';
    const S = STRINGS[lang];
    if (r && !r.ok) log(r.data.message || S.loadError, r.status == 404 ? `Check data-site="${site}" (ranklet site list)` : '');
    for (const el of els) {
      const isThread = el.hasAttribute('data-ranklet-comments');
      let content;
      try {
        content = r.ok && (isThread ? thread(r.data, S, lang, article) : badges(r.data.rankings, S));
      } catch (e) {
        log(e);
      }
      el.setAttribute('data-ranklet-mounted', '');
      // A failed badge load stays quiet for readers (the console has it); comments say so
      (el.shadowRoot || el.attachShadow({ mode: 'open' })).replaceChildren(h('style', {}, CSS),
        h('div', { class: 'r ' + shade(el), lang }, content || isThread && h('p', { class: 'ranklet-error' }, S.loadError)));
    }
    if (rec) {
      Ranklet.x = { h, avatar, shade, CSS, lang, r };
      lazy('recent');
    }
    const found = await counts;
    if (found?.ok && run === generation) paint(found.data.counts, S);
  }

  try {
    if (window.Ranklet) return void window.Ranklet.refresh(false);
    const script = document.currentScript;
    cfg = script.dataset;
    site = cfg.site;
    if (!site) return void log('data-site is missing');
    base = `${new URL(script.src).origin}/api/v1/sites/${encodeURIComponent(site)}`;
    tokens = recall('tokens', {});
    liked = recall('liked', {});
    for (const key in tokens) if (!(Date.parse(tokens[key]?.u) > Date.now())) delete tokens[key];
    remember('tokens', tokens);
    const refresh = (all = true) => mount(all).catch(log);
    window.Ranklet = { refresh };
    dark.onchange = () => {
      for (const el of document.querySelectorAll('[data-ranklet-mounted]')) el.shadowRoot.lastChild.className = 'r ' + shade(el);
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => refresh(false));
    else refresh(false);
  } catch (e) {
    log(e);
  }
})();
