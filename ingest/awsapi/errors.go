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

func errSerialization(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "SerializationException", format, args...)
}

func errInternal(format string, args ...any) *apiError {
	return newError(http.StatusInternalServerError, "InternalFailure", format, args...)
}

// validationMessage is AWS's wording for a model constraint.
func validationMessage(value any, field, constraint string) string {
	return fmt.Sprintf("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, field, constraint)
}
