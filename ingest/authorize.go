package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// authorizePut authenticates a native put and asks its principal whether it
// may put to name: kinesis:PutRecords on the stream, or
// firehose:PutRecordBatch on a DirectPut delivery stream. A name that is
// no target is authorized as a stream, so that an unknown name and a
// forbidden one look alike to a caller without the right.
//
// A SigV4-signed put has its body read here, whole and as sent, since the
// signature covers it; the handler then reads it from memory.
func (s *Server) authorizePut(w http.ResponseWriter, r *http.Request, name string, directPut bool) *auth.Error {
	if !s.auth.Required() {
		return nil
	}
	if e := s.auth.Precheck(r, auth.FamilyNative); e != nil {
		return e
	}
	var raw []byte
	if auth.Signed(r) {
		if e := readSignedBody(w, r, int64(s.limits.MaxRequestSize), &raw); e != nil {
			return e
		}
	}
	p, e := s.auth.Authenticate(r, raw, auth.FamilyNative)
	if e != nil {
		return e
	}
	action, resource := "kinesis:PutRecords", fmt.Sprintf(s.arn, "kinesis", "stream/"+name)
	if directPut {
		action, resource = "firehose:PutRecordBatch", fmt.Sprintf(s.arn, "firehose", "deliverystream/"+name)
	}
	if !p.Allowed(action, resource) {
		return auth.AccessDenied(p, action, resource, auth.FamilyNative)
	}
	return nil
}

// readSignedBody reads r's body, at most limit bytes, into *raw for its
// signature, and gives r a body that reads it again.
func readSignedBody(w http.ResponseWriter, r *http.Request, limit int64, raw *[]byte) *auth.Error {
	if r.ContentLength > limit {
		return &auth.Error{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
			Message: fmt.Sprintf("the body is %d bytes; the limit is %d", r.ContentLength, limit)}
	}
	var err error
	*raw, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &auth.Error{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
				Message: fmt.Sprintf("the body is over the limit of %d bytes", limit)}
		}
		return &auth.Error{Status: http.StatusBadRequest, Code: "InvalidArgumentException", Message: "reading the body: " + err.Error()}
	}
	r.Body = io.NopCloser(bytes.NewReader(*raw))
	return nil
}

// writeAuthError answers an authentication or authorization failure in the
// native API's format, with a bearer challenge on a 401.
func writeAuthError(w http.ResponseWriter, e *auth.Error) {
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", auth.BearerChallenge)
	}
	if e.Status == http.StatusBadRequest && e.Code != "InvalidArgumentException" {
		// A SigV4 failure (AWS answers those with 400): on this API a
		// credential that does not verify is a 401.
		e = &auth.Error{Status: http.StatusUnauthorized, Code: e.Code, Message: e.Message}
	}
	writeError(w, &requestError{status: e.Status, code: e.Code, message: e.Message})
}

// RequireAction serves h only to requests whose principal may do action
// (an account-wide one, such as auth.ActionGetStatus, on resource "*"):
// with a as the one decision of every API. A nil or open a serves
// everyone. Requests through it have no body to sign but an empty one.
func RequireAction(a *auth.Authenticator, action string, h http.Handler) http.Handler {
	return RequireActionBody(a, action, 0, h)
}

// RequireActionBody is RequireAction for requests with a body of at most
// maxBody bytes: a SigV4-signed one has its body read here, whole, since
// the signature covers it (413 past maxBody), and h reads it from memory.
func RequireActionBody(a *auth.Authenticator, action string, maxBody int64, h http.Handler) http.Handler {
	return RequireActionOn(a, action, func(*http.Request) string { return "*" }, maxBody, h)
}

// RequireActionOn is RequireActionBody for an action on the resource (an
// ARN) that resource names for each request, such as the delivery stream
// its path names, so that a key or policy scoped to some delivery streams
// may do it on those only.
func RequireActionOn(a *auth.Authenticator, action string, resource func(*http.Request) string, maxBody int64, h http.Handler) http.Handler {
	if !a.Required() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := a.Precheck(r, auth.FamilyNative); e != nil {
			writeAuthError(w, e)
			return
		}
		var body []byte
		if maxBody > 0 && auth.Signed(r) {
			if e := readSignedBody(w, r, maxBody, &body); e != nil {
				writeAuthError(w, e)
				return
			}
		}
		p, e := a.Authenticate(r, body, auth.FamilyNative)
		if e != nil {
			writeAuthError(w, e)
			return
		}
		if res := resource(r); !p.Allowed(action, res) {
			writeAuthError(w, auth.AccessDenied(p, action, res, auth.FamilyNative))
			return
		}
		h.ServeHTTP(w, r)
	})
}
