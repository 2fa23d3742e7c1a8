package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// Action is what an API key may do.
type Action string

// Actions. ActionAdmin implies ActionRead and ActionPut.
const (
	ActionPut   Action = "put"
	ActionRead  Action = "read"
	ActionAdmin Action = "admin"
)

func (a Action) bit() uint8 {
	switch a {
	case ActionPut:
		return 1
	case ActionRead:
		return 2
	case ActionAdmin:
		return 4
	}
	return 0
}

// APIKey is one bearer key for the native API.
type APIKey struct {
	Key     string   // the secret bearer token
	Streams []string // stream name globs (path.Match syntax, e.g. "clicks-*", "*"); empty = none
	Actions []Action
	// Policy, when set, allows (or denies) more: its statements apply
	// beside Streams and Actions, and its explicit denies win over both.
	Policy *Policy
}

type apiKey struct {
	hash    [sha256.Size]byte // of the key: only hashes are kept and compared
	streams []string
	actions uint8 // Action bits; admin includes the others
	policy  *Policy
}

// APIKeys checks bearer keys. Keys are compared in constant time; a key is
// never logged or put in an error message. It is safe for concurrent use.
type APIKeys struct {
	keys []apiKey
}

// NewAPIKeys returns a checker for keys. It rejects empty keys, keys with
// whitespace or control characters (headers cannot carry them intact),
// duplicates, empty or malformed globs and unknown actions. Errors name the
// entry as keys[i] and never contain a key.
func NewAPIKeys(keys []APIKey) (*APIKeys, error) {
	k := &APIKeys{keys: make([]apiKey, 0, len(keys))}
	seen := make(map[[sha256.Size]byte]int, len(keys))
	for i, key := range keys {
		if key.Key == "" {
			return nil, fmt.Errorf("auth: keys[%d]: key is empty; set a long random secret, e.g. from `openssl rand -hex 32`", i)
		}
		if strings.ContainsFunc(key.Key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("auth: keys[%d]: key contains whitespace or control characters, "+
				"which an HTTP header cannot carry intact; use letters, digits and punctuation only", i)
		}
		ak := apiKey{hash: sha256.Sum256([]byte(key.Key)), policy: key.Policy}
		if j, dup := seen[ak.hash]; dup {
			return nil, fmt.Errorf("auth: keys[%d]: same key as keys[%d]; every key must be unique", i, j)
		}
		seen[ak.hash] = i
		for j, g := range key.Streams {
			if g == "" {
				return nil, fmt.Errorf(`auth: keys[%d].streams[%d]: empty glob; use a stream name, a glob such as "clicks-*", or "*" for all`, i, j)
			}
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf(`auth: keys[%d].streams[%d]: %q is not a valid glob (path.Match syntax: *, ?, [a-z], \ escapes), e.g. "clicks-*"`, i, j, g)
			}
			ak.streams = append(ak.streams, g)
		}
		for j, a := range key.Actions {
			b := a.bit()
			if b == 0 {
				return nil, fmt.Errorf("auth: keys[%d].actions[%d]: unknown action %q; valid actions are put, read and admin", i, j, a)
			}
			ak.actions |= b
		}
		if ak.actions&ActionAdmin.bit() != 0 {
			ak.actions |= ActionPut.bit() | ActionRead.bit()
		}
		k.keys = append(k.keys, ak)
	}
	return k, nil
}

// Check authorizes r for action on stream. The key comes from
// "Authorization: Bearer <key>" or, when there is no bearer token,
// "X-Api-Key: <key>". Requests not about one stream pass stream ""; only a
// "*" glob matches it.
//
// Failures: no key, or a key not configured → 401 "Unauthorized" (send
// WWW-Authenticate: BearerChallenge with it); a known key that may not do
// action on stream → 403 "Forbidden" naming both. Admin implies read and put.
func (k *APIKeys) Check(r *http.Request, stream string, action Action) *Error {
	key, e := k.identify(r)
	if e != nil {
		return e
	}
	want := action.bit()
	if want == 0 || key.actions&want == 0 || !key.allows(stream) {
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden,
			Message: fmt.Sprintf("This API key does not have the %q action on stream %q; ask an operator for a key that has it.", action, truncate(stream))}
	}
	return nil
}

// identify returns the configured key r presents, or a 401 Error.
func (k *APIKeys) identify(r *http.Request) (*apiKey, *Error) {
	presented, e := presentedKey(r)
	if e != nil {
		return nil, e
	}
	sum := sha256.Sum256([]byte(presented))
	// Visit every key, without branching on a match, so that the time taken
	// says nothing about which key (or how much of one) matched.
	found := -1
	for i := range k.keys {
		eq := subtle.ConstantTimeCompare(sum[:], k.keys[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "Invalid API key: the key sent is not a configured key. Check it, or ask an operator for one."}
	}
	return &k.keys[found], nil
}

func (k *apiKey) allows(stream string) bool {
	for _, g := range k.streams {
		if ok, _ := path.Match(g, stream); ok {
			return true
		}
	}
	return false
}

func errNoKey() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
		Message: `Missing API key: send "Authorization: Bearer <key>" or "X-Api-Key: <key>".`}
}

// presentedKey extracts the key from a Bearer Authorization header, else
// from X-Api-Key. Another Authorization scheme with no X-Api-Key is refused
// with a message saying so.
func presentedKey(r *http.Request) (string, *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		if strings.EqualFold(scheme, "Bearer") {
			if token = strings.TrimSpace(token); token != "" {
				return token, nil
			}
			return "", errNoKey()
		}
		if x := strings.TrimSpace(r.Header.Get("X-Api-Key")); x != "" {
			return x, nil
		}
		return "", &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: `Authorization must use the Bearer scheme on this API: send "Authorization: Bearer <key>" or "X-Api-Key: <key>".`}
	}
	if x := strings.TrimSpace(r.Header.Get("X-Api-Key")); x != "" {
		return x, nil
	}
	return "", errNoKey()
}
