package elasticsearch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/opensearch-project/opensearch-go/v4"
)

// Flavours: which client carries the requests.
const (
	FlavorElasticsearch = "elasticsearch"
	FlavorOpenSearch    = "opensearch"
)

// client sends a request to one of the cluster's nodes: it fills in the
// node's scheme and host, authentication and compression, and does not
// retry (Deliver does, item by item).
type client interface {
	Perform(*http.Request) (*http.Response, error)
	Close(ctx context.Context) error
}

func newClient(cfg Config) (client, error) {
	transport := cfg.Transport
	if transport == nil {
		t, err := httpTransport(cfg)
		if err != nil {
			return nil, err
		}
		transport = t
	}
	switch cfg.Flavor {
	case "", FlavorElasticsearch:
		c, err := es.NewClient(es.Config{
			Addresses: cfg.Endpoints, Username: cfg.Username, Password: cfg.Password, APIKey: cfg.APIKey,
			DisableRetry: true, CompressRequestBody: cfg.Gzip, PoolCompressor: cfg.Gzip,
			Transport: transport,
		})
		if err != nil {
			return nil, err
		}
		return elasticClient{c}, nil
	case FlavorOpenSearch:
		header := http.Header{}
		if cfg.APIKey != "" {
			header.Set("Authorization", "ApiKey "+cfg.APIKey)
		}
		discover := false
		c, err := opensearch.NewClient(opensearch.Config{
			Addresses: cfg.Endpoints, Username: cfg.Username, Password: cfg.Password, Header: header,
			DisableRetry: true, CompressRequestBody: cfg.Gzip, DiscoverNodesOnStart: &discover,
			Transport: transport,
		})
		if err != nil {
			return nil, err
		}
		return openSearchClient{c}, nil
	}
	return nil, fmt.Errorf("flavor must be elasticsearch or opensearch, not %q", cfg.Flavor)
}

// httpTransport is the connection pool to the nodes, with the CA and
// certificate checks the config asks for.
func httpTransport(cfg Config) (*http.Transport, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // only when configured
	if len(cfg.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CACert) {
			return nil, errors.New("tls.ca_file holds no PEM certificate")
		}
		tlsCfg.RootCAs = pool
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // bounded by the request's context
		ForceAttemptHTTP2:     true,
	}, nil
}

type elasticClient struct{ c *es.Client }

func (e elasticClient) Perform(req *http.Request) (*http.Response, error) {
	resp, err := e.c.Perform(req)
	// go-elasticsearch's product check has no error value of its own.
	if err != nil && strings.Contains(err.Error(), "server is not Elasticsearch") {
		return nil, fmt.Errorf("%w (for OpenSearch set flavor: opensearch)", err)
	}
	return resp, err
}

func (e elasticClient) Close(ctx context.Context) error { return e.c.Close(ctx) }

type openSearchClient struct{ c *opensearch.Client }

func (o openSearchClient) Perform(req *http.Request) (*http.Response, error) { return o.c.Perform(req) }
func (o openSearchClient) Close(context.Context) error                       { return o.c.Close() }
