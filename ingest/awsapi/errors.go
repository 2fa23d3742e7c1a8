package awsapi

import (
	"fmt"
	"net/http"
)

// apiError is an error as AWS sends it: an HTTP status and a body
// {"__type": Type, "message": Message}.
type apiError struct {
	status  int
	typ     string
	message string
}

func (e *apiError) Error() string { return e.typ + ": " + e.message }

func newError(status int, typ, format string, args ...any) *apiError {
	return &apiError{status: status, typ: typ, message: fmt.Sprintf(format, args...)}
}

// The error types clients see; all but the service faults are 400.
func errValidation(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "ValidationException", format, args...)
}

func errInvalidArgument(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "InvalidArgumentException", format, args...)
}

func errNotFound(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "ResourceNotFoundException", format, args...)
}

func errTooLarge(limit int) *apiError {
	return newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "request body is over the %d-byte limit", limit)
}

func errSerialization(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "SerializationException", format, args...)
}

// internal logs err and answers with a server fault that tells the client
// to retry but nothing about the server's insides.
func (s *Server) internal(what string, err error) *apiError {
	s.logger.Error("AWS API: "+what, "error", err)
	return newError(http.StatusInternalServerError, "InternalFailureException", "Internal service failure.")
}

// unavailableMessage says why a put was not stored while the shard log
// cannot store records.
const unavailableMessage = "The service cannot store records now (its disk is full): retry later."

// errUnavailable is the error of a put the shard log cannot store now
// (shards.ErrUnavailable): 503, which the SDKs retry.
func errUnavailable() *apiError {
	return newError(http.StatusServiceUnavailable, "ServiceUnavailableException", unavailableMessage)
}

// validationMessage is AWS's wording for a model constraint; a nil value
// (a member that is missing) is written null, unquoted, as AWS does.
func validationMessage(value any, field, constraint string) string {
	v := fmt.Sprintf("'%v'", value)
	if value == nil {
		v = "null"
	}
	return fmt.Sprintf("1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", v, field, constraint)
}

// recordsCountMessage is AWS's wording for a batch of n records, outside
// 1..max. A list is too long to repeat in the message, so the value is left
// out, as AWS's emulators do.
func recordsCountMessage(n, max int) string {
	if n < 1 {
		return validationMessage("[]", "records", "Member must have length greater than or equal to 1")
	}
	return fmt.Sprintf("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d", max)
}
