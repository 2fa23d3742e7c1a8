package main

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// newAuth builds the one authentication decision of every API from the
// config; with no credentials configured it lets everyone in.
func newAuth(cfg config.AuthConfig) (*auth.Authenticator, error) {
	var (
		verifier *auth.SigV4
		keys     *auth.APIKeys
		err      error
	)
	policies := make(map[string]*auth.Policy, len(cfg.Policies))
	for name, stmts := range cfg.Policies {
		list := make([]auth.Statement, len(stmts))
		for i, st := range stmts {
			list[i] = auth.Statement{Effect: auth.Effect(st.Effect), Actions: st.Actions, Resources: st.Resources}
		}
		if policies[name], err = auth.NewPolicy(list); err != nil {
			return nil, fmt.Errorf("server.auth.policies.%s: %w", name, err)
		}
	}
	attach := func(names []string) (*auth.Policy, error) {
		var p *auth.Policy
		for _, n := range names {
			q, ok := policies[n]
			if !ok {
				return nil, fmt.Errorf("no policy %q in server.auth.policies", n)
			}
			p = p.Merge(q)
		}
		return p, nil
	}
	keyPolicies := map[string]*auth.Policy{}
	if len(cfg.AWS) > 0 {
		creds := make([]auth.Credential, len(cfg.AWS))
		for i, c := range cfg.AWS {
			creds[i] = auth.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
			p, err := attach(c.Policies)
			if err != nil {
				return nil, fmt.Errorf("server.auth.aws[%d]: %w", i, err)
			}
			if p != nil {
				keyPolicies[c.AccessKeyID] = p
			}
		}
		if verifier, err = auth.NewSigV4(creds, []string{"firehose", "kinesis"}, time.Now); err != nil {
			return nil, fmt.Errorf("server.auth.aws: %w", err)
		}
	}
	if len(cfg.APIKeys) > 0 {
		list := make([]auth.APIKey, len(cfg.APIKeys))
		for i, k := range cfg.APIKeys {
			list[i] = auth.APIKey{Key: k.Key, Streams: k.Streams}
			for _, a := range k.Actions {
				list[i].Actions = append(list[i].Actions, auth.Action(a))
			}
			if list[i].Policy, err = attach(k.Policies); err != nil {
				return nil, fmt.Errorf("server.auth.api_keys[%d]: %w", i, err)
			}
		}
		if keys, err = auth.NewAPIKeys(list); err != nil {
			return nil, fmt.Errorf("server.auth.api_keys: %w", err)
		}
	}
	return auth.NewAuthenticator(verifier, keys, keyPolicies), nil
}

// loadTLS loads the server certificate; nil when TLS is off.
func loadTLS(cfg *config.TLSConfig) (*tls.Config, error) {
	if cfg == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
