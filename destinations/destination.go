package destinations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/retry"
)

// Destination delivers one batch. Deliver blocks until the batch is durably
// accepted or fails, and must honour ctx. A Permanent error is never retried;
// anything else may be. Deliver must be safe to call again with the same
// batch: a retried or re-read batch must not be stored twice.
type Destination interface {
	Deliver(ctx context.Context, b *buffer.Batch) error
	// Close releases resources; it is idempotent.
	Close(ctx context.Context) error
}

// ErrorOutput stores records that a delivery could not process or deliver,
// as Firehose does under its error prefix. WriteErrors blocks until the
// records are durably stored or fails (and may then be retried).
type ErrorOutput interface {
	WriteErrors(ctx context.Context, b *ErrorBatch) error
}

// Error output types, as in Firehose's !{firehose:error-output-type}.
const (
	ErrorTypeProcessingFailed       = "processing-failed"
	ErrorTypeDeliveryFailed         = "delivery-failed"
	ErrorTypeFormatConversionFailed = "format-conversion-failed"
)

// RecordErrors is returned by a Deliver that stored the batch except some
// records that no retry can fix (they do not convert to the output format).
// The caller sends those to the error output as Type; it must not retry.
type RecordErrors struct {
	Type   string        // error output type, e.g. ErrorTypeFormatConversionFailed
	Code   string        // errorCode of the error documents
	Failed map[int]error // by index in the batch
}

func (e *RecordErrors) Error() string {
	return fmt.Sprintf("%d records of the batch were not delivered (%s)", len(e.Failed), e.Type)
}

// DocumentError is a per-record error (in RecordErrors.Failed) that says
// more than a message: its own error code and the attempts made for that
// record, and for search destinations the index and document id it was
// meant for (Firehose's esIndexName and esDocumentId).
type DocumentError struct {
	Code       string // errorCode, e.g. "mapper_parsing_exception"
	Message    string
	Attempts   int
	Index      string
	DocumentID string // empty when the server assigns ids
}

func (e *DocumentError) Error() string { return e.Message }

// ErrorBatch is a set of failed records of one delivery, shard and type.
type ErrorBatch struct {
	Delivery string // the documents' deliveryStreamName
	// Batch is the name the records' batches carried, which names the error
	// object: a replay's "<delivery>.replayN", so that its failures do not
	// overwrite the error objects of the first run. Zero: Delivery.
	Batch   string
	ShardID string
	Type    string // ErrorTypeProcessingFailed, ErrorTypeDeliveryFailed, …
	Records []ErrorRecord
}

// ErrorRecord is one failed record and why it failed.
type ErrorRecord struct {
	buffer.Record
	AttemptsMade  int
	ErrorCode     string
	ErrorMessage  string
	AttemptEnding time.Time
	// IndexName and DocumentID are set for records a search destination
	// (Elasticsearch, OpenSearch) did not index.
	IndexName  string
	DocumentID string
}

// Permanent marks err as one that no retry can fix (bad record, 4xx, schema
// mismatch). Permanent(nil) is nil. (retry.Permanent: transforms use it too.)
func Permanent(err error) error { return retry.Permanent(err) }

// IsPermanent reports whether err (or an error it wraps) is permanent.
func IsPermanent(err error) bool { return retry.IsPermanent(err) }

// ThrottledError asks the caller to wait After before retrying (429,
// Retry-After, S3 SlowDown).
type ThrottledError = retry.ThrottledError

// Throttled wraps err as a throttling error.
func Throttled(err error, after time.Duration) error { return retry.Throttled(err, after) }

// Decorator wraps a destination with behaviour such as retry or timeouts.
type Decorator func(Destination) Destination

// Chain applies decorators to d; the first decorator is innermost.
func Chain(d Destination, decorators ...Decorator) Destination {
	for _, dec := range decorators {
		d = dec(d)
	}
	return d
}

// WithTimeout bounds each Deliver call.
func WithTimeout(timeout time.Duration) Decorator {
	return func(next Destination) Destination {
		return deliverFunc{next: next, deliver: func(ctx context.Context, b *buffer.Batch) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return next.Deliver(ctx, b)
		}}
	}
}

type deliverFunc struct {
	next    Destination
	deliver func(ctx context.Context, b *buffer.Batch) error
}

func (d deliverFunc) Deliver(ctx context.Context, b *buffer.Batch) error { return d.deliver(ctx, b) }
func (d deliverFunc) Close(ctx context.Context) error                    { return d.next.Close(ctx) }

// WithBackup also writes every batch to backup (Firehose's S3 backup of all
// data), before the destination: a batch is delivered only when both have
// it. Both must take a batch again without duplicating it, which object
// destinations (deterministic names) and Postgres (ledger) do.
func WithBackup(dest, backup Destination) Destination {
	return backupDestination{dest: dest, backup: backup}
}

type backupDestination struct{ dest, backup Destination }

func (b backupDestination) Deliver(ctx context.Context, batch *buffer.Batch) error {
	if err := b.backup.Deliver(ctx, batch); err != nil {
		var re *RecordErrors
		if !errors.As(err, &re) { // a backup keeps what it could
			return fmt.Errorf("backup: %w", err)
		}
	}
	return b.dest.Deliver(ctx, batch)
}

func (b backupDestination) Close(ctx context.Context) error {
	return errors.Join(b.dest.Close(ctx), b.backup.Close(ctx))
}
