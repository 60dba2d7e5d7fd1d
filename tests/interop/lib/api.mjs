// A minimal GipoNext API next to the provider, so the product can run
// against it: `/v2/userinfo` (the product reads the tenant there) and one
// scoped list, `/v2/tenants/{tenantId}/patients`, for proxied calls. Tokens
// are validated through the provider itself (`AccessToken.find`), so an
// expired or revoked token is refused exactly as the provider sees it.
//
// Test-only administration under `/_harness/`: register a client after the
// fact (its redirect URI may only be known once the test's backend bound a
// port) and read counters of provider events.

import { bySub, TENANTS } from './accounts.mjs';
import { liveGrants, registerClient } from './adapter.mjs';

const PATIENTS = [
  { id: 1, firstName: 'Anna', lastName: 'Esposito', fiscalCode: 'SPSNNA80A41F205X', version: 1 },
  { id: 2, firstName: 'Paolo', lastName: 'Ferrari', fiscalCode: 'FRRPLA75C12H501Y', version: 1 },
];

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function apiError(res, status, error, message, extra = {}, headers = {}) {
  sendJson(res, status, { error, message, ...extra }, headers);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

// The bearer token's record, or undefined after answering 401.
async function authenticate(provider, req, res) {
  const header = req.headers.authorization || '';
  const match = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  const token = match ? await provider.AccessToken.find(match[1]) : undefined;
  const grant = token ? await provider.Grant.find(token.grantId) : undefined;
  if (!token || !grant) {
    apiError(res, 401, 'invalid_token', 'The access token is missing, invalid, expired or revoked.', {}, {
      'www-authenticate': 'Bearer error="invalid_token"',
    });
    return undefined;
  }
  return token;
}

function requireScope(res, token, scope) {
  if (token.scopes.has(scope)) return true;
  apiError(res, 403, 'insufficient_scope', `This call needs the scope ${scope}.`, { scope }, {
    'www-authenticate': `Bearer error="insufficient_scope", scope="${scope}"`,
  });
  return false;
}

const PATIENTS_ROUTE = /^\/v2\/tenants\/([^/]+)\/patients$/;

// Handles `/v2/...` and `/_harness/...`; returns false for anything else.
export async function handleApi(provider, stats, req, res, url) {
  const path = url.pathname;
  if (path.startsWith('/_harness/')) {
    if (path === '/_harness/stats' && req.method === 'GET') {
      sendJson(res, 200, stats);
    } else if (path === '/_harness/grants' && req.method === 'GET') {
      const clientId = url.searchParams.get('client_id') || '';
      const account = url.searchParams.get('account') || '';
      sendJson(res, 200, { live: liveGrants(clientId, account) });
    } else if (path === '/_harness/clients' && req.method === 'POST') {
      try {
        const metadata = await readJson(req);
        await provider.Client.validate(metadata);
        registerClient(metadata);
        sendJson(res, 201, { client_id: metadata.client_id });
      } catch (err) {
        sendJson(res, 400, { error: 'invalid_client_metadata', message: err.error_description || err.message });
      }
    } else {
      sendJson(res, 404, { error: 'not_found', message: 'No such harness route.' });
    }
    return true;
  }
  if (!path.startsWith('/v2/')) return false;

  if (req.method !== 'GET') {
    apiError(res, 405, 'method_not_allowed', 'The interop API only reads.');
    return true;
  }
  const token = await authenticate(provider, req, res);
  if (!token) return true;
  const user = bySub(token.accountId);
  if (!user) {
    apiError(res, 401, 'invalid_token', 'Unknown account.', {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
    return true;
  }
  if (path === '/v2/userinfo') {
    sendJson(res, 200, {
      sub: user.sub,
      name: user.name,
      email: user.email,
      tenants: [{ id: user.tenant, name: TENANTS[user.tenant] }],
    });
    return true;
  }
  const patients = PATIENTS_ROUTE.exec(path);
  if (patients) {
    if (!requireScope(res, token, 'giponext.patients')) return true;
    if (decodeURIComponent(patients[1]) !== user.tenant) {
      apiError(res, 404, 'not_found', 'No such tenant.');
      return true;
    }
    sendJson(res, 200, {
      items: PATIENTS, totalCount: PATIENTS.length, offset: 0, limit: 20, hasMore: false,
    });
    return true;
  }
  apiError(res, 404, 'not_found', 'The interop API serves /v2/userinfo and /v2/tenants/{tenantId}/patients only.');
  return true;
}
