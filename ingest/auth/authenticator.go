package auth

import (
	"net/http"
	"strings"
)

// Principal is who sent a request: an AWS access key or an API key, with
// what it may do. A nil *Principal is the anonymous caller of a server with
// no credentials configured, and may do everything.
type Principal struct {
	// ID names the principal in messages: the access key id, or "API key"
	// (an API key itself is never shown).
	ID string
	// policy is the principal's own policy; legacy, for API keys, is the
	// streams/actions scope of their configuration.
	policy *Policy
	legacy *apiKey
}

// Allowed reports whether p may do action ("kinesis:PutRecords") on
// resource (an ARN, or "*" for account-wide actions such as ListStreams).
// An explicit deny in p's policy always wins.
func (p *Principal) Allowed(action, resource string) bool {
	if p == nil {
		return true
	}
	if p.policy.denies(action, resource) {
		return false
	}
	return p.policy.Allowed(action, resource) || (p.legacy != nil && p.legacy.allowsARN(action, resource))
}

// denies reports whether a deny statement matches.
func (p *Policy) denies(action, resource string) bool {
	if p == nil {
		return false
	}
	action = strings.ToLower(action)
	for i := range p.statements {
		if s := &p.statements[i]; s.Effect == Deny && s.matches(action, resource) {
			return true
		}
	}
	return false
}

// allowsARN applies an API key's streams/actions scope to an action on an
// ARN: puts need put, reads (Get*, List*, Describe*, SubscribeToShard, and
// Hydrant's status, metrics and SQL queries) need read, anything else
// admin. Account-wide resources ("*") are matched as the stream name "",
// which only the glob "*" matches.
func (k *apiKey) allowsARN(action, resource string) bool {
	_, name, _ := strings.Cut(action, ":")
	var want Action
	switch {
	case name == "PutRecord" || name == "PutRecords" || name == "PutRecordBatch":
		want = ActionPut
	case strings.HasPrefix(name, "Get") || strings.HasPrefix(name, "List") ||
		strings.HasPrefix(name, "Describe") || name == "SubscribeToShard" || strings.EqualFold(action, ActionQuery):
		want = ActionRead
	default:
		want = ActionAdmin
	}
	if k.actions&want.bit() == 0 {
		return false
	}
	return k.allows(resourceName(resource))
}

// resourceName is the stream or delivery stream name an ARN ends in, or ""
// for "*" and ARNs of other kinds.
func resourceName(arn string) string {
	for _, kind := range []string{":stream/", ":deliverystream/"} {
		if i := strings.LastIndex(arn, kind); i >= 0 {
			name := arn[i+len(kind):]
			if j := strings.IndexByte(name, '/'); j >= 0 { // a consumer's ARN: stream/x/consumer/...
				name = name[:j]
			}
			return name
		}
	}
	return ""
}

// Authenticator is the one decision on who may call any of Hydrant's APIs.
// When no credential kind is configured it lets everyone in (as the
// anonymous nil *Principal); when any kind is, every request must carry a
// valid credential of some configured kind: a SigV4 signature by a
// configured access key, or an API key. It is safe for concurrent use.
type Authenticator struct {
	sigv4    *SigV4
	keys     *APIKeys
	policies map[string]*Policy // access key id → its policy
}

// NewAuthenticator combines the checkers; either may be nil. policies maps
// an access key id to its policy; a key without one gets DataPlanePolicy.
func NewAuthenticator(sigv4 *SigV4, keys *APIKeys, policies map[string]*Policy) *Authenticator {
	return &Authenticator{sigv4: sigv4, keys: keys, policies: policies}
}

// Required reports whether requests need credentials.
func (a *Authenticator) Required() bool { return a != nil && (a.sigv4 != nil || a.keys != nil) }

// SigV4 reports whether AWS access keys are configured.
func (a *Authenticator) SigV4() bool { return a != nil && a.sigv4 != nil }

// APIKeys reports whether API keys are configured.
func (a *Authenticator) APIKeys() bool { return a != nil && a.keys != nil }

// Family is the API a request is for; it picks the error codes.
type Family int

// API families.
const (
	FamilyAWS    Family = iota // Kinesis and Firehose: AWS's __type codes, 400
	FamilyNative               // native, status, metrics: 401 Unauthorized / 403 Forbidden
)

// Signed reports whether r carries a SigV4 Authorization header.
func Signed(r *http.Request) bool {
	return strings.HasPrefix(strings.TrimSpace(r.Header.Get("Authorization")), algorithm)
}

// Precheck checks what can be checked before the body is read: that a
// credential of a configured kind is present and, for SigV4, that its
// header is well formed, its access key configured, its scope and time
// right, and its signed headers sufficient. An API key is checked in full.
// A request that fails here is answered without reading its body.
func (a *Authenticator) Precheck(r *http.Request, f Family) *Error {
	if !a.Required() {
		return nil
	}
	switch {
	case Signed(r) && a.sigv4 != nil:
		return a.sigv4.VerifyHeaders(r)
	case hasAPIKey(r) && a.keys != nil:
		_, e := a.keys.identify(r)
		return e
	}
	return a.missing(r, f)
}

// Authenticate returns the request's principal. body is the request body
// as received (for SigV4's payload hash); it is not needed for API keys.
// Call Precheck first: Authenticate repeats none of its work for API keys,
// and all of it for SigV4 (which is cheap next to the body's hash).
func (a *Authenticator) Authenticate(r *http.Request, body []byte, f Family) (*Principal, *Error) {
	if !a.Required() {
		return nil, nil
	}
	switch {
	case Signed(r) && a.sigv4 != nil:
		id, e := a.sigv4.Verify(r, body)
		if e != nil {
			return nil, e
		}
		p := a.policies[id]
		if p == nil {
			p = DataPlanePolicy()
		}
		return &Principal{ID: id, policy: p}, nil
	case hasAPIKey(r) && a.keys != nil:
		k, e := a.keys.identify(r)
		if e != nil {
			return nil, e
		}
		return &Principal{ID: "API key", policy: k.policy, legacy: k}, nil
	}
	return nil, a.missing(r, f)
}

// missing is the error for a request with no usable credential, in the
// words of the API and naming the kinds that would do.
func (a *Authenticator) missing(r *http.Request, f Family) *Error {
	var kinds []string
	if a.sigv4 != nil {
		kinds = append(kinds, "an AWS SigV4 signature by a configured access key")
	}
	if a.keys != nil {
		kinds = append(kinds, `an API key ("Authorization: Bearer <key>" or "X-Api-Key: <key>")`)
	}
	hint := "This server requires " + strings.Join(kinds, " or ") + "."
	if Signed(r) {
		hint = "SigV4 is not configured on this server. " + hint
	} else if hasAPIKey(r) {
		hint = "API keys are not configured on this server. " + hint
	}
	if f == FamilyAWS {
		return awsError(CodeMissingAuthenticationToken, msgMissingToken+". "+hint)
	}
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "Missing credentials. " + hint}
}

// hasAPIKey reports whether r presents an API key (or tries to: a Bearer
// Authorization header, empty or not).
func hasAPIKey(r *http.Request) bool {
	if r.Header.Get("X-Api-Key") != "" {
		return true
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	return strings.EqualFold(scheme, "Bearer")
}

// AccessDenied is the error for a principal that may not do action on
// resource, in AWS's words for the AWS APIs (AccessDeniedException, 400)
// and as 403 Forbidden on the others.
func AccessDenied(p *Principal, action, resource string, f Family) *Error {
	id := "anonymous"
	if p != nil {
		id = p.ID
	}
	msg := "User: " + id + " is not authorized to perform: " + action + " on resource: " + resource +
		" because no policy allows the " + action + " action (or one denies it)"
	if f == FamilyAWS {
		return &Error{Status: http.StatusBadRequest, Code: CodeAccessDenied, Message: msg}
	}
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: msg}
}
