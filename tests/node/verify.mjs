// jose v6: verify RFC 9068 access tokens against the served JWKS, as a resource server does.
// Reads {"tokens": [...], "jwks_uri", "issuer", "audience", "algorithms"} as JSON on stdin and
// prints one JSON array, per token {"header", "payload"} or {"error"}; exits 1 if any token
// failed verification. With "jwks" (a JWK Set document) instead of "jwks_uri" it verifies against
// that set alone, as a resource server whose cached copy predates a rotation would.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const JWKS = input.jwks
  ? createLocalJWKSet(input.jwks)
  : createRemoteJWKSet(new URL(input.jwks_uri));
const results = [];
let failed = false;
for (const token of input.tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
      issuer: input.issuer,
      audience: input.audience,
      typ: 'at+jwt',
      algorithms: input.algorithms,
    });
    results.push({ header: protectedHeader, payload });
  } catch (err) {
    failed = true;
    results.push({ error: `${err.name}: ${err.code ?? ''} ${err.message}` });
  }
}
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
