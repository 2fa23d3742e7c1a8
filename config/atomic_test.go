package config

import (
	"strings"
	"testing"
)

func TestAtomicPuts(t *testing.T) {
	cases := map[string]struct {
		doc     string
		wantErr string
		want    map[string]bool // resolved stream → atomic_puts
	}{
		"stream": {doc: "streams: [{name: logs, atomic_puts: true}, {name: other}]\n",
			want: map[string]bool{"logs": true, "other": false}},
		"direct put": {doc: "deliveries: [{name: events, atomic_puts: true, destination: {file: {dir: /tmp/o}}}]\n",
			want: map[string]bool{"events": true}},
		"delivery with a source": {doc: "streams: [{name: logs}]\ndeliveries: [{name: d, source: logs, atomic_puts: true, destination: {file: {dir: /tmp/o}}}]\n",
			wantErr: "deliveries[0].atomic_puts: only a DirectPut delivery takes puts; set atomic_puts on stream logs"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseWithEnv("a.yaml", []byte("storage: {data_dir: /tmp/x}\n"+c.doc), func(string) (string, bool) { return "", false })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, rs := range cfg.ResolvedStreams() {
				got[rs.Name] = rs.AtomicPuts
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Fatalf("stream %s: atomic_puts %v, want %v (%v)", k, got[k], v, got)
				}
			}
		})
	}
}
