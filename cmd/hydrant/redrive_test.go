package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest/auth"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in   string
		want time.Time
		ok   bool
	}{
		"empty is no bound": {"", time.Time{}, true},
		"RFC 3339":          {"2026-12-01T00:00:00Z", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true},
		"duration ago":      {"90m", now.Add(-90 * time.Minute), true},
		"negative duration": {"-1h", time.Time{}, false},
		"a date alone":      {"2026-12-01", time.Time{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseWhen(tc.in, now)
			if (err == nil) != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("parseWhen(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestRedriveCmdUsage(t *testing.T) {
	tests := map[string][]string{
		"no delivery":    {},
		"two deliveries": {"a", "b"},
		"bad -from":      {"orders", "-from", "yesterday"},
		"bad -output":    {"orders", "-output", "yaml"},
		"unknown flag":   {"orders", "-since", "1h"},
		"flags then two": {"-type", "processing-failed", "a", "b"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if code := redriveCmd(args, io.Discard, io.Discard); code != 2 {
				t.Fatalf("redrive %q: exit %d, want 2", args, code)
			}
		})
	}
	if code := redriveCmd([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("redrive -h: exit %d, want 0", code)
	}
}

// A redrive and the error listing are authorized on the delivery stream
// their path names: a key scoped to some deliveries may act on those only.
func TestRedriveAuthorizedOnTheDelivery(t *testing.T) {
	keys, err := auth.NewAPIKeys([]auth.APIKey{
		{Key: "admin-orders", Streams: []string{"orders-*"}, Actions: []auth.Action{auth.ActionAdmin, auth.ActionRead}},
		{Key: "read-orders", Streams: []string{"orders-*"}, Actions: []auth.Action{auth.ActionRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) (config.DeliveryConfig, bool) { return config.DeliveryConfig{}, false }
	srv := httptest.NewServer(withRedrive(http.NotFoundHandler(), none, deliveryEnv{}, auth.NewAuthenticator(nil, keys, nil)))
	defer srv.Close()
	tests := map[string]struct {
		key, method, path string
		want              int // 404: authorized, and the delivery is not in the config
	}{
		"admin redrives its delivery":  {"admin-orders", http.MethodPost, "/v1/deliveries/orders-db/redrive", http.StatusNotFound},
		"admin redrives another":       {"admin-orders", http.MethodPost, "/v1/deliveries/billing/redrive", http.StatusForbidden},
		"reader lists its delivery":    {"read-orders", http.MethodGet, "/v1/deliveries/orders-db/errors", http.StatusNotFound},
		"reader lists another":         {"read-orders", http.MethodGet, "/v1/deliveries/billing/errors", http.StatusForbidden},
		"reader redrives its delivery": {"read-orders", http.MethodPost, "/v1/deliveries/orders-db/redrive", http.StatusForbidden},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Api-Key", tc.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		})
	}
}
