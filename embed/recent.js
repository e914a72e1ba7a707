'use strict';
// Ranklet's recent-comments box (API.md §5: an element with data-ranklet-recent, optional
// data-limit), a blog sidebar's 「最近のコメント」. embed.js loads this file only on pages
// that have such an element, and hands over what it already fetched: the widget answer,
// which carries the recent comments (?recent=N), so the page makes no request of its own
// for them. Served minified like embed.js: never nest a template literal in another's ${}.
(() => {
  const STRINGS = {
    ja: { title: '最近のコメント', none: 'まだコメントはありません', failed: 'コメントを読み込めませんでした' },
    en: { title: 'Recent comments', none: 'No comments yet', failed: 'Comments could not be loaded' },
  };
  const MORE = `.ranklet-recent a{font-weight:600;text-decoration:none}.ranklet-recent a:hover{text-decoration:underline}
.ranklet-recent p{margin:0}.ranklet-recent .ranklet-c{gap:8px;padding:6px 0}.ranklet-recent svg{width:24px;height:24px}`;

  // Only an article key that is a path on this site, or an http(s) URL, becomes a link
  const href = (key) => (/^\/(?!\/)/.test(key) || /^https?:\/\//i.test(key) ? key : null);

  try {
    const { h, avatar, shade, CSS, lang, r } = window.Ranklet.x;
    const S = STRINGS[lang] || STRINGS.en;
    const list = r?.ok && r.data.recent;

    const item = (c) => {
      const date = new Date(c.created_at);
      return h('li', { class: 'ranklet-c' }, avatar(c.avatar), h('div', { class: 'ranklet-main' },
        h(href(c.article) ? 'a' : 'span', { href: href(c.article) }, c.article_title || c.article),
        h('p', {}, h('span', { class: 'ranklet-author' }, c.author), ' ',
          h('time', { datetime: c.created_at }, date.toLocaleDateString(lang))),
        h('p', {}, c.excerpt)));
    };

    for (const el of document.querySelectorAll('[data-ranklet-recent]')) {
      const shown = list && list.slice(0, Math.abs(el.dataset.limit | 0) || 10);
      const body = !list ? h('p', { class: 'ranklet-error' }, S.failed)
        : shown[0] ? h('ol', { class: 'ranklet-list' }, ...shown.map(item)) : h('p', {}, S.none);
      const id = 'ranklet-recent-title';
      el.setAttribute('data-ranklet-mounted', '');
      (el.shadowRoot || el.attachShadow({ mode: 'open' })).replaceChildren(h('style', {}, CSS + MORE),
        h('div', { class: 'r ' + shade(el), lang },
          h('section', { class: 'ranklet-recent', 'aria-labelledby': id }, h('h2', { id }, S.title), body)));
    }
  } catch (e) {
    console.warn('[ranklet]', e);
  }
})();
