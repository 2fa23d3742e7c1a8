package natsurl

import (
	"strings"
	"testing"
)

// TestRedact checks that credentials in server URLs never reach a log,
// with or without a scheme, and that the hosts stay.
func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://n1:4222", "nats://n1:4222"},
		{"n1:4222", "nats://n1:4222"},
		{"nats://a:url-pass@n1:4222", "nats://REDACTED@n1:4222"},
		{"b:bare-pass@n2:4222", "nats://REDACTED@n2:4222"},
		{"tls://tok@n3:4222", "tls://REDACTED@n3:4222"},
		{"nats://a:b@n1:4222, n2:4222", "nats://REDACTED@n1:4222,nats://n2:4222"},
		{"nats://x:%zz@n1", "REDACTED"},
	}
	for _, tt := range tests {
		got := Redact(tt.in)
		if got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"url-pass", "bare-pass", "tok@", "%zz"} {
			if strings.Contains(got, secret) {
				t.Errorf("Redact(%q) shows %q", tt.in, secret)
			}
		}
	}
}
