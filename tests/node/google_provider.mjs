// A real OpenID Connect provider standing in for Google in the "Sign in with Google" tests:
// panva/oidc-provider (the peer of ../../../shared/peers), authorization code flow with PKCE
// required, ID tokens signed with a key generated at start and published at its jwks_uri.
//
// Reads one JSON object on stdin (secrets stay off the command line):
//   {"port", "client_id", "client_secret", "redirect_uri",
//    "accounts": {"<login>": {"email", "email_verified", "name"}}}
// and prints `ready <issuer>` on stdout once it listens. The login name typed on its sign-in
// page is the account's `sub`; any password is accepted (devInteractions), and consent is
// granted without asking, as Google does for a client a user already approved.
// Not for production: in-memory adapter, development interactions, no TLS.
import { createServer } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const issuer = `http://127.0.0.1:${input.port}`;
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'google-test-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: input.client_id,
    client_secret: input.client_secret,
    redirect_uris: [input.redirect_uri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['google-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Google puts email and name in the ID token of the code flow; so does this stand-in.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, sub) {
    const account = input.accounts[sub];
    if (account === undefined) return undefined;
    return { accountId: sub, claims: async () => ({ sub, ...account }) };
  },
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = createServer(provider.callback());
server.listen(input.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
