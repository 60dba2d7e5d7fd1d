// The harness's HTML: sign-in, consent, device and logout pages.
//
// oidc-provider leaves the interaction UI to the integrator. These pages are
// deliberately plain forms that work without JavaScript, so a test can walk
// them with an HTTP client: the consent page lists every requested scope with
// its own checkbox (openid is fixed), so scopes can be refused one by one.

export function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
<h1>${esc(title)}</h1>
${body}
</body>
</html>`;
}

export function loginPage({ uid, clientId, error }) {
  return page('Sign in', `
<p>Sign in to continue to <strong>${esc(clientId)}</strong>.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form id="login" method="post" action="/interaction/${esc(uid)}/login">
  <label>User <input name="username" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
<form id="abort" method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit">Cancel</button>
</form>`);
}

export function consentPage({ uid, clientId, user, scopes }) {
  const rows = scopes
    .map((scope) => {
      if (scope === 'openid') {
        return `<li><label><input type="checkbox" checked disabled> openid (always)</label>
  <input type="hidden" name="scope" value="openid"></li>`;
      }
      return `<li><label><input type="checkbox" name="scope" value="${esc(scope)}" checked> ${esc(scope)}</label></li>`;
    })
    .join('\n  ');
  return page('Authorize', `
<p><strong>${esc(clientId)}</strong> asks ${esc(user)} for these permissions. Untick any you refuse.</p>
<form id="consent" method="post" action="/interaction/${esc(uid)}/consent">
  <ul>
  ${rows}
  </ul>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`);
}

export function errorPage(title, message) {
  return page(title, `<p class="error" role="alert">${esc(message)}</p>`);
}

// Device flow: `form` is oidc-provider's own hidden-field form (it carries the
// xsrf token); the buttons submit it.
export async function userCodeInputSource(ctx, form, out, err) {
  // `out` carries the displayable error (e.g. access_denied after a refusal
  // on the consent page); `err` the internal one.
  let msg = '<p>Enter the code shown on your device.</p>';
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    msg = '<p class="error" role="alert" data-error="invalid_user_code">The code you entered is incorrect.</p>';
  } else if (err && err.name === 'AbortedError') {
    // A refusal on the consent page (or Abort): the device gets access_denied.
    msg = '<p class="error" role="alert" data-error="access_denied">access_denied: the sign-in was refused; the device has been told.</p>';
  } else if (out && out.error) {
    msg = `<p class="error" role="alert" data-error="${esc(out.error)}">${esc(out.error)}: ${esc(out.error_description)}</p>`;
  } else if (err) {
    msg = '<p class="error" role="alert" data-error="server_error">The request could not be processed.</p>';
  }
  ctx.type = 'html';
  ctx.body = page('Device sign-in', `${msg}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

export async function userCodeConfirmSource(ctx, form, client, deviceInfo, userCode) {
  ctx.type = 'html';
  ctx.body = page('Confirm device', `
<p><strong>${esc(client.clientName || client.clientId)}</strong> shows the code <code>${esc(userCode)}</code>.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
}

export async function deviceSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Device signed in', '<p>You can close this page and return to your device.</p>');
}

export async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Sign out', `
<p>Sign out of the provider too?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
}

export async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<p>You are signed out.</p>');
}

export async function renderError(ctx, out) {
  ctx.type = 'html';
  ctx.body = page('Error', Object.entries(out).map(([k, v]) => `<p><strong>${esc(k)}</strong>: <span class="${esc(k)}">${esc(v)}</span></p>`).join('\n'));
}
