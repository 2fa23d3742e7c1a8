package shards

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsPublisher publishes one shard's record-batch messages to its JetStream
// stream, each with the shard's running record count in a header.
type jsPublisher struct {
	store   *Store
	stream  string // JetStream stream name
	subject string
	// records is the shard's running record count (the recordsHeader of
	// its last message) and lastSeq that message's sequence: each publish
	// expects it to be the last, so that appenders of several nodes writing
	// one shard keep one count. recount asks to read both again from the
	// log, after a publish whose outcome is unknown or that found another
	// message last.
	records int64
	lastSeq uint64
	recount bool
	// epoch is the store's health epoch the count was read in: after the
	// embedded JetStream was reopened it is read again.
	epoch uint64
	// idPrefix and sent make each message's id on a cluster, under which
	// a publish is retried; empty when embedded (nothing is retried).
	idPrefix string
	sent     uint64
}

func newJSPublisher(s *Store, stream, subject string) *jsPublisher {
	p := &jsPublisher{store: s, stream: stream, subject: subject, recount: true}
	if s.cfg.NATS != nil {
		p.idPrefix = randomID() + "-"
	}
	return p
}

// publishTimeout bounds the publish of one message, retries included.
const publishTimeout = 30 * time.Second

// attemptTimeout bounds one attempt of a request to a cluster (a publish,
// a checkpoint's read or write): ample for a quorum to store a message, and
// short enough to try again soon on the leader that replaces one that died
// with the request in flight.
const attemptTimeout = 5 * time.Second

// attemptContext returns the context of one attempt of a request under ctx.
// On a cluster it ends after attemptTimeout or when the connection drops,
// whichever comes first, since no answer comes then; the embedded log's
// end when the log goes down (a stream that failed a write answers no
// publish), at once if it is down.
func (s *Store) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.NATS == nil {
		actx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(s.health.context(), cancel)
		return actx, func() { stop(); cancel() }
	}
	drop := s.drops.next()
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	go func() {
		select {
		case <-drop:
			cancel()
		case <-actx.Done():
		}
	}()
	return actx, cancel
}

// Pauses between the attempts of a publish.
const (
	retryWaitMin = 50 * time.Millisecond
	retryWaitMax = time.Second
)

// start publishes msg at once: JetStream takes one message of a shard at a
// time (each waits for the last one's sequence).
func (a *jsPublisher) start(msg []byte, n int, closing <-chan struct{}) func() (uint64, error) {
	seq, err := a.publish(msg, n, closing)
	return func() (uint64, error) { return seq, err }
}

// publish stores msg as one message and returns its sequence. On a cluster
// it rides out leader elections and reconnections: an attempt that fails
// for want of a leader or an answer is made again, under the same message
// id, so that the servers store the message once however many attempts
// reach them. It gives up after publishTimeout, or when the store closes;
// the message may then be stored or not, and the caller tells the producer
// to retry.
func (a *jsPublisher) publish(msg []byte, n int, closing <-chan struct{}) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	var id string
	if a.idPrefix != "" {
		a.sent++
		id = a.idPrefix + strconv.FormatUint(a.sent, 10)
	}
	wait := retryWaitMin
	for {
		seq, retry, err := a.attempt(ctx, id, msg, n)
		if err == nil {
			return seq, nil
		}
		if !retry {
			a.recount = true // it may have been stored all the same
			if !a.store.Writable() {
				return 0, fmt.Errorf("shard log %s: store record batch: %w (%w)", a.stream, ErrUnavailable, err)
			}
			return 0, fmt.Errorf("shard log %s: store record batch: %w", a.stream, err)
		}
		if isWrongLastSequence(err) && ctx.Err() == nil {
			continue // another node's appender wrote first: go on after its message at once
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			a.recount = true
			return 0, fmt.Errorf("shard log %s: store record batch: gave up after %v: %w", a.stream, publishTimeout, err)
		case <-closing:
			a.recount = true
			return 0, fmt.Errorf("shard log %s: store record batch: %w while retrying after: %w", a.stream, ErrStoreClosed, err)
		}
		wait = min(2*wait, retryWaitMax)
	}
}

// attempt publishes msg, holding n records, once, and says whether a
// failed attempt may be made again.
func (a *jsPublisher) attempt(ctx context.Context, id string, msg []byte, n int) (seq uint64, retry bool, err error) {
	cluster := id != ""
	if epoch := a.store.health.epoch.Load(); epoch != a.epoch {
		a.recount, a.epoch = true, epoch
	}
	if a.recount {
		// One attempt's time, as for the publish: a request to a leader
		// that just died is never answered, and must not use up the
		// publish's whole time.
		rctx, rcancel := a.store.attemptContext(ctx)
		count, last, err := a.lastRecordCount(rctx)
		rcancel()
		if err != nil {
			return 0, cluster, fmt.Errorf("read the record count: %w", err)
		}
		a.records, a.lastSeq, a.recount = count, last, false
	}
	actx, cancel := a.store.attemptContext(ctx)
	defer cancel()
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(a.stream), jetstream.WithExpectLastSequence(a.lastSeq)}
	if cluster {
		// publish retries itself; the client's own retries would only
		// delay the next attempt.
		opts = append(opts, jetstream.WithMsgID(id), jetstream.WithRetryAttempts(0))
	}
	ack, err := a.store.js.PublishMsg(actx, recordsMsg(a.subject, msg, a.records+int64(n)), opts...)
	switch {
	case err == nil:
		if ack.Duplicate {
			// An earlier attempt stored it: read the count it ended with.
			a.recount = true
		} else {
			a.records += int64(n)
			a.lastSeq = ack.Sequence
		}
		return ack.Sequence, false, nil
	case isWrongLastSequence(err):
		// Another node's appender wrote to the shard since this one read
		// its count: nothing was stored; count again and retry.
		a.recount = true
		return 0, true, err
	case cluster:
		return 0, retryablePublish(err), err
	}
	return 0, false, err
}

// isWrongLastSequence reports whether a publish was refused because the
// shard's last message is not the one it expected.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// JetStream error codes of a cluster that cannot take a message now: no
// leader, a stream offline or catching up, the message id still in flight.
const (
	jsErrClusterNotAvailable        = 10008
	jsErrClusterNotLeader           = 10009
	jsErrStreamOffline              = 10118
	jsErrDuplicateMessageInProgress = 10158
	jsErrExpectedLastSeqNotReady    = 10163
	jsErrStreamOfflineReason        = 10194
)

// retryablePublish reports whether a publish on a cluster that failed with
// err may be made again under its message id: when the cluster answered
// nothing or that it cannot take messages now, or the connection is down,
// but not when it refused the message (a limit, an unknown stream).
func retryablePublish(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jsErrClusterNotAvailable, jsErrClusterNotLeader, jsErrStreamOffline, jsErrDuplicateMessageInProgress,
			jsErrExpectedLastSeqNotReady, jsErrStreamOfflineReason:
			return true
		}
		return false
	}
	return !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrMaxPayload) && !errors.Is(err, nats.ErrBadSubject)
}

// randomID returns 16 random characters, unique among the appenders of every
// node for good.
func randomID() string { return rand.Text()[:16] }

// lastRecordCount returns the running record count of a shard's last
// message, where its appender's count goes on from (0 for an empty shard),
// and that message's sequence, which the next message expects to follow.
func (a *jsPublisher) lastRecordCount(ctx context.Context) (count int64, last uint64, err error) {
	js, err := a.store.js.Stream(ctx, a.stream)
	if err != nil {
		return 0, 0, err
	}
	state := js.CachedInfo().State
	m, err := js.GetLastMsgForSubject(ctx, a.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		if state.Msgs > 0 {
			// A replica behind the stream's leader answered: a publish
			// expecting its view would fail, so ask again.
			return 0, 0, fmt.Errorf("shard log %s: a replica does not have message %d yet", a.stream, state.LastSeq)
		}
		return 0, state.LastSeq, nil // empty, or trimmed to nothing
	}
	if err != nil {
		return 0, 0, err
	}
	if n := recordsThrough(m.Header); n >= 0 {
		return n, m.Sequence, nil
	}
	// A message from before records were counted: count from its own records.
	n, err := batchCount(m.Data)
	if err != nil {
		return 0, m.Sequence, nil
	}
	return int64(n), m.Sequence, nil
}
