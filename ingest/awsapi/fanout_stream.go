package awsapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/shards"
)

// streamResponder is an answer that writes itself: an event stream.
type streamResponder interface {
	respond(w http.ResponseWriter)
}

// subscription is one SubscribeToShard being served.
type subscription struct {
	s           *Server
	key         subKey
	consumerARN string
	ref         consumerRef
	created     int64 // the consumer's, to notice it deregistered and registered again
	stream      Stream
	shard       int
	from        shards.Sequence // where it starts, inclusive
	eventBytes  int             // record data per event
	budget      *ingest.Budget  // the request's share of the in-flight limit
	base        int64           // what budget holds between events
	codec       codec
	http1       bool      // the request came over HTTP/1.x
	started     time.Time // by the server's clock
	ctx         context.Context
	cancel      func(*apiError) // ends it with an exception
}

// errSubscriptionOver is the cause of a subscription's end at its time.
var errSubscriptionOver = errors.New("subscription over")

func (sub *subscription) respond(w http.ResponseWriter) {
	defer sub.s.fanout.close(sub)
	defer sub.cancel(nil)
	opts := sub.s.opts.FanOut
	ctx, cancel := context.WithTimeoutCause(sub.ctx, opts.Subscription, errSubscriptionOver)
	defer cancel()
	if sub.http1 {
		// The AWS SDK for Go closes a request's body as soon as the answer
		// begins; net/http's HTTP/1.1 transport, then still making sure the
		// body holds no bytes past its length, takes the io.EOF it gets for
		// a failed write and closes the connection. An event stream answered
		// within microseconds of its request would die at once: a moment's
		// wait lets the client's writer finish first.
		t := time.NewTimer(http1AnswerDelay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	ew := newEventWriter(w, sub.codec, opts.WriteTimeout)
	// The server's ReadTimeout would end an HTTP/1.1 request's context
	// while the answer streams: the subscription sets its own.
	ew.rc.SetReadDeadline(time.Now().Add(opts.Subscription + opts.WriteTimeout))
	if err := ew.start(); err != nil {
		return
	}
	err := sub.run(ctx, ew)
	if err == nil {
		return
	}
	var aerr *apiError
	var werr *writeError
	switch cause := context.Cause(ctx); {
	case errors.As(err, &werr): // the client went away, or stopped reading
		sub.s.logger.Debug("SubscribeToShard: write an event", "error", err)
		return
	case errors.As(err, &aerr):
	case errors.Is(cause, errSubscriptionOver), errors.Is(context.Cause(sub.ctx), errSubscriptionOver):
		return
	case errors.As(cause, &aerr):
	case sub.ctx.Err() != nil: // the client went away
		return
	default:
		aerr = sub.s.internal("SubscribeToShard", err)
	}
	ew.exception(aerr)
}

// subscribeEvent is a SubscribeToShardEvent. At the end of a closed shard it
// has no ContinuationSequenceNumber and names the shard's children.
type subscribeEvent struct {
	Records                    []kinesisOutRecord `json:"Records"`
	ContinuationSequenceNumber *string            `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64              `json:"MillisBehindLatest"`
	ChildShards                []childShard       `json:"ChildShards,omitempty"`
}

// run sends the shard's records from sub.from until ctx ends, the shard
// ends, or a write fails. Records are read by position while the
// subscription is behind, then pushed by a reader as they are stored.
func (sub *subscription) run(ctx context.Context, ew *eventWriter) error {
	s, st := sub.s, sub.stream
	out := &eventSender{sub: sub, ew: ew, pace: newPacer(sub.s.opts.FanOut.BytesPerSecond), cont: sub.from - 1, lastEvent: time.Now()}
	if sub.from == 0 {
		out.cont = 0
	}
	next := sub.from
	var reader *shards.Reader
	defer func() {
		if reader != nil {
			reader.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		changed := st.Log.Changed()
		lin := st.Log.Lineage()
		if sub.shard >= len(lin.Shards) {
			return errNotFound("Shard %s in stream %s under account %s does not exist", shards.ShardID(sub.shard), st.Name, s.opts.AccountID)
		}
		sh := lin.Shards[sub.shard]
		if reader == nil {
			if err := out.hold(ctx, answerReserve(int64(sub.eventBytes), 1, false)); err != nil {
				return err
			}
			page, err := s.store.Read(ctx, st.Name, sub.shard, next, maxGetRecords, sub.eventBytes)
			if len(page.Records) == 0 {
				sub.budget.Shrink(sub.base)
			}
			if err != nil {
				return err
			}
			if len(page.Records) > 0 {
				if err := out.send(ctx, page.Records, page.Behind); err != nil {
					return err
				}
				next = page.Next
				continue
			}
			end, err := s.atShardEnd(ctx, st.Name, sh, page)
			if err != nil {
				return err
			}
			if end {
				return out.end(ctx, childShards(lin, sh.ID))
			}
			next = page.Next
			after := shards.Sequence(0)
			if next > 0 {
				after = next - 1
			}
			if reader, err = s.store.OpenReader(ctx, st.Name, sub.shard, after); err != nil {
				return err
			}
		} else if !sh.IsOpen() && next.Message() > sh.LastMessage {
			return out.end(ctx, childShards(lin, sh.ID))
		}
		recs, err := out.wait(ctx, reader, changed)
		var corrupt *shards.CorruptMessageError
		switch {
		case errors.As(err, &corrupt):
			s.logger.Warn("SubscribeToShard skips a corrupt message of the shard log", "stream", st.Name, "shard", sub.shard, "error", err)
			next = corrupt.Last + 1
		case err != nil:
			return err
		case len(recs) > 0:
			if err := out.send(ctx, recs, 0); err != nil {
				return err
			}
			// The reader returns what is left of a message whole.
			next = shards.MakeSequence(recs[len(recs)-1].Sequence.Message()+1, 0)
		}
	}
}

// eventSender sends one subscription's events.
type eventSender struct {
	sub       *subscription
	ew        *eventWriter
	pace      *pacer
	cont      shards.Sequence // the last record sent, or the one before the start
	lastEvent time.Time
	records   []kinesisOutRecord
}

// wait returns the records the reader yields next, or none when the
// heartbeat interval passed (after sending a heartbeat event, and checking
// that the consumer is still registered) or the stream's lineage changed.
func (e *eventSender) wait(ctx context.Context, reader *shards.Reader, changed <-chan struct{}) ([]shards.StoredRecord, error) {
	opts := e.sub.s.opts.FanOut
	waitCtx, cancel := context.WithTimeout(ctx, time.Until(e.lastEvent.Add(opts.Heartbeat)))
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-waitCtx.Done():
		}
	}()
	recs, err := reader.Next(waitCtx)
	if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return recs, err
	}
	if time.Since(e.lastEvent) < opts.Heartbeat {
		return nil, nil // the lineage changed
	}
	if aerr := e.sub.stillRegistered(ctx); aerr != nil {
		return nil, aerr
	}
	return nil, e.event(ctx, nil, 0, nil)
}

// stillRegistered checks that the subscription's consumer is registered
// (a deregistration on another node ends it here too).
func (sub *subscription) stillRegistered(ctx context.Context) *apiError {
	_, sc, aerr := sub.s.findByRef(ctx, sub.ref, sub.s.now())
	if aerr != nil {
		return aerr
	}
	if sc.Deleting != 0 || sc.Created != sub.created {
		return errNotFound("Consumer %s was deregistered.", sub.consumerARN)
	}
	return nil
}

// send sends recs in events of at most the subscription's event bytes,
// paced to its rate.
func (e *eventSender) send(ctx context.Context, recs []shards.StoredRecord, behind time.Duration) error {
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+len(recs[n].Data)+len(recs[n].PartitionKey) <= e.sub.eventBytes) {
			size += len(recs[n].Data) + len(recs[n].PartitionKey)
			n++
		}
		if err := e.pace.wait(ctx, size); err != nil {
			return err
		}
		if err := e.hold(ctx, answerReserve(int64(size), int64(n), false)); err != nil {
			return err
		}
		err := e.event(ctx, recs[:n], behind, nil)
		e.sub.budget.Shrink(e.sub.base)
		if err != nil {
			return err
		}
		e.sub.s.opts.Metrics.FanOut(e.sub.stream.Name).Count(n, size)
		recs = recs[n:]
	}
	return nil
}

// hold makes the subscription hold n bytes of the in-flight limit, waiting
// up to holdWait for room (then going on without).
func (e *eventSender) hold(ctx context.Context, n int64) error {
	deadline := time.Now().Add(holdWait)
	for !e.sub.budget.Ensure(n) && time.Now().Before(deadline) {
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// end sends the last event of a closed shard read to its end.
func (e *eventSender) end(ctx context.Context, children []childShard) error {
	if children == nil {
		children = []childShard{}
	}
	return e.event(ctx, nil, 0, children)
}

// event writes one SubscribeToShardEvent.
func (e *eventSender) event(_ context.Context, recs []shards.StoredRecord, behind time.Duration, children []childShard) error {
	out := subscribeEvent{Records: e.records[:0], MillisBehindLatest: behind.Milliseconds(), ChildShards: children}
	for _, r := range recs {
		out.Records = append(out.Records, kinesisOutRecord{SequenceNumber: r.Sequence.String(), ApproximateArrivalTimestamp: epochTime{r.Arrival},
			Data: r.Data, PartitionKey: r.PartitionKey, EncryptionType: e.sub.s.encryptionType()})
	}
	if len(recs) > 0 {
		e.cont = recs[len(recs)-1].Sequence
	}
	if children == nil {
		cont := e.cont.String()
		out.ContinuationSequenceNumber = &cont
	}
	err := e.ew.event("SubscribeToShardEvent", out)
	clear(out.Records) // hold no record data between events
	e.records = out.Records[:0]
	e.lastEvent = time.Now()
	return err
}

// pacer paces a subscription's record data to its rate: a token bucket
// holding a second's worth.
type pacer struct {
	rate   float64 // bytes per second
	tokens float64
	last   time.Time
}

func newPacer(rate int) *pacer {
	return &pacer{rate: float64(rate), tokens: float64(rate), last: time.Now()}
}

// wait returns once n bytes may be sent (an event larger than a second's
// worth waits for a full bucket and leaves it in debt).
func (p *pacer) wait(ctx context.Context, n int) error {
	now := time.Now()
	p.tokens = min(p.rate, p.tokens+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	need := min(float64(n), p.rate)
	if p.tokens < need {
		d := time.Duration((need - p.tokens) / p.rate * float64(time.Second))
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		now = time.Now()
		p.tokens = min(p.rate, p.tokens+now.Sub(p.last).Seconds()*p.rate)
		p.last = now
	}
	p.tokens -= float64(n)
	return nil
}
