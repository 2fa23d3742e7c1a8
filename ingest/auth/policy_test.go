package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	clicksARN = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
	ordersARN = "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
	eventsARN = "arn:aws:firehose:eu-west-1:000000000000:deliverystream/events"
)

func TestPolicyAllowed(t *testing.T) {
	producer := []Statement{{Effect: Allow, Actions: []string{"kinesis:PutRecord*", "firehose:PutRecord*"},
		Resources: []string{"arn:aws:kinesis:*:*:stream/click?", "arn:aws:firehose:*:*:deliverystream/*"}}}
	tests := []struct {
		name             string
		statements       []Statement
		action, resource string
		want             bool
	}{
		{"no statements: nothing", nil, "kinesis:PutRecords", clicksARN, false},
		{"allow matches", producer, "kinesis:PutRecords", clicksARN, true},
		{"action is case-insensitive", producer, "KINESIS:putrecord", clicksARN, true},
		{"? matches one character", producer, "kinesis:PutRecords", ordersARN, false},
		{"another action", producer, "kinesis:DeleteStream", clicksARN, false},
		{"another service", producer, "firehose:DeleteDeliveryStream", eventsARN, false},
		{"* crosses / and :", producer, "firehose:PutRecordBatch", eventsARN, true},
		{"resource is case-sensitive", producer, "kinesis:PutRecords", strings.ToUpper(clicksARN), false},
		{"account-wide resource needs *", producer, "kinesis:ListStreams", "*", false},
		{"explicit deny wins", append(producer[:1:1], Statement{Effect: "DENY", Actions: []string{"*"}, Resources: []string{clicksARN}}),
			"kinesis:PutRecords", clicksARN, false},
		{"deny elsewhere leaves the allow", append(producer[:1:1], Statement{Effect: Deny, Actions: []string{"*"}, Resources: []string{ordersARN}}),
			"kinesis:PutRecords", clicksARN, true},
		{"* allows everything", []Statement{{Effect: Allow, Actions: []string{"*"}, Resources: []string{"*"}}}, "kinesis:DeleteStream", "*", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.statements)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Allowed(tt.action, tt.resource); got != tt.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", tt.action, tt.resource, got, tt.want)
			}
		})
	}
}

func TestNewPolicyErrors(t *testing.T) {
	ok := Statement{Effect: Allow, Actions: []string{"kinesis:*"}, Resources: []string{"*"}}
	with := func(f func(*Statement)) []Statement { s := ok; f(&s); return []Statement{ok, s} }
	tests := []struct {
		name       string
		statements []Statement
		want       string
	}{
		{"bad effect", with(func(s *Statement) { s.Effect = "permit" }), `statements[1].effect: "permit" is not an effect`},
		{"no actions", with(func(s *Statement) { s.Actions = nil }), "statements[1].actions: required"},
		{"no resources", with(func(s *Statement) { s.Resources = nil }), "statements[1].resources: required"},
		{"unknown service", with(func(s *Statement) { s.Actions = []string{"s3:PutObject"} }), `statements[1].actions[0]: "s3:PutObject" is not an action`},
		{"no service", with(func(s *Statement) { s.Actions = []string{"PutRecords"} }), `"PutRecords" is not an action`},
		{"not an ARN", with(func(s *Statement) { s.Resources = []string{"clicks"} }), `statements[1].resources[0]: "clicks" is not an ARN glob`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPolicy(tt.statements)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"*", "", true}, {"*", "anything/at:all", true}, {"a*", "a", true},
		{"a*c", "abbbc", true}, {"a*c", "abbbd", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*b*b*", "abxbz", true}, {"*b*b*", "abz", false}, {"abc", "abcd", false},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 60), false}, // no exponential backtracking
	}
	for _, tt := range tests {
		if got := WildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("WildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// Every credential kind gets one decision: with either kind configured, a
// request without a credential is refused, whatever API it is for, and a
// credential of the other kind is accepted.
func TestAuthenticatorOneDecision(t *testing.T) {
	keys, err := NewAPIKeys([]APIKey{{Key: "shipper-key-0123456789", Streams: []string{"clicks"}, Actions: []Action{ActionPut}}})
	if err != nil {
		t.Fatal(err)
	}
	none := NewAuthenticator(nil, nil, nil)
	onlyKeys := NewAuthenticator(nil, keys, nil)
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer shipper-key-0123456789") }
	tests := []struct {
		name     string
		a        *Authenticator
		family   Family
		set      func(*http.Request)
		wantCode string // "" = authenticated
	}{
		{"no auth configured: anonymous", none, FamilyAWS, nil, ""},
		{"api keys only, AWS API unsigned", onlyKeys, FamilyAWS, nil, CodeMissingAuthenticationToken},
		{"api keys only, native without key", onlyKeys, FamilyNative, nil, CodeUnauthorized},
		{"api keys only, AWS API with a key", onlyKeys, FamilyAWS, bearer, ""},
		{"api keys only, SigV4 signature", onlyKeys, FamilyAWS, func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00")
		}, CodeMissingAuthenticationToken},
		{"api keys only, wrong key", onlyKeys, FamilyNative, func(r *http.Request) { r.Header.Set("X-Api-Key", "wrong-key-0123456789") }, CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.set != nil {
				tt.set(r)
			}
			pre := tt.a.Precheck(r, tt.family)
			p, e := tt.a.Authenticate(r, nil, tt.family)
			if tt.wantCode == "" {
				if pre != nil || e != nil {
					t.Fatalf("refused: precheck %v, authenticate %v", pre, e)
				}
				return
			}
			if pre == nil || e == nil || pre.Code != tt.wantCode || e.Code != tt.wantCode || p != nil {
				t.Fatalf("precheck %v, authenticate %v (principal %v); want %s from both", pre, e, p, tt.wantCode)
			}
		})
	}
}

func TestPrincipalAllowed(t *testing.T) {
	deny, err := NewPolicy([]Statement{{Effect: Deny, Actions: []string{"kinesis:PutRecords"}, Resources: []string{ordersARN}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewAPIKeys([]APIKey{
		{Key: "put-key-0123456789ab", Streams: []string{"clicks", "orders"}, Actions: []Action{ActionPut}, Policy: deny},
		{Key: "read-all-0123456789a", Streams: []string{"*"}, Actions: []Action{ActionRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthenticator(nil, keys, nil)
	principal := func(key string) *Principal {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Api-Key", key)
		p, e := a.Authenticate(r, nil, FamilyNative)
		if e != nil {
			t.Fatal(e)
		}
		return p
	}
	put, read := principal("put-key-0123456789ab"), principal("read-all-0123456789a")
	tests := []struct {
		name             string
		p                *Principal
		action, resource string
		want             bool
	}{
		{"put key puts", put, "kinesis:PutRecords", clicksARN, true},
		{"put key on a Firehose delivery stream by name", put, "firehose:PutRecordBatch", "arn:aws:firehose:us-east-1:0:deliverystream/clicks", true},
		{"its policy's deny wins", put, "kinesis:PutRecords", ordersARN, false},
		{"put key cannot read", put, "kinesis:GetRecords", clicksARN, false},
		{"put key cannot delete", put, "kinesis:DeleteStream", clicksARN, false},
		{"read key reads", read, "kinesis:GetRecords", ordersARN, true},
		{"read * sees status", read, ActionGetStatus, "*", true},
		{"read * queries", read, ActionQuery, "*", true},
		{"put key cannot query", put, ActionQuery, "*", false},
		{"read * lists failed records", read, ActionListDeliveryErrors, "*", true},
		{"read key cannot redrive", read, ActionRedriveDelivery, "*", false},
		{"read key cannot put", read, "kinesis:PutRecord", ordersARN, false},
		{"anonymous may do anything", nil, "kinesis:DeleteStream", ordersARN, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Allowed(tt.action, tt.resource); got != tt.want {
				t.Errorf("Allowed(%q, %q) = %v, want %v", tt.action, tt.resource, got, tt.want)
			}
		})
	}
}

func TestDataPlanePolicy(t *testing.T) {
	p := DataPlanePolicy()
	for _, a := range []string{"kinesis:PutRecords", "kinesis:GetRecords", "kinesis:ListShards", "firehose:PutRecordBatch",
		"firehose:DescribeDeliveryStream", ActionGetStatus, ActionGetMetrics, ActionQuery, ActionListDeliveryErrors} {
		if !p.Allowed(a, clicksARN) {
			t.Errorf("data plane policy refuses %s", a)
		}
	}
	for _, a := range []string{"kinesis:CreateStream", "kinesis:DeleteStream", "kinesis:IncreaseStreamRetentionPeriod",
		"firehose:CreateDeliveryStream", "firehose:DeleteDeliveryStream", ActionRedriveDelivery} {
		if p.Allowed(a, clicksARN) {
			t.Errorf("data plane policy allows control-plane %s", a)
		}
	}
}
