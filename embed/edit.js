'use strict';
// Ranklet's edit and delete buttons on the reader's own comments (API.md §5: edit tokens kept
// in localStorage, offered within the edit window). embed.js loads this file only when the
// reader holds such a token for the site (or has just posted), and hands over the thread's
// helpers: the forms, the requests and the status line stay embed.js's, so both behave as
// everywhere else in the widget. Served minified like embed.js: never nest a template
// literal in another's ${}.
(() => {
  const STRINGS = {
    ja: { edit: '編集', delete: '削除', save: '保存', sure: '削除しますか？' },
    en: { edit: 'Edit', delete: 'Delete', save: 'Save', sure: 'Delete?' },
  };

  // t: the thread's helpers; key: the comment's entry in tokens; gone: turns li into the
  // "deleted" placeholder
  window.Ranklet.edit = (t, c, key, li, body, actions, gone) => {
    const { S, lang, button, form, send, comment, sync, say, focus, title, tokens, remember } = t;
    const E = STRINGS[lang] || STRINGS.en;
    const own = tokens[key];
    const left = Date.parse(own.u) - Date.now();
    if (!(left > 0)) return;

    // The editor replaces the body; saving redraws the comment from the service's answer
    // and keeps its replies
    const edit = button('edit', E.edit, () => {
      const f = form(null, () => {
        f.replaceWith(body);
        edit.focus();
      }, async (f, text) => {
        const r = await send(f, '/comments/' + c.id, 'PATCH', { body: text }, own.t);
        if (!r) return;
        own.b = text;
        remember('tokens', tokens);
        const fresh = comment({ ...r.data.comment, replies: [] });
        fresh.lastChild.replaceWith(li.lastChild);
        li.replaceWith(fresh);
        fresh.querySelector('.ranklet-edit')?.focus();
      });
      f.querySelector('.ranklet-submit').textContent = E.save;
      f.elements.body.value = own.b;
      body.replaceWith(f);
      f.elements.body.focus();
    });

    // A comment with replies leaves a placeholder; one without goes
    const del = button('delete', E.delete, async () => {
      if (!confirm(E.sure) || !(await send(null, '/comments/' + c.id, 'DELETE', null, own.t))) return;
      delete tokens[key];
      remember('tokens', tokens);
      if (li.lastChild.firstChild) gone();
      else li.remove();
      focus(li.isConnected ? li : title);
      sync(-1);
      say(S.deleted);
    });

    actions.append(edit, del);
    setTimeout(() => {
      edit.remove();
      del.remove();
    }, left);
  };
})();
