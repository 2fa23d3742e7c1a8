package auth

import "net/http"

// Error is an authentication/authorization failure, ready to be written in
// the API's own error format by the caller.
//
// Functions in this package return a nil *Error on success. Compare the
// result with nil before converting it to the error interface: a nil *Error
// stored in an error is not a nil error.
type Error struct {
	Status  int    // HTTP status
	Code    string // AWS __type for the AWS APIs (e.g. "UnrecognizedClientException"), or a native code
	Message string
}

// Error returns "Code: Message".
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Codes sent to AWS clients as __type. Kinesis and Firehose answer all of
// them with HTTP 400 for JSON 1.1 requests.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	CodeIncompleteSignature        = "IncompleteSignatureException"
	CodeUnrecognizedClient         = "UnrecognizedClientException"
	CodeInvalidSignature           = "InvalidSignatureException"
	CodeAccessDenied               = "AccessDeniedException" // a principal whose policy does not allow the action
)

// Codes of the native API.
const (
	CodeUnauthorized = "Unauthorized" // HTTP 401: no key, or a key Hydrant does not know
	CodeForbidden    = "Forbidden"    // HTTP 403: a known key without the stream or action
)

// BearerChallenge is the WWW-Authenticate header value to send with a 401
// from APIKeys.Check.
const BearerChallenge = `Bearer realm="hydrant"`

// Messages AWS sends, verbatim: clients and people search for these.
const (
	msgMissingToken     = "Missing Authentication Token"
	msgUnrecognized     = "The security token included in the request is invalid."
	msgSignatureInvalid = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

func awsError(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}
