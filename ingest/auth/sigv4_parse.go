package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	amzDateFmt = "20060102T150405Z"
	scopeFmt   = "20060102"

	// maxSignedHeaders bounds the work an attacker can make one request cost.
	maxSignedHeaders = 64
)

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKeyID string
	date        string // YYYYMMDD from the credential scope
	region      string
	service     string
	terminator  string
	signedRaw   string   // SignedHeaders as sent, e.g. "content-type;host;x-amz-date"
	signed      []string // signedRaw split on ';'
	signature   string   // as sent; hex
}

// scope is the credential scope as it goes into the string to sign.
func (a *authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + a.terminator
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// Components may be separated by commas, spaces or both, in any order.
// Anything malformed is an IncompleteSignatureException that says what is
// wrong; parseAuthorization never echoes the header back.
func parseAuthorization(h string) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch {
	case alg == algorithm:
	case strings.HasPrefix(alg, "AWS4-ECDSA"):
		return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
			"Unsupported AWS 'algorithm': %q. Hydrant verifies SigV4 (AWS4-HMAC-SHA256) only, not SigV4a; "+
				"configure the client for a single region so that it signs with SigV4.", truncate(alg)))
	default:
		return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
			"Authorization header must start with %q followed by Credential=, SignedHeaders= and Signature=; got scheme %q.",
			algorithm, truncate(alg)))
	}

	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for part := range strings.FieldsFuncSeq(rest, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
				"%q is not a valid key=value pair (missing equal-sign) in Authorization header.", truncate(part)))
		}
		var dst *string
		var seen *bool
		switch k {
		case "Credential":
			dst, seen = &cred, &haveCred
		case "SignedHeaders":
			dst, seen = &signed, &haveSigned
		case "Signature":
			dst, seen = &sig, &haveSig
		default:
			continue // unknown components are ignored, as AWS does
		}
		if *seen {
			return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
				"Authorization header has more than one %q component; send exactly one.", k))
		}
		*dst, *seen = v, true
	}

	var missing strings.Builder
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", cred != ""}, {"Signature", sig != ""}, {"SignedHeaders", signed != ""}} {
		if !m.ok {
			fmt.Fprintf(&missing, "Authorization header requires '%s' parameter. ", m.name)
		}
	}
	if missing.Len() > 0 {
		return a, awsError(CodeIncompleteSignature, strings.TrimSpace(missing.String()))
	}

	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got %q.",
			truncate(cred)))
	}
	a.accessKeyID, a.date, a.region, a.service, a.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	if a.accessKeyID == "" {
		return a, awsError(CodeIncompleteSignature, "Credential has an empty access key id; sign with a configured access key.")
	}

	a.signedRaw = signed
	a.signed = strings.Split(signed, ";")
	if len(a.signed) > maxSignedHeaders {
		return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
			"SignedHeaders lists %d headers; at most %d are accepted.", len(a.signed), maxSignedHeaders))
	}
	for _, name := range a.signed {
		if !validHeaderName(name) {
			return a, awsError(CodeIncompleteSignature, fmt.Sprintf(
				"SignedHeaders must be lowercase header names (or ':authority') separated by ';', got %q.", truncate(signed)))
		}
	}
	a.signature = sig
	return a, nil
}

// validHeaderName reports whether s is a non-empty lowercase HTTP token,
// or the HTTP/2 pseudo-header ':authority' (signed in place of Host by
// clients that speak HTTP/2), the only pseudo-header Hydrant can reproduce.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	if s == authority {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// requestTime returns the signing time from X-Amz-Date, or failing that
// Date, and the ISO 8601 basic form of it that goes into the string to sign.
func requestTime(amzDate, date string) (time.Time, string, *Error) {
	if amzDate != "" {
		t, err := time.Parse(amzDateFmt, amzDate)
		if err != nil || len(amzDate) != len(amzDateFmt) {
			return time.Time{}, "", awsError(CodeIncompleteSignature, fmt.Sprintf(
				"X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z', e.g. 20150830T123600Z; got %q.",
				truncate(amzDate)))
		}
		return t, amzDate, nil
	}
	if date != "" {
		t, err := http.ParseTime(date)
		if err != nil {
			return time.Time{}, "", awsError(CodeIncompleteSignature, fmt.Sprintf(
				"Date header must be an HTTP date such as \"Sun, 30 Aug 2015 12:36:00 GMT\"; got %q. "+
					"Or send X-Amz-Date in the ISO 8601 basic format.", truncate(date)))
		}
		t = t.UTC()
		return t, t.Format(amzDateFmt), nil
	}
	return time.Time{}, "", awsError(CodeIncompleteSignature,
		"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// truncate bounds client-controlled text copied into error messages.
func truncate(s string) string {
	const maxEcho = 128
	if len(s) <= maxEcho {
		return s
	}
	return s[:maxEcho] + "..."
}
