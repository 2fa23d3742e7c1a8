package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	keyPutClicks = "k-put-clicks-6f1e2d"
	keyReader    = "k-reader-0a9b8c"
	keyAdmin     = "k-admin-77aa11"
	keyNothing   = "k-nothing-123456"
	keyPutExact  = "k-put-exact-9f9f"
)

func testAPIKeys(t *testing.T) *APIKeys {
	t.Helper()
	k, err := NewAPIKeys([]APIKey{
		{Key: keyPutClicks, Streams: []string{"clicks-*"}, Actions: []Action{ActionPut}},
		{Key: keyReader, Streams: []string{"*"}, Actions: []Action{ActionRead}},
		{Key: keyAdmin, Streams: []string{"*"}, Actions: []Action{ActionAdmin}},
		{Key: keyNothing, Actions: []Action{ActionAdmin}}, // no streams: nothing
		{Key: keyPutExact, Streams: []string{"orders", "pay[0-9]"}, Actions: []Action{ActionPut, ActionRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAPIKeysCheck(t *testing.T) {
	k := testAPIKeys(t)
	bearer := func(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }
	tests := []struct {
		name       string
		header     http.Header
		stream     string
		action     Action
		wantStatus int // 0 = allowed
		wantMsg    string
	}{
		{name: "glob matches", header: bearer(keyPutClicks), stream: "clicks-web", action: ActionPut},
		{name: "glob matches empty suffix", header: bearer(keyPutClicks), stream: "clicks-", action: ActionPut},
		{name: "glob does not match", header: bearer(keyPutClicks), stream: "orders", action: ActionPut,
			wantStatus: 403, wantMsg: `does not have the "put" action on stream "orders"`},
		{name: "action not granted", header: bearer(keyPutClicks), stream: "clicks-web", action: ActionRead,
			wantStatus: 403, wantMsg: `"read" action on stream "clicks-web"`},
		{name: "put key is not admin", header: bearer(keyPutClicks), stream: "clicks-web", action: ActionAdmin, wantStatus: 403},
		{name: "reader reads anything", header: bearer(keyReader), stream: "orders", action: ActionRead},
		{name: "reader may not put", header: bearer(keyReader), stream: "orders", action: ActionPut, wantStatus: 403},
		{name: "admin implies put", header: bearer(keyAdmin), stream: "orders", action: ActionPut},
		{name: "admin implies read", header: bearer(keyAdmin), stream: "orders", action: ActionRead},
		{name: "admin", header: bearer(keyAdmin), stream: "orders", action: ActionAdmin},
		{name: "star matches the no-stream request", header: bearer(keyAdmin), stream: "", action: ActionAdmin},
		{name: "named stream glob does not match the no-stream request", header: bearer(keyPutExact), stream: "", action: ActionRead, wantStatus: 403},
		{name: "no streams means none", header: bearer(keyNothing), stream: "orders", action: ActionRead, wantStatus: 403},
		{name: "exact name", header: bearer(keyPutExact), stream: "orders", action: ActionRead},
		{name: "exact name is not a prefix", header: bearer(keyPutExact), stream: "orders2", action: ActionPut, wantStatus: 403},
		{name: "character class", header: bearer(keyPutExact), stream: "pay7", action: ActionPut},
		{name: "unknown action", header: bearer(keyAdmin), stream: "orders", action: "delete", wantStatus: 403},

		{name: "X-Api-Key", header: http.Header{"X-Api-Key": {keyReader}}, stream: "orders", action: ActionRead},
		{name: "bearer scheme is case-insensitive", header: http.Header{"Authorization": {"bearer  " + keyReader}}, stream: "orders", action: ActionRead},
		{name: "bearer wins over X-Api-Key", header: http.Header{"Authorization": {"Bearer " + keyReader}, "X-Api-Key": {keyAdmin}},
			stream: "orders", action: ActionPut, wantStatus: 403},
		{name: "other scheme falls back to X-Api-Key", header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}, "X-Api-Key": {keyReader}},
			stream: "orders", action: ActionRead},

		{name: "missing key", header: http.Header{}, stream: "orders", action: ActionRead, wantStatus: 401, wantMsg: "Missing API key"},
		{name: "empty bearer", header: http.Header{"Authorization": {"Bearer "}}, stream: "orders", action: ActionRead, wantStatus: 401, wantMsg: "Missing API key"},
		{name: "other scheme only", header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, stream: "orders", action: ActionRead,
			wantStatus: 401, wantMsg: "Bearer scheme"},
		{name: "SigV4 on the native API", header: http.Header{"Authorization": {goodAuthorization}}, stream: "orders", action: ActionRead,
			wantStatus: 401, wantMsg: "Bearer scheme"},
		{name: "wrong key", header: bearer("k-admin-77aa12"), stream: "orders", action: ActionRead, wantStatus: 401, wantMsg: "Invalid API key"},
		{name: "prefix of a key", header: bearer(keyAdmin[:len(keyAdmin)-1]), stream: "orders", action: ActionRead, wantStatus: 401},
		{name: "key with a suffix", header: bearer(keyAdmin + "x"), stream: "orders", action: ActionRead, wantStatus: 401},
		{name: "wrong X-Api-Key", header: http.Header{"X-Api-Key": {"nope"}}, stream: "orders", action: ActionRead, wantStatus: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/streams/"+tt.stream+"/records", nil)
			r.Header = tt.header
			e := k.Check(r, tt.stream, tt.action)
			if tt.wantStatus == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			wantCode := map[int]string{401: CodeUnauthorized, 403: CodeForbidden}[tt.wantStatus]
			if e == nil || e.Status != tt.wantStatus || e.Code != wantCode {
				t.Fatalf("got %v, want %d %s", e, tt.wantStatus, wantCode)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMsg)
			}
			for _, key := range []string{keyPutClicks, keyReader, keyAdmin, keyNothing, keyPutExact} {
				if strings.Contains(e.Message, key) || strings.Contains(e.Message, key[:len(key)-1]) {
					t.Errorf("message contains a key: %q", e.Message)
				}
			}
		})
	}
}

func TestNewAPIKeys(t *testing.T) {
	const secret = "s3cret-value"
	tests := []struct {
		name    string
		keys    []APIKey
		wantErr string // "" = valid
	}{
		{name: "none", keys: nil},
		{name: "valid", keys: []APIKey{{Key: secret, Streams: []string{"*", "a-[bc]?"}, Actions: []Action{ActionPut, ActionRead}}}},
		{name: "no actions or streams is allowed (it can do nothing)", keys: []APIKey{{Key: secret}}},
		{name: "empty key", keys: []APIKey{{Key: "", Actions: []Action{ActionPut}}}, wantErr: "keys[0]: key is empty"},
		{name: "whitespace in key", keys: []APIKey{{Key: "abc def"}}, wantErr: "keys[0]: key contains whitespace"},
		{name: "newline in key", keys: []APIKey{{Key: "abc\n"}}, wantErr: "keys[0]: key contains whitespace"},
		{name: "duplicate", keys: []APIKey{{Key: "other"}, {Key: secret}, {Key: secret}}, wantErr: "keys[2]: same key as keys[1]"},
		{name: "bad glob", keys: []APIKey{{Key: secret, Streams: []string{"ok", "clicks-[a"}}}, wantErr: `keys[0].streams[1]: "clicks-[a" is not a valid glob`},
		{name: "bad escape glob", keys: []APIKey{{Key: secret, Streams: []string{`x\`}}}, wantErr: "keys[0].streams[0]"},
		{name: "empty glob", keys: []APIKey{{Key: secret, Streams: []string{""}}}, wantErr: "keys[0].streams[0]: empty glob"},
		{name: "unknown action", keys: []APIKey{{Key: secret, Actions: []Action{ActionRead, "write"}}}, wantErr: `keys[0].actions[1]: unknown action "write"`},
		{name: "action case matters", keys: []APIKey{{Key: secret, Actions: []Action{"PUT"}}}, wantErr: "unknown action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewAPIKeys(tt.keys)
			if tt.wantErr == "" {
				if err != nil || k == nil {
					t.Fatalf("got %v, %v", k, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the key: %v", err)
			}
		})
	}
}

func BenchmarkAPIKeysCheck(b *testing.B) {
	keys := make([]APIKey, 100)
	for i := range keys {
		keys[i] = APIKey{Key: strings.Repeat("k", 20) + string(rune('A'+i%26)) + string(rune('a'+i/26)),
			Streams: []string{"clicks-*"}, Actions: []Action{ActionPut}}
	}
	k, err := NewAPIKeys(keys)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/streams/clicks-web/records", nil)
	r.Header.Set("Authorization", "Bearer "+keys[57].Key)
	b.ReportAllocs()
	for b.Loop() {
		if e := k.Check(r, "clicks-web", ActionPut); e != nil {
			b.Fatal(e)
		}
	}
}
