package auth

import (
	"slices"
	"strings"
	"testing"
)

const goodAuthorization = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kinesis/aws4_request, " +
	"SignedHeaders=content-type;host;x-amz-date;x-amz-target, " +
	"Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		name     string
		header   string
		want     authorization // compared when wantCode == ""
		wantCode string
		wantMsg  string
	}{
		{name: "SDK form", header: goodAuthorization, want: authorization{
			accessKeyID: "AKIDEXAMPLE", date: "20150830", region: "us-east-1", service: "kinesis", terminator: "aws4_request",
			signedRaw: "content-type;host;x-amz-date;x-amz-target",
			signed:    []string{"content-type", "host", "x-amz-date", "x-amz-target"},
			signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		}},
		{name: "commas without spaces, other order", header: "AWS4-HMAC-SHA256 Signature=ab,SignedHeaders=host,Credential=K/20150830/eu-west-1/firehose/aws4_request",
			want: authorization{accessKeyID: "K", date: "20150830", region: "eu-west-1", service: "firehose", terminator: "aws4_request",
				signedRaw: "host", signed: []string{"host"}, signature: "ab"}},
		{name: "unknown component ignored", header: goodAuthorization + ", Foo=bar", want: authorization{
			accessKeyID: "AKIDEXAMPLE", date: "20150830", region: "us-east-1", service: "kinesis", terminator: "aws4_request",
			signedRaw: "content-type;host;x-amz-date;x-amz-target",
			signed:    []string{"content-type", "host", "x-amz-date", "x-amz-target"},
			signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		}},
		{name: "empty", header: "", wantCode: CodeIncompleteSignature, wantMsg: "must start with"},
		{name: "SigV2", header: "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", wantCode: CodeIncompleteSignature, wantMsg: `got scheme "AWS"`},
		{name: "SigV4a", header: "AWS4-ECDSA-P256-SHA256 Credential=x", wantCode: CodeIncompleteSignature, wantMsg: "not SigV4a"},
		{name: "algorithm only", header: "AWS4-HMAC-SHA256", wantCode: CodeIncompleteSignature,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{name: "no signature", header: "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host",
			wantCode: CodeIncompleteSignature, wantMsg: "requires 'Signature' parameter"},
		{name: "empty signature", header: goodAuthorization[:strings.Index(goodAuthorization, "Signature=")+len("Signature=")],
			wantCode: CodeIncompleteSignature, wantMsg: "requires 'Signature' parameter"},
		{name: "duplicate component", header: goodAuthorization + ", Signature=00", wantCode: CodeIncompleteSignature, wantMsg: `more than one "Signature"`},
		{name: "missing equal sign", header: "AWS4-HMAC-SHA256 Credential", wantCode: CodeIncompleteSignature, wantMsg: "missing equal-sign"},
		{name: "four-part credential", header: "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/kinesis, SignedHeaders=host, Signature=00",
			wantCode: CodeIncompleteSignature, wantMsg: "exactly 5 slash-delimited elements"},
		{name: "empty access key", header: "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00",
			wantCode: CodeIncompleteSignature, wantMsg: "empty access key id"},
		{name: "uppercase signed header", header: "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=Host, Signature=00",
			wantCode: CodeIncompleteSignature, wantMsg: "lowercase header names"},
		{name: "empty signed header", header: "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=host;;x, Signature=00",
			wantCode: CodeIncompleteSignature, wantMsg: "lowercase header names"},
		{name: "too many signed headers", header: "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/kinesis/aws4_request, SignedHeaders=" +
			strings.Repeat("a;", maxSignedHeaders) + "host, Signature=00", wantCode: CodeIncompleteSignature, wantMsg: "at most 64"},
		{name: "long garbage is truncated", header: "X" + strings.Repeat("y", 1000), wantCode: CodeIncompleteSignature, wantMsg: "yyy..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := parseAuthorization(tt.header)
			if tt.wantCode != "" {
				if e == nil || e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) {
					t.Fatalf("got %v, want %s containing %q", e, tt.wantCode, tt.wantMsg)
				}
				if len(e.Message) > 600 {
					t.Errorf("message is %d bytes; client text must be truncated", len(e.Message))
				}
				return
			}
			if e != nil {
				t.Fatalf("rejected: %v", e)
			}
			if got.accessKeyID != tt.want.accessKeyID || got.scope() != tt.want.scope() || got.signedRaw != tt.want.signedRaw ||
				!slices.Equal(got.signed, tt.want.signed) || got.signature != tt.want.signature {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseAuthorization: any header parses or is refused with an
// IncompleteSignatureException; none panics, and what parses is usable.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		goodAuthorization,
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 ",
		"AWS4-HMAC-SHA256 Credential=",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=00",
		"AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host;;, Signature==",
		"AWS4-HMAC-SHA256 ,,, ,Credential=a/b/c/d/e\tSignedHeaders=host Signature=zz",
		"AWS4-ECDSA-P256-SHA256 Credential=a/b/c/d/e",
		"Bearer abc",
		"AWS4-HMAC-SHA256 Credential=\xff\xfe/b/c/d/e, SignedHeaders=\x00, Signature=\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, e := parseAuthorization(h)
		if e != nil {
			if e.Code != CodeIncompleteSignature || e.Status != 400 || e.Message == "" {
				t.Fatalf("unexpected error %#v", e)
			}
			return
		}
		if a.accessKeyID == "" || a.signature == "" || len(a.signed) == 0 || len(a.signed) > maxSignedHeaders {
			t.Fatalf("parsed into an unusable authorization: %+v", a)
		}
		for _, n := range a.signed {
			if !validHeaderName(n) {
				t.Fatalf("signed header %q accepted", n)
			}
		}
		if strings.Count(a.scope(), "/") != 3 {
			t.Fatalf("scope %q", a.scope())
		}
	})
}
