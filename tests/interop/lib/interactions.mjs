// The interaction routes (`/interaction/:uid...`): sign-in and consent.
//
// Consent is per scope: the grant receives exactly the ticked scopes and
// records the unticked ones as rejected, so the token response's `scope`
// names only what the person allowed.

import { byUsername, PASSWORD } from './accounts.mjs';
import { consentPage, errorPage, loginPage } from './pages.mjs';

export async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|consent|abort))?$/;

// Handles the request if it is an interaction route; returns false otherwise.
export async function handleInteraction(provider, req, res, url) {
  const match = ROUTE.exec(url.pathname);
  if (!match) return false;
  const [, uid, action] = match;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    sendHtml(res, 400, errorPage('Sign-in expired', 'This sign-in request is unknown or has expired. Start again from the application.'));
    return true;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('Sign-in mismatch', 'This page does not belong to the current sign-in.'));
    return true;
  }
  const { prompt, params } = details;
  const clientId = params.client_id;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      sendHtml(res, 200, loginPage({ uid, clientId }));
    } else {
      sendHtml(res, 200, consentPage({
        uid, clientId, user: details.session?.accountId, scopes: requestedScopes(params),
      }));
    }
    return true;
  }
  if (req.method !== 'POST' || !action) {
    sendHtml(res, 405, errorPage('Not allowed', 'Use the form on the page.'));
    return true;
  }

  const form = await readForm(req);
  if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted the sign-in',
    }, { mergeWithLastSubmission: false });
    return true;
  }
  if (action === 'login') {
    if (prompt.name !== 'login') {
      sendHtml(res, 400, errorPage('Already signed in', 'Continue with the consent page.'));
      return true;
    }
    const user = byUsername(form.get('username') || '');
    if (!user || form.get('password') !== PASSWORD) {
      sendHtml(res, 401, loginPage({ uid, clientId, error: 'Wrong user or password.' }));
      return true;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: user.sub },
    }, { mergeWithLastSubmission: false });
    return true;
  }

  // consent
  if (prompt.name !== 'consent') {
    sendHtml(res, 400, errorPage('Sign in first', 'Sign in before granting permissions.'));
    return true;
  }
  if (form.get('decision') === 'deny') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User refused the authorization',
    }, { mergeWithLastSubmission: true });
    return true;
  }
  const asked = requestedScopes(params);
  const ticked = new Set(form.getAll('scope').filter((s) => asked.includes(s)));
  ticked.add('openid');
  const refused = asked.filter((s) => !ticked.has(s));
  const grant = new provider.Grant({ accountId: details.session.accountId, clientId });
  grant.addOIDCScope([...ticked].join(' '));
  if (refused.length) grant.rejectOIDCScope(refused.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    consent: { grantId },
  }, { mergeWithLastSubmission: true });
  return true;
}

function requestedScopes(params) {
  const scopes = (params.scope || '').split(' ').filter(Boolean);
  if (!scopes.includes('openid')) scopes.unshift('openid');
  return [...new Set(scopes)];
}
