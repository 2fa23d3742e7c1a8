package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// canonicalRequest builds the SigV4 canonical request for r as the AWS SDKs
// build it for services other than S3:
//
//	METHOD \n URI \n QUERY \n name:value\n... \n signed;headers \n payloadHash
//
// A signed header absent from r is reported by name (missing != ""). With
// redact, the session token's value is replaced by "<redacted>", for showing
// the canonical request in an error message.
func canonicalRequest(r *http.Request, a *authorization, payloadHash string, redact bool) (creq, missing string) {
	var b strings.Builder
	b.Grow(256 + len(payloadHash))
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery))
	b.WriteByte('\n')
	for _, name := range a.signed {
		values, ok := headerValues(r, name)
		if !ok && missing == "" {
			missing = name
		}
		b.WriteString(name)
		b.WriteByte(':')
		if redact && name == "x-amz-security-token" {
			values = []string{"<redacted>"}
		}
		for i, v := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.TrimSpace(collapseSpaces(v)))
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(a.signedRaw)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), missing
}

// authority is the HTTP/2 pseudo-header that carries the request's host.
// The AWS SDK for JavaScript v3 signs it in place of Host whenever it
// speaks HTTP/2, which its Kinesis client does by default (a signed
// ":authority" and no "host" in SignedHeaders).
const authority = ":authority"

// checkHostSigned refuses a request whose signature does not cover its
// host: Host must be signed, or on HTTP/2 ':authority' may be instead. An
// HTTP/1.1 request has no ':authority', so signing it there covers nothing.
func checkHostSigned(r *http.Request, signed []string) *Error {
	switch {
	case slices.Contains(signed, "host"):
		return nil
	case !slices.Contains(signed, authority):
		return awsError(CodeInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	case r.ProtoMajor >= 2:
		return nil
	}
	return awsError(CodeInvalidSignature, fmt.Sprintf(
		"':authority' is signed but the request arrived over %s, which has no ':authority'; 'Host' must be a 'SignedHeader'. "+
			"A proxy that forwards an HTTP/2 client's requests to Hydrant over HTTP/1.1 breaks such signatures: forward HTTP/2 (h2c or h2), "+
			"or have the client speak HTTP/1.1.", truncate(r.Proto)))
}

// headerValues returns the values of the lowercase header name. Go's server
// moves some headers out of r.Header; they are put back here as the client
// sent them. ':authority' is r.Host on HTTP/2 (Go's server sets r.Host from
// it) and absent on HTTP/1.x.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}, true
		}
		return []string{r.URL.Host}, r.URL.Host != ""
	case authority:
		if r.ProtoMajor < 2 {
			return nil, false
		}
		return []string{r.Host}, r.Host != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return v, true
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}, true
		}
	case "transfer-encoding":
		if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
			return v, true
		}
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	v := r.Header.Values(name)
	return v, len(v) > 0
}

// canonicalURI is the path as sent, URI-encoded once more: the SDKs encode
// the (already encoded) path again for every service but S3. An empty path
// is "/".
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query parameters by encoded name, then encoded
// value, each encoded with uriEncode. A space is %20, never '+'.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, _ := url.ParseQuery(raw) // what parses is what the client most likely signed
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	for k, vs := range q {
		ek := uriEncode(k, true)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, uriEncode(v, true)})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	params := make([]string, len(pairs))
	for i, p := range pairs {
		params[i] = p.k + "=" + p.v
	}
	return strings.Join(params, "&")
}

// uriEncode percent-encodes every byte outside A-Z a-z 0-9 - . _ ~ with
// uppercase hex; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// collapseSpaces replaces each run of spaces with one space.
func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}

// stringToSign is the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope, creq string) string {
	sum := sha256.Sum256([]byte(creq))
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signature is HMAC-SHA256 of sts under the key derived from secret and the
// credential scope of a.
func signature(secret string, a *authorization, sts string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), a.date)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, a.terminator)
	return hmacSHA256(k, sts)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
