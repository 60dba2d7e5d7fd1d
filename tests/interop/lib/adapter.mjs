// In-memory storage for oidc-provider's models (its adapter interface).
//
// oidc-provider ships a memory adapter too, but it is an LRU capped at 1,000
// entries and keeps its store private; this one is a plain Map the launcher
// can also write client registrations into (see `registerClient`), so a test
// can register a client whose redirect URI it only knows after the fact.

const store = new Map(); // key -> { payload, expiresAt (ms) | undefined }

const grantable = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

function get(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

function set(key, payload, expiresIn) {
  const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
  store.set(key, { payload, expiresAt });
}

export class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') {
      set(`sessionUid:${payload.uid}`, id, expiresIn);
    }
    if (grantable.has(this.model) && payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = get(grantKey) || [];
      members.push(key);
      set(grantKey, members, expiresIn);
    }
    if (payload.userCode) {
      set(`userCode:${payload.userCode}`, id, expiresIn);
    }
    set(key, payload, expiresIn);
  }

  async find(id) {
    return get(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = `grant:${grantId}`;
    for (const key of get(grantKey) || []) store.delete(key);
    store.delete(grantKey);
  }
}

// Stores a dynamic client; oidc-provider's `Client.find` reads it through the
// adapter and validates the metadata on first use.
export function registerClient(metadata) {
  set(`Client:${metadata.client_id}`, metadata);
}

// How many grants of `accountId` to `clientId` are still live: distinct
// grant ids with a refresh token that is neither expired, consumed (rotated
// out) nor revoked (revocation deletes every token of the grant).
export function liveGrants(clientId, accountId) {
  const grants = new Set();
  for (const key of [...store.keys()]) {
    if (!key.startsWith('RefreshToken:')) continue;
    const payload = get(key);
    if (!payload || payload.consumed) continue;
    if (payload.clientId === clientId && payload.accountId === accountId) grants.add(payload.grantId);
  }
  return grants.size;
}
