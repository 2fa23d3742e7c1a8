package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// jsSDKPutRecord is a PutRecord exactly as the AWS SDK for JavaScript v3
// Kinesis client (@aws-sdk/client-kinesis 3.1143.0, default settings, so
// NodeHttp2Handler) signed it for the endpoint http://127.0.0.1:4567 with
// the credentials of AWS's SigV4 examples: over HTTP/2 it signs
// ':authority' and no Host. Captured from the client's middleware stack
// right after its signing step.
var jsSDKPutRecord = struct {
	authority, date, body string
	header                map[string]string
}{
	authority: "127.0.0.1:4567",
	date:      "20261205T090832Z",
	body:      `{"Data":"eyJuIjoxfQ==","StreamName":"clicks","PartitionKey":"k1"}`,
	header: map[string]string{
		"content-type":          "application/x-amz-json-1.1",
		"x-amz-target":          "Kinesis_20131202.PutRecord",
		"x-amz-user-agent":      "aws-sdk-js/3.1142.0",
		"user-agent":            "aws-sdk-js/3.1142.0 ua/2.1 os/linux lang/js md/nodejs#20.20.2 api/kinesis#3.1142.0 m/N,E,P,e",
		"amz-sdk-invocation-id": "eb2a2563-bf4f-4d1b-93d5-82101ecda624",
		"amz-sdk-request":       "attempt=1; max=3",
		"x-amz-date":            "20261205T090832Z",
		"x-amz-content-sha256":  "fce6976f8c6baca2279004d07d7f8cf6eff88fea077e1db60f26adf5691b12a6",
		"authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/us-east-1/kinesis/aws4_request, " +
			"SignedHeaders=:authority;amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;x-amz-content-sha256;x-amz-date;x-amz-target;x-amz-user-agent, " +
			"Signature=956faeac5b5d4b33855e88986b849c9cf88255b0dc79e468bdf8ac89680642e3",
	},
}

// The JS SDK's HTTP/2 request, replayed through a real Go server over h2c
// and over HTTP/1.1: ':authority' stands for Host only on HTTP/2, where Go
// sets r.Host from it; it is bound to the host like Host is; and a request
// that signs neither is refused on either protocol.
func TestSigV4AuthorityOverHTTP2(t *testing.T) {
	signed, _ := time.Parse(amzDateFmt, jsSDKPutRecord.date)
	v, err := NewSigV4(testCreds, []string{"kinesis"}, func() time.Time { return signed })
	if err != nil {
		t.Fatal(err)
	}
	// verifyServer's handler on a server that also speaks h2c.
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, e := v.Verify(r, body); e != nil {
			w.WriteHeader(e.Status)
			io.WriteString(w, e.Code+"\n"+e.Message)
			return
		}
		io.WriteString(w, "ok")
	}))
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)

	jsAuth := jsSDKPutRecord.header["authorization"]
	for _, tt := range []struct {
		name          string
		http2         bool
		host          string            // default: the authority the client signed
		header        map[string]string // overrides
		wantCode      string            // "" is accepted
		wantMsg       string
		wantCanonical string // in the mismatch message: what Hydrant signed
	}{
		{name: "h2c, as signed", http2: true},
		{name: "h2c to another host", http2: true, host: "hydrant.example:4567",
			wantCode: CodeInvalidSignature, wantCanonical: "\n:authority:hydrant.example:4567\n"},
		{name: "h2c, another operation", http2: true, header: map[string]string{"x-amz-target": "Kinesis_20131202.DeleteStream"},
			wantCode: CodeInvalidSignature, wantCanonical: "\n:authority:127.0.0.1:4567\n"},
		{name: "h2c, neither host nor :authority signed", http2: true,
			header:   map[string]string{"authorization": strings.Replace(jsAuth, "SignedHeaders=:authority;", "SignedHeaders=", 1)},
			wantCode: CodeInvalidSignature, wantMsg: "'Host' or ':authority' must be a 'SignedHeader'"},
		{name: "HTTP/1.1 with :authority signed", http2: false,
			wantCode: CodeInvalidSignature, wantMsg: "arrived over HTTP/1.1, which has no ':authority'; 'Host' must be a 'SignedHeader'"},
		{name: "HTTP/1.1, neither host nor :authority signed", http2: false,
			header:   map[string]string{"authorization": strings.Replace(jsAuth, "SignedHeaders=:authority;", "SignedHeaders=", 1)},
			wantCode: CodeInvalidSignature, wantMsg: "'Host' or ':authority' must be a 'SignedHeader'"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/", strings.NewReader(jsSDKPutRecord.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, val := range jsSDKPutRecord.header {
				req.Header.Set(k, val)
			}
			for k, val := range tt.header {
				req.Header.Set(k, val)
			}
			req.Host = jsSDKPutRecord.authority // :authority on HTTP/2, Host on HTTP/1.1
			if tt.host != "" {
				req.Host = tt.host
			}
			protocols := new(http.Protocols)
			if tt.http2 {
				protocols.SetUnencryptedHTTP2(true) // prior knowledge, as Node's http2.connect to http://
			} else {
				protocols.SetHTTP1(true)
			}
			tr := &http.Transport{Protocols: protocols}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if wantMajor := map[bool]int{true: 2, false: 1}[tt.http2]; resp.ProtoMajor != wantMajor {
				t.Fatalf("served over %s", resp.Proto)
			}
			got := string(body)
			if tt.wantCode == "" {
				if resp.StatusCode != http.StatusOK || got != "ok" {
					t.Fatalf("refused: %d %s", resp.StatusCode, got)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(got, tt.wantCode+"\n") ||
				!strings.Contains(got, tt.wantMsg) || !strings.Contains(got, tt.wantCanonical) {
				t.Fatalf("got %d %s\nwant %s containing %q and %q", resp.StatusCode, got, tt.wantCode, tt.wantMsg, tt.wantCanonical)
			}
		})
	}
}

// Only the ':authority' pseudo-header may appear in SignedHeaders: the
// others are not headers the verifier can reproduce.
func TestParseAuthorizationPseudoHeaders(t *testing.T) {
	const prefix = "AWS4-HMAC-SHA256 Credential=K/20261205/us-east-1/kinesis/aws4_request, Signature=00, SignedHeaders="
	for _, tt := range []struct {
		signed string
		ok     bool
	}{
		{signed: ":authority;content-type;x-amz-date;x-amz-target", ok: true},
		{signed: ":authority;host;x-amz-date", ok: true},
		{signed: ":path;:authority;x-amz-date"},
		{signed: ":method;host"},
		{signed: ":Authority;x-amz-date"},
		{signed: ":authority:;x-amz-date"},
		{signed: ":;host"},
	} {
		t.Run(tt.signed, func(t *testing.T) {
			_, e := parseAuthorization(prefix + tt.signed)
			if tt.ok && e != nil {
				t.Fatalf("refused: %v", e)
			}
			if !tt.ok && (e == nil || e.Code != CodeIncompleteSignature) {
				t.Fatalf("got %v, want %s", e, CodeIncompleteSignature)
			}
		})
	}
}
