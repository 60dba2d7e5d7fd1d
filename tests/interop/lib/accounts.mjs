// The people who can sign in at the harness, mirroring the sandbox's seed
// (password `sandbox` for all), and their medical centres.

export const PASSWORD = 'sandbox';

export const TENANTS = {
  'tenant-abc123': 'Poliambulatorio San Marco',
  'tenant-def456': 'Centro Medico Santa Chiara',
};

export const USERS = [
  { sub: 'interop-mario', username: 'mario.rossi', name: 'Mario Rossi', email: 'mario.rossi@example.org', tenant: 'tenant-abc123' },
  { sub: 'interop-giulia', username: 'giulia.bianchi', name: 'Giulia Bianchi', email: 'giulia.bianchi@example.org', tenant: 'tenant-abc123' },
  { sub: 'interop-luca', username: 'luca.verdi', name: 'Luca Verdi', email: 'luca.verdi@example.org', tenant: 'tenant-def456' },
];

export function byUsername(username) {
  return USERS.find((u) => u.username === username);
}

export function bySub(sub) {
  return USERS.find((u) => u.sub === sub);
}

// oidc-provider's account hook: the claims it may put in ID tokens and its
// own userinfo endpoint (which the product does not use: GipoNext's userinfo
// is `/v2/userinfo`, served by api.mjs).
export async function findAccount(ctx, sub) {
  const user = bySub(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return { sub, name: user.name, email: user.email };
    },
  };
}
