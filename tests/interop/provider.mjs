// An independent OpenID Provider for interop tests: panva's oidc-provider
// (a certified implementation, pinned in package.json) configured like
// GipoNext's account server, plus a minimal GipoNext API for `/v2/userinfo`.
//
//   node provider.mjs ['{"port":0,"clients":[...],"accessTokenTtl":60}']
//
// Settings come from the JSON argument, else from the environment:
//   port            INTEROP_PORT               (0: a free port; default 0)
//   issuer          INTEROP_ISSUER             (default http://127.0.0.1:{port})
//   clients         INTEROP_CLIENTS            (JSON array of oidc-provider client
//                                               metadata: client_id, client_secret,
//                                               redirect_uris, post_logout_redirect_uris,
//                                               grant_types, response_types,
//                                               token_endpoint_auth_method, scope;
//                                               default: the sandbox's three clients)
//   accessTokenTtl  INTEROP_ACCESS_TOKEN_TTL   (seconds, default 300)
//   refreshTokenTtl INTEROP_REFRESH_TOKEN_TTL  (seconds, default 86400)
//   deviceCodeTtl   INTEROP_DEVICE_CODE_TTL    (seconds, default 600)
//   deviceInterval  INTEROP_DEVICE_INTERVAL    (seconds; if set, the device
//                                               authorization response carries it)
//   watchStdin      INTEROP_WATCH_STDIN=1      (exit when stdin closes: the parent died)
//
// When listening it prints one JSON line to stdout:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
// Users (password `sandbox`): mario.rossi, giulia.bianchi, luca.verdi.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

import { findAccount } from './lib/accounts.mjs';
import { MapAdapter } from './lib/adapter.mjs';
import { handleApi } from './lib/api.mjs';
import { handleInteraction } from './lib/interactions.mjs';
import * as pages from './lib/pages.mjs';

export const SCOPES = [
  'openid', 'offline_access',
  'giponext.patients', 'giponext.agenda', 'giponext.treatments',
  'giponext.episodes', 'giponext.medicalreports', 'giponext.invoices',
];

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function defaultClients() {
  return [
    {
      client_id: 'giponext-connect-web',
      client_secret: 'sandbox-web-secret',
      redirect_uris: ['http://127.0.0.1:8080/auth/callback', 'http://localhost:8080/auth/callback'],
      post_logout_redirect_uris: [
        'http://127.0.0.1:8080/', 'http://localhost:8080/',
        'http://127.0.0.1:8080/auth/login?prompt=login', 'http://localhost:8080/auth/login?prompt=login',
      ],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: SCOPES.join(' '),
    },
    {
      client_id: 'giponext-cli',
      client_secret: 'sandbox-cli-secret',
      redirect_uris: [],
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
      scope: SCOPES.join(' '),
    },
    {
      client_id: 'giponext-cli-public',
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: [],
      grant_types: [DEVICE_GRANT, 'refresh_token'],
      response_types: [],
      scope: SCOPES.join(' '),
    },
  ];
}

function readSettings() {
  let arg = {};
  if (process.argv[2]) {
    try {
      arg = JSON.parse(process.argv[2]);
    } catch (err) {
      fail(`the argument is not JSON: ${err.message}`);
    }
  }
  const env = process.env;
  const num = (name, value, fallback) => {
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) fail(`${name} must be a whole number of seconds, got ${value}`);
    return n;
  };
  let clients = arg.clients;
  if (clients === undefined && env.INTEROP_CLIENTS) {
    try {
      clients = JSON.parse(env.INTEROP_CLIENTS);
    } catch (err) {
      fail(`INTEROP_CLIENTS is not JSON: ${err.message}`);
    }
  }
  return {
    port: num('port', arg.port ?? env.INTEROP_PORT, 0),
    issuer: arg.issuer ?? env.INTEROP_ISSUER,
    clients: clients ?? defaultClients(),
    accessTokenTtl: num('accessTokenTtl', arg.accessTokenTtl ?? env.INTEROP_ACCESS_TOKEN_TTL, 300),
    refreshTokenTtl: num('refreshTokenTtl', arg.refreshTokenTtl ?? env.INTEROP_REFRESH_TOKEN_TTL, 86400),
    deviceCodeTtl: num('deviceCodeTtl', arg.deviceCodeTtl ?? env.INTEROP_DEVICE_CODE_TTL, 600),
    deviceInterval: num('deviceInterval', arg.deviceInterval ?? env.INTEROP_DEVICE_INTERVAL, undefined),
    watchStdin: Boolean(arg.watchStdin ?? env.INTEROP_WATCH_STDIN === '1'),
    par: parMode(arg.par ?? env.INTEROP_PAR),
    strictOfflineAccess: Boolean(arg.strictOfflineAccess ?? env.INTEROP_STRICT_OFFLINE_ACCESS === '1'),
  };
}

// Pushed Authorization Requests (RFC 9126): oidc-provider offers them by
// default ('on'); 'required' refuses requests that were not pushed, 'off'
// takes the endpoint out of discovery.
function parMode(value) {
  if (value === undefined || value === '') return 'on';
  if (!['on', 'off', 'required'].includes(value)) fail(`par must be on, off or required, got ${value}`);
  return value;
}

function fail(message) {
  process.stderr.write(`interop provider: ${message}\n`);
  process.exit(2);
}

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

// Reuses the person's earlier grant only when it already covers every scope
// asked for; a scope refused before, or new, brings the consent page back
// (GipoNext asks again; oidc-provider would otherwise remember a refusal).
async function loadExistingGrant(ctx) {
  const decided = ctx.oidc.result?.consent?.grantId;
  if (decided) return ctx.oidc.provider.Grant.find(decided);
  const grantId = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
  if (!grantId) return undefined;
  const grant = await ctx.oidc.provider.Grant.find(grantId);
  if (!grant) return undefined;
  const granted = new Set(grant.getOIDCScope().split(' '));
  for (const scope of ctx.oidc.requestParamOIDCScopes) {
    if (!granted.has(scope)) return undefined;
  }
  return grant;
}

function configuration(settings) {
  return {
    adapter: MapAdapter,
    clients: settings.clients,
    findAccount,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    scopes: SCOPES,
    claims: { openid: ['sub'] },
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    rotateRefreshToken: true,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant,
    renderError: pages.renderError,
    ttl: {
      AccessToken: settings.accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: settings.deviceCodeTtl,
      Grant: settings.refreshTokenTtl,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: settings.refreshTokenTtl,
      Session: 3600,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
      pushedAuthorizationRequests: {
        enabled: settings.par !== 'off',
        requirePushedAuthorizationRequests: settings.par === 'required',
      },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: pages.userCodeInputSource,
        userCodeConfirmSource: pages.userCodeConfirmSource,
        successSource: pages.deviceSuccessSource,
      },
    },
  };
}

// oidc-provider honours offline_access only when the request also carries
// prompt=consent (OpenID Connect Core §11). GipoNext shows its consent page
// on every authorization request that asks for offline_access, so the
// harness adds prompt=consent to such requests, and optionally announces a
// device polling interval (RFC 8628 §3.2) to keep tests quick.
//
// The same holds for a pushed authorization request (RFC 9126, POST
// /request): its form body gets prompt=consent the same way, before
// oidc-provider reads it (it then takes the body from req.body).
//
// With strictOfflineAccess the harness adds nothing: oidc-provider applies
// §11 as written, and grants no refresh token unless the client itself
// sends prompt=consent.
function withConsent(params) {
  if (typeof params.scope !== 'string' || !params.scope.split(' ').includes('offline_access')) return params;
  const prompt = typeof params.prompt === 'string' ? params.prompt.split(' ').filter(Boolean) : [];
  if (params.prompt !== undefined && (prompt.includes('consent') || prompt.includes('none'))) return params;
  return { ...params, prompt: [...prompt, 'consent'].join(' ') };
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function gipoNextPolicies(settings) {
  return async (ctx, next) => {
    if (!settings.strictOfflineAccess) {
      if (ctx.method === 'GET' && ctx.path === '/auth') {
        const query = withConsent(ctx.query);
        if (query !== ctx.query) ctx.query = query;
      } else if (ctx.method === 'POST' && ctx.path === '/request'
        && ctx.is('application/x-www-form-urlencoded')) {
        const form = new URLSearchParams(await readBody(ctx.req));
        const params = withConsent({ scope: form.get('scope') ?? undefined, prompt: form.get('prompt') ?? undefined });
        if (params.prompt !== undefined) form.set('prompt', params.prompt);
        ctx.req.body = form.toString();
      }
    }
    await next();
    if (settings.deviceInterval !== undefined && ctx.path === '/device/auth'
      && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body.interval = settings.deviceInterval;
    }
  };
}

const COUNTED = [
  'authorization.success', 'authorization.error', 'grant.error', 'grant.revoked',
  'refresh_token.saved', 'refresh_token.consumed', 'refresh_token.destroyed',
  'access_token.destroyed', 'end_session.success', 'device_authorization.success',
  'revocation.error', 'server_error',
];

function countEvents(provider) {
  const stats = { events: {}, grants: {} };
  for (const name of COUNTED) {
    stats.events[name] = 0;
    provider.on(name, (...args) => {
      stats.events[name] += 1;
      if (name === 'server_error') {
        const err = args[1];
        process.stderr.write(`interop provider: server error: ${err?.message}\n`);
      }
    });
  }
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type;
    stats.grants[type] = (stats.grants[type] || 0) + 1;
  });
  return stats;
}

async function main() {
  const settings = readSettings();
  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = settings.issuer || `http://127.0.0.1:${port}`;

  let provider;
  try {
    provider = new Provider(issuer, configuration(settings));
  } catch (err) {
    fail(`invalid configuration: ${err.error_description || err.message}`);
  }
  provider.use(gipoNextPolicies(settings));
  const stats = countEvents(provider);
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    try {
      const url = new URL(req.url, issuer);
      if (await handleInteraction(provider, req, res, url)) return;
      if (await handleApi(provider, stats, req, res, url)) return;
      callback(req, res);
    } catch (err) {
      process.stderr.write(`interop provider: ${req.method} ${req.url.split('?')[0]}: ${err.message}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":"server_error"}');
      } else {
        res.end();
      }
    }
  });

  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (settings.watchStdin) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  }
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, port })}\n`);
}

main().catch((err) => fail(err.stack || err.message));
