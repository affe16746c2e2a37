// A real OpenID provider for the test suite: panva's certified oidc-provider, on loopback only.
//
// Started by the pytest session fixture in tests/oidc.py with its settings in one JSON file (argv[2]):
//   { "port", "issuer", "audience", "jwk" (private RSA JWK), "clients": [...], "accounts": {...} }
// Access tokens are RS256 JWTs for the audience, carrying `email` and `permissions` (Auth0 RBAC style).
// Users: every account id in "accounts" signs in with any password through the development login form.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = settings.accounts;
const clientPermissions = Object.fromEntries(settings.clients.map((c) => [c.client_id, c.permissions || []]));

function accountClaims(accountId) {
  const account = accounts[accountId] || {};
  return { sub: accountId, ...(account.email ? { email: account.email, email_verified: true } : {}) };
}

const provider = new Provider(settings.issuer, {
  clients: settings.clients.map(({ permissions, ...client }) => client),
  jwks: { keys: [settings.jwk] },
  findAccount: async (ctx, accountId) => ({
    accountId,
    claims: async () => accountClaims(accountId),
  }),
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => settings.audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'openid email profile offline_access',
        audience: settings.audience,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // The claims an API reads from the access token itself: the user's e-mail and permission list, or, for
  // a machine client (client credentials), the permissions configured for that client.
  extraTokenClaims: async (ctx, token) => {
    if (token.kind === 'ClientCredentials') {
      return { permissions: clientPermissions[token.clientId] || [] };
    }
    const account = accounts[token.accountId] || {};
    return {
      ...(account.email && !account.email_only_in_userinfo ? { email: account.email } : {}),
      permissions: account.permissions || [],
    };
  },
  // Grant every scope the client asks for without a consent screen, so scripted flows need only the login form.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile offline_access');
    grant.addResourceScope(settings.audience, 'openid email profile offline_access');
    await grant.save();
    return grant;
  },
  pkce: { required: () => true },
  ttl: { AccessToken: 3600, ClientCredentials: 3600, DeviceCode: 600, Grant: 3600, Interaction: 600, Session: 3600, IdToken: 3600, RefreshToken: 86400 },
  renderError: async (ctx, out) => {
    ctx.type = 'application/json';
    ctx.body = out;
  },
});
provider.proxy = false;
// One line per request, so tests and benchmarks can count the calls that reach the provider.
provider.use(async (ctx, next) => {
  console.log(`request ${ctx.method} ${ctx.path}`);
  await next();
});

// Keycloak's token path as well: the upstream jobbergate-agent 5.12 posts its client credentials (in the form body)
// to {OIDC_DOMAIN}/protocol/openid-connect/token, a path it builds itself instead of reading discovery.
provider.use(async (ctx, next) => {
  if (ctx.path === '/protocol/openid-connect/token') ctx.path = '/token';
  await next();
});

const server = provider.listen(settings.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${settings.issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
