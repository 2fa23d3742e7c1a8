package httpendpoint

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzCheckResponse: any answer is either accepted — a 200 whose JSON
// names the request's id — or an error that says why; it never panics.
func FuzzCheckResponse(f *testing.F) {
	const id = "5f1c3a9e-8d4b-5c2a-9e7f-0a1b2c3d4e5f"
	f.Add(200, []byte(`{"requestId":"`+id+`","timestamp":1}`))
	f.Add(200, []byte(`{"requestId":"other","timestamp":1}`))
	f.Add(500, []byte(`{"requestId":"`+id+`","timestamp":1,"errorMessage":"x"}`))
	f.Add(429, []byte(``))
	f.Add(200, []byte(`[`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {"1"}}}
		err := checkResponse(resp, body, id)
		var answer Response
		ok := status == http.StatusOK && len(body) <= maxResponseBytes &&
			json.Unmarshal(body, &answer) == nil && answer.RequestID == id
		if (err == nil) != ok {
			t.Fatalf("status %d body %q: error %v, want accepted %v", status, body, err, ok)
		}
	})
}
