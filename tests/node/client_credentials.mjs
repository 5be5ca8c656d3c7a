// openid-client v6 as a tenant developer would use it: discovery from the issuer, then the
// client_credentials grant. Reads {"issuer", "client_id", "client_secret", "auth_method",
// "discovery"} as JSON on stdin (secrets stay off the command line; "discovery" is "oidc", the
// default, for /.well-known/openid-configuration or "oauth2" for RFC 8414's
// /.well-known/oauth-authorization-server) and prints one JSON object on stdout:
// the token response on success, or {"error", "error_description", "status"} with exit 2 when
// the server refused, exit 1 for anything else (e.g. discovery rejected the metadata).
import * as client from 'openid-client';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const authMethods = {
  client_secret_basic: client.ClientSecretBasic,
  client_secret_post: client.ClientSecretPost,
};
const makeAuth = authMethods[input.auth_method];
if (makeAuth === undefined) {
  console.error(`unknown auth_method ${input.auth_method}`);
  process.exit(1);
}

let config;
try {
  config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    input.client_secret,
    makeAuth(input.client_secret),
    // The tests serve plain http on 127.0.0.1.
    { execute: [client.allowInsecureRequests], algorithm: input.discovery ?? 'oidc' },
  );
} catch (err) {
  console.error(`discovery failed: ${err.name}: ${err.message} ${err.code ?? ''}`);
  process.exit(1);
}

try {
  const tokens = await client.clientCredentialsGrant(config);
  const { access_token, token_type, expires_in } = tokens;
  console.log(JSON.stringify({
    access_token,
    token_type,
    expires_in,
    server_metadata: config.serverMetadata(),
  }));
} catch (err) {
  if (err instanceof client.ResponseBodyError) {
    console.log(JSON.stringify({
      error: err.error,
      error_description: err.error_description,
      status: err.status,
    }));
    process.exit(2);
  }
  console.error(`token request failed: ${err.name}: ${err.message} ${err.code ?? ''}`);
  process.exit(1);
}
