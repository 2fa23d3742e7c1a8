package natsurl

import (
	"net/url"
	"strings"
)

// Redact returns list, comma-separated server URLs, with the credentials
// written in any of them replaced by REDACTED, and a URL that does not
// parse replaced whole (nobody can tell where its secret would be). A URL
// without a scheme is read as nats://, as the clients read it: otherwise
// "user:pass@host" would parse as scheme "user" and print as it is.
func Redact(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		if u, err := url.Parse(p); err != nil {
			p = "REDACTED"
		} else if u.User != nil {
			u.User = url.User("REDACTED")
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
