// Logging in: shown in place of any page the server refused for want of a token. The token
// goes to POST /api/v1/session, which answers with an HttpOnly cookie: this script never
// keeps the token, and no script on the page can read it back.

import {ApiError, SESSION, post} from '../api.js';
import {errorBox, fill, h} from '../dom.js';

/** Fills `root` with the login form; `done` runs once the server took the token. */
export function render(root, problem, done) {
  const field = h('input', {id: 'token', type: 'password', name: 'token', autocomplete: 'off', required: true,
    spellcheck: 'false', placeholder: 'sluice_…'});
  const message = h('div');
  const form = h('form.login', {onsubmit: async (event) => {
    event.preventDefault();
    try {
      await post(SESSION, {token: field.value.trim()});
      field.value = '';
      done();
    } catch (error) {
      fill(message, errorBox(error instanceof ApiError ? error : {message: String(error)}));
      field.select();
    }
  }},
  h('label', {for: 'token'}, 'API token'),
  field,
  h('button', {type: 'submit'}, 'Log in'));
  fill(root, h('h1', 'Log in'),
    h('p.muted', problem?.detail || 'This server needs a token.'),
    h('p.muted', 'An admin makes one with ', h('code', 'sluice token create --name you --role viewer'), '.'),
    form, message);
  field.focus();
}
