// Package auth decides who may talk to Hydrant's ingest front door.
//
// Authenticator is the one decision for every endpoint: when any credential
// kind is configured, every request (native, Kinesis, Firehose, status,
// metrics) must carry a valid credential of some configured kind, and the
// Principal it yields is asked, per operation and resource ARN, whether its
// policy allows it (IAM-style: explicit deny wins, what nothing allows is
// denied; a SigV4 key without a policy gets the data plane and no
// control-plane action). It uses two checkers:
//
//   - SigV4 verifies AWS Signature Version 4 on the AWS JSON 1.1 APIs
//     (Kinesis Data Streams and Firehose, POST / with X-Amz-Target) against
//     configured access key pairs, so stock AWS SDKs, the AWS CLI and log
//     shippers work unchanged. The verifier hashes the body itself: clients
//     other than S3 ones do not send X-Amz-Content-Sha256, and when they do,
//     it must match the body (or be a signed UNSIGNED-PAYLOAD).
//   - APIKeys checks bearer API keys, each key scoped to stream-name globs
//     and to actions (put, read, admin), and optionally given a Policy.
//
// Both return an *Error carrying the HTTP status and the error code of the
// API it belongs to; the caller writes it in that API's error format. Neither
// reads the request body, logs, or keeps state beyond its configuration, so
// both are safe for concurrent use. SigV4's header checks run before the
// body is read (VerifyHeaders); X-Amz-Target must be signed and
// UNSIGNED-PAYLOAD is refused, so a captured request cannot be replayed as
// another operation or with another body.
//
// Things deployments must know:
//
//   - The signature covers the Host header. A reverse proxy in front of
//     Hydrant must pass Host through unchanged (and must not rewrite the path
//     or signed headers), or every signed request fails with
//     InvalidSignatureException; the error message shows the canonical request
//     Hydrant computed, as AWS does, to make such mismatches visible.
//   - Over HTTP/2 a client may sign the ':authority' pseudo-header instead of
//     Host (the AWS SDK for JavaScript v3 does whenever it speaks HTTP/2, as
//     its Kinesis client does by default); its value is r.Host, as for Host.
//     On HTTP/1.1 Host must be signed: a proxy that forwards such a client's
//     HTTP/2 requests over HTTP/1.1 breaks their signatures.
//   - X-Amz-Security-Token is accepted as an ordinary (signed) header: Hydrant
//     has no STS and cannot validate session tokens, so a request signed with a
//     configured secret is accepted whatever token it carries.
//   - Presigned (query-string) SigV4 is not supported; Kinesis and Firehose
//     clients sign the Authorization header.
//   - Request times may be up to 15 minutes from the server clock either way.
package auth
