package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// With only SigV4 keys configured, the native API is not open: a put
// needs a SigV4 signature (over the body as sent) by a key whose policy
// allows kinesis:PutRecords on the stream, or firehose:PutRecordBatch on a
// DirectPut delivery stream. (On the old main it was open to anyone.)
func TestNativeAuthWithSigV4(t *testing.T) {
	env := newTestEnv(t, generous)
	verifier, err := auth.NewSigV4([]auth.Credential{{AccessKeyID: "WRITER", SecretAccessKey: "w-secret"},
		{AccessKeyID: "NOPUTS", SecretAccessKey: "n-secret"}}, []string{"firehose", "kinesis"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	noPuts, err := auth.NewPolicy([]auth.Statement{{Effect: auth.Deny, Actions: []string{"kinesis:PutRecord*", "firehose:PutRecord*"}, Resources: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, map[string]Target{
		"clicks": {Stream: mustStream(t, env, "clicks")},
		"events": {Stream: mustStream(t, env, "plain"), DirectPut: true},
	}, nil, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	s.RequireAuth(auth.NewAuthenticator(verifier, nil, map[string]*auth.Policy{"NOPUTS": noPuts}))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	body := []byte(`{"user_id":"u1"}` + "\n")
	send := func(stream string, sign func(*http.Request), tamper []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/streams/"+stream+"/records", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		if sign != nil {
			sign(req)
		}
		if tamper != nil {
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(tamper)), int64(len(tamper))
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	signer := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) {
			sum := sha256.Sum256(body)
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, r,
				hex.EncodeToString(sum[:]), "kinesis", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		stream string
		sign   func(*http.Request)
		tamper []byte
		status int
	}{
		{"unsigned", "clicks", nil, nil, 401},
		{"bearer key, none configured", "clicks", func(r *http.Request) { r.Header.Set("Authorization", "Bearer abcdefghijklmnop") }, nil, 401},
		{"signed", "clicks", signer("WRITER", "w-secret"), nil, 200},
		{"signed, DirectPut delivery", "events", signer("WRITER", "w-secret"), nil, 200},
		{"wrong secret", "clicks", signer("WRITER", "nope"), nil, 401},
		{"body changed after signing", "clicks", signer("WRITER", "w-secret"), []byte(`{"user_id":"u2"}` + "\n"), 401},
		{"policy denies puts", "clicks", signer("NOPUTS", "n-secret"), nil, 403},
		{"policy denies DirectPut puts", "events", signer("NOPUTS", "n-secret"), nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, out := send(tt.stream, tt.sign, tt.tamper); status != tt.status {
				t.Fatalf("got %d %s, want %d", status, out, tt.status)
			}
		})
	}
}
