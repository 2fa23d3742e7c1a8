package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signTime is when the test requests are signed; the verifier's clock is
// signTime plus the case's skew.
var signTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

var testCreds = []Credential{
	{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
	{AccessKeyID: "AKIDFIREHOSE", SecretAccessKey: "firehose-secret"},
}

var (
	kinesisKey  = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	firehoseKey = aws.Credentials{AccessKeyID: "AKIDFIREHOSE", SecretAccessKey: "firehose-secret"}
)

const (
	kinesisBody  = `{"StreamName":"clicks","Records":[{"Data":"aGVsbG8=","PartitionKey":"k1"}]}`
	firehoseBody = `{"DeliveryStreamName":"logs","Records":[{"Data":"aGVsbG8K"}]}`
	sessionToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN//////////wEaDNotARealToken="
)

// verifyServer answers 200 "ok <access key id>" when v accepts a request, or
// the error's status with "Code\nMessage" — the handler reads the body first,
// as Hydrant's AWS API handler does.
func verifyServer(t *testing.T, v *SigV4) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		akid, e := v.Verify(r, body)
		if e != nil {
			w.WriteHeader(e.Status)
			io.WriteString(w, e.Code+"\n"+e.Message)
			return
		}
		io.WriteString(w, "ok "+akid)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// sdkRequest is a request as the Kinesis and Firehose SDK clients send it.
type sdkRequest struct {
	service, region string
	creds           aws.Credentials
	path            string // default "/"
	body            string
	header          http.Header // extra headers set before signing
	payloadHash     string      // default: hex sha256 of body
	unsignedTarget  bool        // set X-Amz-Target after signing, as a replayed request would
}

func (s sdkRequest) sign(t *testing.T, base string) *http.Request {
	t.Helper()
	p := s.path
	if p == "" {
		p = "/"
	}
	req, err := http.NewRequest(http.MethodPost, base+p, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	target := "Kinesis_20131202.PutRecords"
	if s.service == "firehose" {
		target = "Firehose_20150804.PutRecordBatch"
	}
	if !s.unsignedTarget {
		req.Header.Set("X-Amz-Target", target)
	}
	req.Header.Set("Amz-Sdk-Invocation-Id", "0b6c4b3e-3f0a-4d8b-9a34-6c2a0e2f1d11")
	req.Header.Set("Amz-Sdk-Request", "attempt=1;  max=3") // two spaces: canonicalised to one
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26")
	for k, vs := range s.header {
		req.Header[k] = vs
	}
	hash := s.payloadHash
	if hash == "" {
		sum := sha256.Sum256([]byte(s.body))
		hash = hex.EncodeToString(sum[:])
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), s.creds, req, hash, s.service, s.region, signTime); err != nil {
		t.Fatal(err)
	}
	if s.unsignedTarget {
		req.Header.Set("X-Amz-Target", target)
	}
	return req
}

func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
}

func TestSigV4WithAWSSigner(t *testing.T) {
	kinesis := sdkRequest{service: "kinesis", region: "us-east-1", creds: kinesisKey, body: kinesisBody}
	firehose := sdkRequest{service: "firehose", region: "eu-west-1", creds: firehoseKey, body: firehoseBody}
	with := func(s sdkRequest, f func(*sdkRequest)) sdkRequest { f(&s); return s }

	tests := []struct {
		name     string
		req      sdkRequest
		tamper   func(*http.Request) // after signing, before sending
		skew     time.Duration       // server clock minus signing time
		wantCode string              // "" = accepted
		wantKey  string
		wantMsg  string // substring of the message
	}{
		{name: "kinesis us-east-1", req: kinesis, wantKey: "AKIDEXAMPLE"},
		{name: "firehose eu-west-1", req: firehose, wantKey: "AKIDFIREHOSE"},
		{name: "firehose us-east-1 with the other key", req: with(firehose, func(s *sdkRequest) { s.region, s.creds = "us-east-1", kinesisKey }), wantKey: "AKIDEXAMPLE"},
		{name: "session token", req: with(kinesis, func(s *sdkRequest) { s.creds.SessionToken = sessionToken }), wantKey: "AKIDEXAMPLE"},
		{name: "empty body", req: with(kinesis, func(s *sdkRequest) { s.body = "" }), wantKey: "AKIDEXAMPLE"},
		{name: "path and query are double-encoded like the SDK", req: with(kinesis, func(s *sdkRequest) { s.path = "/a%20b/c~d/%C3%A9?b=2&a=x%2Fy&a=x-y&e=sp%20ace" }), wantKey: "AKIDEXAMPLE"},
		{name: "unsigned header changed", req: kinesis, tamper: func(r *http.Request) { r.Header.Set("User-Agent", "curl/8") }, wantKey: "AKIDEXAMPLE"},
		{name: "X-Amz-Content-Sha256 matching the body", req: with(kinesis, func(s *sdkRequest) {
			sum := sha256.Sum256([]byte(s.body))
			s.header = http.Header{"X-Amz-Content-Sha256": {hex.EncodeToString(sum[:])}}
		}), wantKey: "AKIDEXAMPLE"},
		{name: "14 minutes slow", req: kinesis, skew: 14 * time.Minute, wantKey: "AKIDEXAMPLE"},
		{name: "14 minutes fast", req: kinesis, skew: -14 * time.Minute, wantKey: "AKIDEXAMPLE"},

		{name: "wrong secret", req: with(kinesis, func(s *sdkRequest) { s.creds.SecretAccessKey = "not-the-secret" }),
			wantCode: CodeInvalidSignature, wantMsg: msgSignatureInvalid},
		{name: "unknown access key id", req: with(kinesis, func(s *sdkRequest) { s.creds.AccessKeyID = "AKIDUNKNOWN" }),
			wantCode: CodeUnrecognizedClient, wantMsg: msgUnrecognized},
		{name: "body changed, same length", req: kinesis, tamper: func(r *http.Request) { setBody(r, strings.Replace(kinesisBody, "k1", "k2", 1)) },
			wantCode: CodeInvalidSignature, wantMsg: msgSignatureInvalid},
		{name: "body changed, longer", req: kinesis, tamper: func(r *http.Request) { setBody(r, kinesisBody+" ") },
			wantCode: CodeInvalidSignature, wantMsg: msgSignatureInvalid},
		{name: "signed X-Amz-Target changed", req: kinesis, tamper: func(r *http.Request) { r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream") },
			wantCode: CodeInvalidSignature, wantMsg: "x-amz-target:Kinesis_20131202.DeleteStream"},
		{name: "signed Content-Type changed", req: kinesis, tamper: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") },
			wantCode: CodeInvalidSignature, wantMsg: msgSignatureInvalid},
		{name: "Host rewritten by a proxy", req: kinesis, tamper: func(r *http.Request) { r.Host = "hydrant.internal:4567" },
			wantCode: CodeInvalidSignature, wantMsg: "host:hydrant.internal:4567\n"},
		{name: "signed header removed", req: kinesis, tamper: func(r *http.Request) { r.Header.Del("Amz-Sdk-Invocation-Id") },
			wantCode: CodeInvalidSignature, wantMsg: `"amz-sdk-invocation-id" is in SignedHeaders but not in the request`},
		{name: "16 minutes slow: expired", req: kinesis, skew: 16 * time.Minute,
			wantCode: CodeInvalidSignature, wantMsg: "Signature expired: 20260314T150926Z is now earlier than 20260314T151026Z (20260314T152526Z - 15 min.)"},
		{name: "16 minutes fast: not yet current", req: kinesis, skew: -16 * time.Minute,
			wantCode: CodeInvalidSignature, wantMsg: "Signature not yet current: 20260314T150926Z is still later than 20260314T150826Z (20260314T145326Z + 15 min.)"},
		{name: "service s3", req: with(kinesis, func(s *sdkRequest) { s.service = "s3" }),
			wantCode: CodeInvalidSignature, wantMsg: "Credential should be scoped to correct service: 'firehose' or 'kinesis', not \"s3\""},
		{name: "missing Authorization", req: kinesis, tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			wantCode: CodeMissingAuthenticationToken, wantMsg: msgMissingToken},
		{name: "garbled Authorization", req: kinesis, tamper: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") },
			wantCode: CodeIncompleteSignature, wantMsg: "missing equal-sign"},
		{name: "bearer token on the AWS API", req: kinesis, tamper: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") },
			wantCode: CodeIncompleteSignature, wantMsg: `got scheme "Bearer"`},
		{name: "X-Amz-Date removed", req: kinesis, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			wantCode: CodeIncompleteSignature, wantMsg: "'X-Amz-Date' or a 'Date' header"},
		{name: "X-Amz-Content-Sha256 not matching the body", req: kinesis, tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
		}, wantCode: CodeInvalidSignature, wantMsg: "'x-amz-content-sha256' header does not match"},
		{name: "unsigned UNSIGNED-PAYLOAD added", req: kinesis, tamper: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			setBody(r, `{"evil":true}`)
		}, wantCode: CodeInvalidSignature, wantMsg: "UNSIGNED-PAYLOAD is not accepted"},
		// The signature would not cover the body: a captured request could
		// carry other records.
		{name: "signed UNSIGNED-PAYLOAD", req: with(kinesis, func(s *sdkRequest) {
			s.header = http.Header{"X-Amz-Content-Sha256": {"UNSIGNED-PAYLOAD"}}
			s.payloadHash = "UNSIGNED-PAYLOAD"
		}), wantCode: CodeInvalidSignature, wantMsg: "UNSIGNED-PAYLOAD is not accepted"},
		// Unsigned, a captured PutRecord could be replayed as DeleteStream.
		{name: "X-Amz-Target not signed", req: with(kinesis, func(s *sdkRequest) { s.unsignedTarget = true }),
			wantCode: CodeInvalidSignature, wantMsg: "'X-Amz-Target' must be a 'SignedHeader'"},
		{name: "presigned and header", req: kinesis, tamper: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" },
			wantCode: CodeInvalidSignature, wantMsg: "Found both"},
		{name: "session token is redacted from the mismatch message", req: with(kinesis, func(s *sdkRequest) {
			s.creds.SessionToken = sessionToken
			s.creds.SecretAccessKey = "wrong"
		}), wantCode: CodeInvalidSignature, wantMsg: "x-amz-security-token:<redacted>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := signTime.Add(tt.skew)
			v, err := NewSigV4(testCreds, []string{"firehose", "kinesis"}, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			ts := verifyServer(t, v)
			req := tt.req.sign(t, ts.URL)
			if tt.tamper != nil {
				tt.tamper(req)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()

			if tt.wantCode == "" {
				if resp.StatusCode != http.StatusOK || string(got) != "ok "+tt.wantKey {
					t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, got, "ok "+tt.wantKey)
				}
				return
			}
			code, msg, _ := strings.Cut(string(got), "\n")
			if resp.StatusCode != http.StatusBadRequest || code != tt.wantCode {
				t.Fatalf("got %d %s (%s), want 400 %s", resp.StatusCode, code, msg, tt.wantCode)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", msg, tt.wantMsg)
			}
			for _, secret := range []string{kinesisKey.SecretAccessKey, firehoseKey.SecretAccessKey, sessionToken} {
				if strings.Contains(msg, secret) {
					t.Errorf("message contains a secret: %q", msg)
				}
			}
		})
	}
}

// TestSigV4KnownAnswer checks the verifier against the worked example in
// AWS's SigV4 documentation (IAM ListUsers, 2015-08-30), independently of
// the SDK.
func TestSigV4KnownAnswer(t *testing.T) {
	const sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	v, err := NewSigV4([]Credential{{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}},
		[]string{"iam"}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, date, sig, wantCode string
	}{
		{name: "X-Amz-Date", date: "20150830T123600Z", sig: sig},
		{name: "uppercase signature hex", date: "20150830T123600Z", sig: strings.ToUpper(sig)},
		{name: "one bit off", date: "20150830T123600Z", sig: sig[:63] + "6", wantCode: CodeInvalidSignature},
		{name: "short signature", date: "20150830T123600Z", sig: sig[:62], wantCode: CodeInvalidSignature},
		{name: "not hex", date: "20150830T123600Z", sig: "zz" + sig[2:], wantCode: CodeInvalidSignature},
		{name: "scope date differs from X-Amz-Date", date: "20150831T000000Z", sig: sig, wantCode: CodeInvalidSignature},
		{name: "malformed X-Amz-Date", date: "2015-08-30T12:36:00Z", sig: sig, wantCode: CodeIncompleteSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			r.Header.Set("X-Amz-Date", tt.date)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "+
				"SignedHeaders=content-type;host;x-amz-date, Signature="+tt.sig)
			akid, e := v.Verify(r, nil)
			switch {
			case tt.wantCode == "" && e != nil:
				t.Fatalf("rejected: %v", e)
			case tt.wantCode == "" && akid != "AKIDEXAMPLE":
				t.Fatalf("access key id %q", akid)
			case tt.wantCode != "" && (e == nil || e.Code != tt.wantCode || e.Status != http.StatusBadRequest):
				t.Fatalf("got %v, want 400 %s", e, tt.wantCode)
			}
		})
	}
}

// TestSigV4DateHeader covers the Date header, which SigV4 accepts in place
// of X-Amz-Date: X-Amz-Date wins when both are sent, and Date supplies the
// time when X-Amz-Date is gone (here the request then fails only because
// x-amz-date was signed).
func TestSigV4DateHeader(t *testing.T) {
	now := signTime
	v, err := NewSigV4(testCreds, []string{"kinesis"}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://hydrant.example/", strings.NewReader(kinesisBody))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	r.Header.Set("Date", signTime.Add(-time.Hour).Format(http.TimeFormat)) // stale, but X-Amz-Date wins
	sum := sha256.Sum256([]byte(kinesisBody))
	if err := v4.NewSigner().SignHTTP(context.Background(), kinesisKey, r, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", signTime); err != nil {
		t.Fatal(err)
	}
	if _, e := v.Verify(r, []byte(kinesisBody)); e != nil {
		t.Fatalf("with both headers: %v", e)
	}
	r.Header.Del("X-Amz-Date")
	if _, e := v.Verify(r, []byte(kinesisBody)); e == nil || !strings.Contains(e.Message, "Signature expired") {
		t.Fatalf("Date an hour old: got %v, want an expired signature", e)
	}
	r.Header.Set("Date", signTime.Format(http.TimeFormat))
	if _, e := v.Verify(r, []byte(kinesisBody)); e == nil || !strings.Contains(e.Message, `"x-amz-date" is in SignedHeaders`) {
		t.Fatalf("x-amz-date signed but removed: got %v", e)
	}
	r.Header.Set("Date", "yesterday")
	if _, e := v.Verify(r, []byte(kinesisBody)); e == nil || e.Code != CodeIncompleteSignature {
		t.Fatalf("unparsable Date: got %v, want %s", e, CodeIncompleteSignature)
	}
}

func TestNewSigV4(t *testing.T) {
	now := time.Now
	ok := []Credential{{"AKID1", "s1"}}
	tests := []struct {
		name     string
		creds    []Credential
		services []string
		now      func() time.Time
		wantErr  string // substring; "" = no error
	}{
		{name: "valid", creds: []Credential{{"AKID1", "s1"}, {"AKID2", "s2"}}, services: []string{"firehose", "kinesis", "kinesis"}, now: now},
		{name: "duplicate key id", creds: []Credential{{"AKID1", "s1"}, {"AKID1", "s2"}}, services: []string{"kinesis"}, now: now, wantErr: `creds[1]: access key id "AKID1" is already used by creds[0]`},
		{name: "empty key id", creds: []Credential{{"", "s1"}}, services: []string{"kinesis"}, now: now, wantErr: "creds[0]: access key id is empty"},
		{name: "slash in key id", creds: []Credential{{"AK/ID", "s1"}}, services: []string{"kinesis"}, now: now, wantErr: "cannot appear in a SigV4 credential"},
		{name: "empty secret", creds: []Credential{{"AKID1", ""}}, services: []string{"kinesis"}, now: now, wantErr: "creds[0] (AKID1): secret access key is empty"},
		{name: "no creds", services: []string{"kinesis"}, now: now, wantErr: "at least one access key pair"},
		{name: "no services", creds: ok, now: now, wantErr: "no SigV4 services"},
		{name: "uppercase service", creds: ok, services: []string{"Kinesis"}, now: now, wantErr: "services[0]"},
		{name: "nil clock", creds: ok, services: []string{"kinesis"}, wantErr: "pass time.Now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewSigV4(tt.creds, tt.services, tt.now)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("got %v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			for _, c := range tt.creds {
				if c.SecretAccessKey != "" && strings.Contains(err.Error(), c.SecretAccessKey) {
					t.Errorf("error names a secret: %v", err)
				}
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := map[string]string{
		"":                          "",
		"b=2&a=1":                   "a=1&b=2",
		"a=x-y&a=x%2Fy":             "a=x%2Fy&a=x-y", // sorted after encoding: '%' < '-'
		"k=a+b&k2=a%20b&t=~._-":     "k=a%20b&k2=a%20b&t=~._-",
		"empty&z=":                  "empty=&z=",
		"%C3%A9=%E2%9C%93":          "%C3%A9=%E2%9C%93",
		"X-Amz-Target=x&Action=Foo": "Action=Foo&X-Amz-Target=x",
	}
	for raw, want := range tests {
		if got := canonicalQuery(raw); got != want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", raw, got, want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	v, err := NewSigV4(testCreds, []string{"firehose", "kinesis"}, func() time.Time { return signTime })
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte(kinesisBody), 64) // ≈5 KiB, a typical PutRecords
	r := httptest.NewRequest(http.MethodPost, "http://hydrant.example/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), kinesisKey, r, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", signTime); err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, e := v.Verify(r, body); e != nil {
			b.Fatal(e)
		}
	}
}
