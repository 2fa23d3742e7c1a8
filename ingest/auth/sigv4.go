package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// MaxClockSkew is how far a request's signing time may be from the server
// clock, either way.
const MaxClockSkew = 15 * time.Minute

// maxDetail bounds the canonical request shown in a signature-mismatch
// message.
const maxDetail = 8 << 10

// Credential is one AWS access key pair that may sign requests.
type Credential struct{ AccessKeyID, SecretAccessKey string }

// SigV4 verifies AWS Signature Version 4 on requests to the AWS APIs.
// It is safe for concurrent use.
type SigV4 struct {
	secrets  map[string]string // access key id → secret access key
	services map[string]struct{}
	wanted   string // the accepted services for messages: "'firehose' or 'kinesis'"
	now      func() time.Time
}

// NewSigV4 returns a verifier for creds. services are the signing names
// accepted (Hydrant passes "firehose", "kinesis"); any region is accepted.
// now is the clock (time.Now in production). Duplicate access key ids are an
// error, as are empty ids, secrets or service names, and an empty creds or
// services list. Errors name the offending entry as creds[i] or services[i]
// and never contain a secret.
func NewSigV4(creds []Credential, services []string, now func() time.Time) (*SigV4, error) {
	if now == nil {
		return nil, errors.New("auth: NewSigV4: now is nil; pass time.Now")
	}
	if len(creds) == 0 {
		return nil, errors.New("auth: no SigV4 credentials: configure at least one access key pair, or turn SigV4 auth off")
	}
	if len(services) == 0 {
		return nil, errors.New(`auth: no SigV4 services: pass the signing names to accept, e.g. "firehose" and "kinesis"`)
	}
	v := &SigV4{
		secrets:  make(map[string]string, len(creds)),
		services: make(map[string]struct{}, len(services)),
		now:      now,
	}
	index := make(map[string]int, len(creds))
	for i, c := range creds {
		if err := validAccessKeyID(c.AccessKeyID); err != nil {
			return nil, fmt.Errorf("auth: creds[%d]: %w", i, err)
		}
		if c.SecretAccessKey == "" {
			return nil, fmt.Errorf("auth: creds[%d] (%s): secret access key is empty; set the secret that clients sign with",
				i, c.AccessKeyID)
		}
		if j, dup := index[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("auth: creds[%d]: access key id %q is already used by creds[%d]; access key ids must be unique",
				i, c.AccessKeyID, j)
		}
		index[c.AccessKeyID] = i
		v.secrets[c.AccessKeyID] = c.SecretAccessKey
	}
	var names []string
	for i, s := range services {
		if s == "" || strings.ContainsAny(s, "/ \t") || strings.ToLower(s) != s {
			return nil, fmt.Errorf(`auth: services[%d]: %q is not a SigV4 signing name; use lowercase names such as "kinesis"`, i, s)
		}
		if _, dup := v.services[s]; !dup {
			v.services[s] = struct{}{}
			names = append(names, "'"+s+"'")
		}
	}
	slices.Sort(names)
	v.wanted = strings.Join(names, " or ")
	return v, nil
}

func validAccessKeyID(id string) error {
	if id == "" {
		return errors.New("access key id is empty; set one, e.g. AKIAIOSFODNN7EXAMPLE")
	}
	for _, c := range id {
		if c <= ' ' || c == 0x7f || strings.ContainsRune("/,=;", c) {
			return fmt.Errorf("access key id %q contains %q, which cannot appear in a SigV4 credential; use letters and digits", id, c)
		}
	}
	return nil
}

// Verify checks r's Authorization header against body, which the caller has
// already read in full; Verify does not read r.Body. It returns the access
// key id on success.
//
// The body is hashed here: a client-sent X-Amz-Content-Sha256 must match it
// (UNSIGNED-PAYLOAD is refused). X-Amz-Target, when sent, must be signed.
// Presigned (query-string) requests are refused. Failures, all with
// HTTP status 400 as Kinesis and Firehose send them:
//
//   - MissingAuthenticationTokenException: no Authorization header;
//   - IncompleteSignatureException: a garbled Authorization header, or no
//     usable X-Amz-Date or Date;
//   - UnrecognizedClientException: an access key id not configured;
//   - InvalidSignatureException: a wrong signature, a time more than
//     MaxClockSkew from now, a credential scope for another service or with a
//     date other than the request's, an unsigned Host (on HTTP/2, Host or
//     ':authority') or X-Amz-Target, or a body that does not match
//     X-Amz-Content-Sha256 (or UNSIGNED-PAYLOAD).
func (v *SigV4) Verify(r *http.Request, body []byte) (accessKeyID string, err *Error) {
	a, amzDate, secret, e := v.checkHeaders(r)
	if e != nil {
		return "", e
	}
	hash, e := payloadHash(r, body)
	if e != nil {
		return "", e
	}

	creq, missing := canonicalRequest(r, &a, hash, false)
	if missing != "" {
		return "", awsError(CodeInvalidSignature, fmt.Sprintf(
			"%s Header %q is in SignedHeaders but not in the request; a proxy between the client and Hydrant may have removed it.",
			msgSignatureInvalid, missing))
	}
	sts := stringToSign(amzDate, a.scope(), creq)
	want := signature(secret, &a, sts)
	got, hexErr := hex.DecodeString(a.signature)
	if hexErr != nil || !hmac.Equal(got, want) {
		return "", awsError(CodeInvalidSignature, mismatchMessage(r, &a, hash, sts))
	}
	return a.accessKeyID, nil
}

// VerifyHeaders runs every check of Verify that needs no body: one
// well-formed Authorization header by a configured access key, a signing
// time within MaxClockSkew, a credential scope for one of v's services, and
// the headers that must be signed. The AWS APIs call it before reading a
// body, so that a request without a usable credential costs no body.
func (v *SigV4) VerifyHeaders(r *http.Request) *Error {
	_, _, _, e := v.checkHeaders(r)
	return e
}

// checkHeaders is VerifyHeaders, returning what Verify needs next.
func (v *SigV4) checkHeaders(r *http.Request) (a authorization, amzDate, secret string, err *Error) {
	authz := r.Header.Values("Authorization")
	presigned := strings.Contains(r.URL.RawQuery, "X-Amz-Algorithm=") && r.URL.Query().Has("X-Amz-Algorithm")
	switch {
	case len(authz) > 0 && presigned:
		return a, "", "", awsError(CodeInvalidSignature,
			"Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case presigned:
		return a, "", "", awsError(CodeMissingAuthenticationToken,
			"Presigned (query-string) SigV4 is not supported; sign the request's Authorization header instead.")
	case len(authz) == 0:
		return a, "", "", awsError(CodeMissingAuthenticationToken, msgMissingToken)
	case len(authz) > 1:
		return a, "", "", awsError(CodeIncompleteSignature, "The request has more than one Authorization header; send exactly one.")
	}

	a, e := parseAuthorization(authz[0])
	if e != nil {
		return a, "", "", e
	}
	t, amzDate, e := requestTime(r.Header.Get("X-Amz-Date"), r.Header.Get("Date"))
	if e != nil {
		return a, "", "", e
	}
	secret, ok := v.secrets[a.accessKeyID]
	if !ok {
		return a, "", "", awsError(CodeUnrecognizedClient, msgUnrecognized)
	}
	if e := v.checkScope(&a, amzDate); e != nil {
		return a, "", "", e
	}
	if e := v.checkTime(t); e != nil {
		return a, "", "", e
	}
	if e := checkHostSigned(r, a.signed); e != nil {
		return a, "", "", e
	}
	// X-Amz-Target names the operation: unsigned, a captured PutRecord
	// could be replayed as DeleteStream. Every AWS SDK signs it.
	if len(r.Header.Values("X-Amz-Target")) > 0 && !slices.Contains(a.signed, "x-amz-target") {
		return a, "", "", awsError(CodeInvalidSignature,
			"'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization: it names the operation, and an unsigned one could be changed in transit.")
	}
	return a, amzDate, secret, nil
}

// checkScope checks the credential scope: its date is the request's, its
// service one of v's, and it ends in aws4_request. Any region is accepted.
func (v *SigV4) checkScope(a *authorization, amzDate string) *Error {
	if a.date != amzDate[:8] {
		return awsError(CodeInvalidSignature, fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: %q != %q, from %q.",
			truncate(a.date), amzDate[:8], amzDate))
	}
	if a.region == "" {
		return awsError(CodeInvalidSignature, "Credential should be scoped to a valid region, not ''. Sign with a region such as us-east-1.")
	}
	if _, ok := v.services[a.service]; !ok {
		return awsError(CodeInvalidSignature, fmt.Sprintf(
			"Credential should be scoped to correct service: %s, not %q. Use a Kinesis or Firehose client for this endpoint.",
			v.wanted, truncate(a.service)))
	}
	if a.terminator != terminator {
		return awsError(CodeInvalidSignature, fmt.Sprintf(
			"Credential should be scoped with a valid terminator: 'aws4_request', not %q.", truncate(a.terminator)))
	}
	return nil
}

// checkTime rejects signing times more than MaxClockSkew from now, in the
// words AWS uses.
func (v *SigV4) checkTime(t time.Time) *Error {
	now := v.now().UTC()
	const hint = " Synchronise the client's clock with NTP."
	switch {
	case t.Before(now.Add(-MaxClockSkew)):
		return awsError(CodeInvalidSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.).%s",
			t.Format(amzDateFmt), now.Add(-MaxClockSkew).Format(amzDateFmt), now.Format(amzDateFmt),
			int(MaxClockSkew/time.Minute), hint))
	case t.After(now.Add(MaxClockSkew)):
		return awsError(CodeInvalidSignature, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.).%s",
			t.Format(amzDateFmt), now.Add(MaxClockSkew).Format(amzDateFmt), now.Format(amzDateFmt),
			int(MaxClockSkew/time.Minute), hint))
	}
	return nil
}

// payloadHash is the hex SHA-256 of body, as the client must have signed it.
// A client-sent X-Amz-Content-Sha256 must agree with the body. The literal
// UNSIGNED-PAYLOAD is refused: the signature would not cover the body, so a
// captured request could carry other records.
func payloadHash(r *http.Request, body []byte) (string, *Error) {
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	sent := r.Header.Values("X-Amz-Content-Sha256")
	switch {
	case len(sent) == 0:
		return computed, nil
	case len(sent) > 1:
		return "", awsError(CodeInvalidSignature, "The request has more than one X-Amz-Content-Sha256 header; send it at most once.")
	case sent[0] == "UNSIGNED-PAYLOAD" || strings.HasPrefix(sent[0], "STREAMING-"):
		return "", awsError(CodeInvalidSignature, fmt.Sprintf(
			"X-Amz-Content-Sha256: %s is not accepted: the signature must cover the body. Let the client hash the body (the default of every Kinesis and Firehose client).",
			truncate(sent[0])))
	case strings.EqualFold(sent[0], computed):
		return sent[0], nil // as sent: the client signed its own spelling
	}
	return "", awsError(CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
}

// mismatchMessage is AWS's signature-mismatch message followed, as AWS does,
// by the canonical request and string to sign the server computed, so that a
// client author (or someone debugging a proxy that rewrote Host or the path)
// can see the difference. The session token is redacted; no secret appears.
func mismatchMessage(r *http.Request, a *authorization, hash, sts string) string {
	shown, _ := canonicalRequest(r, a, hash, true)
	if len(shown) > maxDetail {
		return msgSignatureInvalid
	}
	return msgSignatureInvalid + "\n\nThe Canonical String for this request should have been\n'" + shown +
		"'\n\nThe String-to-Sign should have been\n'" + sts + "'\n"
}
