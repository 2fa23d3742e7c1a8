package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// pipelineCounts are hydrant's running totals for the bench stream.
type pipelineCounts struct {
	ingested  float64 // hydrant_ingest_incoming_records_total, the stream's
	delivered float64 // hydrant_delivery_records_total, its archive delivery's
}

// scrapeCounts reads the stream's counts from hydrant's /metrics at base.
func scrapeCounts(ctx context.Context, client *http.Client, base, stream string) (pipelineCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return pipelineCounts{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return pipelineCounts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return pipelineCounts{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseCounts(resp.Body, stream)
}

// parseCounts reads the stream's counts from Prometheus text exposition:
// the sums of its ingest counter's series (one per API) and of its archive
// delivery's counter.
func parseCounts(r io.Reader, stream string) (pipelineCounts, error) {
	var c pipelineCounts
	var foundDelivery bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, "hydrant_ingest_incoming_records_total{") && strings.Contains(line, `stream="`+stream+`"`):
			dst = &c.ingested
		case strings.HasPrefix(line, "hydrant_delivery_records_total{") && strings.Contains(line, `delivery="`+archiveName(stream)+`"`):
			dst, foundDelivery = &c.delivered, true
		default:
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return c, fmt.Errorf("metrics line %q: %w", line, err)
		}
		*dst += v
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !foundDelivery {
		return c, fmt.Errorf("no hydrant_delivery_records_total series for delivery %q", archiveName(stream))
	}
	return c, nil
}

// minioServer is a MinIO started for the S3 end-to-end run, with a bucket.
type minioServer struct {
	*server
	target *s3Target
}

// Credentials and bucket of the started MinIO.
const (
	minioAccessKey = "hydrant-load"
	minioSecretKey = "hydrant-load-secret"
	minioBucket    = "bench"
)

// startMinio starts bin on a free loopback port with its data in a new
// temporary directory, waits until it is ready and creates the bucket.
func startMinio(ctx context.Context, bin string, client *http.Client, progress io.Writer) (*minioServer, error) {
	console, err := freePort()
	if err != nil {
		return nil, err
	}
	srv, err := startIn("hydrant-load-minio-", progress, func(dir, listen string) (*server, error) {
		env := []string{"MINIO_ROOT_USER=" + minioAccessKey, "MINIO_ROOT_PASSWORD=" + minioSecretKey,
			"MINIO_UPDATE=off", "MINIO_BROWSER=off"}
		s, err := launch("minio", dir, listen, env, bin, "server", "--quiet", "--address", listen,
			"--console-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(console)), dir+"/data")
		if s != nil {
			s.ready = "/minio/health/ready"
		}
		return s, err
	})
	if err != nil {
		return nil, err
	}
	m := &minioServer{server: srv, target: &s3Target{endpoint: srv.baseURL, bucket: minioBucket,
		accessKey: minioAccessKey, secretKey: minioSecretKey}}
	if err := m.createBucket(ctx, client); err != nil {
		return nil, errors.Join(err, srv.stop(progress))
	}
	return m, nil
}

// createBucket waits until MinIO is ready and creates the bucket.
func (m *minioServer) createBucket(ctx context.Context, client *http.Client) error {
	if err := waitReady(ctx, client, m.readyURL(), m.exited); errors.Is(err, errServerExited) {
		return m.exitError("before it was ready")
	} else if err != nil {
		return fmt.Errorf("MinIO did not become ready: %w", err)
	}
	mc, err := minio.New(strings.TrimPrefix(m.baseURL, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(minioAccessKey, minioSecretKey, ""), Region: "us-east-1"})
	if err != nil {
		return err
	}
	if err := mc.MakeBucket(ctx, minioBucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		return fmt.Errorf("create bucket %s: %w", minioBucket, err)
	}
	return nil
}
