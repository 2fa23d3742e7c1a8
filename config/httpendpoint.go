package config

import (
	"fmt"
	"net/url"
	"time"
)

// Values of HTTPDestinationConfig.ContentEncoding, as Firehose's
// HttpEndpointRequestConfiguration.ContentEncoding.
const (
	ContentEncodingNone = "none"
	ContentEncodingGzip = "gzip"
)

// MaxHTTPAccessKeyBytes is the longest access key Firehose sends.
const MaxHTTPAccessKeyBytes = 4096

// HTTPDestinationConfig posts batches to an HTTP endpoint by Firehose's
// HTTP endpoint delivery request and response specification (Firehose's
// HttpEndpointDestinationConfiguration).
type HTTPDestinationConfig struct {
	URL  string `yaml:"url"`  // http:// or https://; sent to as is
	Name string `yaml:"name"` // the endpoint's name, for logs; optional
	// AccessKey is sent verbatim as X-Amz-Firehose-Access-Key; write
	// ${ENV_VAR} to take it from the environment. Never printed.
	AccessKey string `yaml:"access_key"`
	// CommonAttributes are sent with every request as
	// X-Amz-Firehose-Common-Attributes: {"commonAttributes": {…}}.
	CommonAttributes map[string]string `yaml:"common_attributes"`
	ContentEncoding  string            `yaml:"content_encoding"` // ContentEncodingNone (default) or ContentEncodingGzip
	RequestTimeout   Duration          `yaml:"request_timeout"`  // per request; 1s..10m, default 180s as Firehose
	// MaxRequestSize bounds a request body before compression; a batch
	// larger is sent in several requests. 0 (default): one request per
	// batch, as Firehose sends its buffer.
	MaxRequestSize Size   `yaml:"max_request_size"`
	BackupMode     string `yaml:"backup_mode"` // BackupModeFailedOnly (default) or BackupModeAll
}

// NewDefaultHTTPDestinationConfig returns the HTTP endpoint destination
// defaults.
func NewDefaultHTTPDestinationConfig() HTTPDestinationConfig {
	return HTTPDestinationConfig{ContentEncoding: ContentEncodingNone, RequestTimeout: Duration(180 * time.Second),
		BackupMode: BackupModeFailedOnly}
}

func (c *HTTPDestinationConfig) setDefaults() { *c = NewDefaultHTTPDestinationConfig() }

// String never shows the access key, nor credentials or a query written in
// the URL.
func (c HTTPDestinationConfig) String() string {
	type plain HTTPDestinationConfig // no String method: no recursion
	if c.AccessKey != "" {
		c.AccessKey = "REDACTED"
	}
	c.URL = redactedURL(c.URL)
	return fmt.Sprintf("%+v", plain(c))
}

// redactedURL hides the user info and the query of u, which may hold
// credentials.
func redactedURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "REDACTED" // cannot tell where a credential would be
	}
	if parsed.RawQuery != "" {
		parsed.RawQuery = "REDACTED"
	}
	return parsed.Redacted()
}

// Validate checks the HTTP endpoint destination on its own; that
// backup_mode: all has a backup is checked by the delivery. It never puts
// the access key or the URL's credentials in a message.
func (c HTTPDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.URL == "" {
		errs.add("url", "required: an http:// or https:// URL, e.g. https://receiver.example.com/firehose")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add("url", "must be a URL with an http:// or https:// scheme, e.g. https://receiver.example.com/firehose")
	}
	if len(c.AccessKey) > MaxHTTPAccessKeyBytes {
		errs.add("access_key", "must be at most %d bytes, as Firehose's", MaxHTTPAccessKeyBytes)
	}
	for k, v := range c.CommonAttributes { // Firehose's HttpEndpointCommonAttribute bounds
		if len(k) < 1 || len(k) > 256 {
			errs.add("common_attributes", "names must be 1 to 256 bytes")
		}
		if len(v) > 1024 {
			errs.add("common_attributes."+k, "must be at most 1024 bytes")
		}
	}
	oneOf(&errs, "content_encoding", c.ContentEncoding, ContentEncodingNone, ContentEncodingGzip)
	between(&errs, "request_timeout", c.RequestTimeout, Duration(time.Second), Duration(10*time.Minute))
	if c.MaxRequestSize != 0 {
		between(&errs, "max_request_size", c.MaxRequestSize, KiB, 128*MiB)
	}
	oneOf(&errs, "backup_mode", c.BackupMode, BackupModeFailedOnly, BackupModeAll)
	return errs
}
