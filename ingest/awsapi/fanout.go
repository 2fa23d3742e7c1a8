package awsapi

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/shards"
)

// FanOutOptions configure enhanced fan-out: stream consumers and their
// SubscribeToShard event streams. The zero value is AWS's behaviour.
type FanOutOptions struct {
	// MaxConsumers is how many consumers a stream may have registered
	// (default 20, as in AWS).
	MaxConsumers int
	// ConsumerActivation is how long a registered consumer is CREATING
	// before it is ACTIVE, and a deregistered one DELETING before it is
	// gone (default 1 s; AWS takes seconds).
	ConsumerActivation time.Duration
	// Subscription is how long a SubscribeToShard event stream lasts before
	// the server ends it, cleanly (default 5 min, as in AWS); the client
	// subscribes again from the last event's ContinuationSequenceNumber.
	Subscription time.Duration
	// Heartbeat is the longest time without an event: a subscription at
	// the tip of its shard is sent an event without records this often
	// (default 5 s).
	Heartbeat time.Duration
	// BytesPerSecond is the most record data a subscription is sent per
	// second (default 2 MiB, as in AWS); events are paced, never dropped.
	BytesPerSecond int
	// WriteTimeout bounds each event's write: a client that stops reading
	// for longer loses its subscription (default 30 s).
	WriteTimeout time.Duration
	// Stop, when closed, ends every subscription as if its time were up
	// (the server is shutting down: clients subscribe again, elsewhere or
	// once it is back). nil: never.
	Stop <-chan struct{}
	_    struct{}
}

func (o *FanOutOptions) setDefaults() {
	if o.MaxConsumers <= 0 {
		o.MaxConsumers = 20
	}
	if o.ConsumerActivation <= 0 {
		o.ConsumerActivation = time.Second
	}
	if o.Subscription <= 0 {
		o.Subscription = 5 * time.Minute
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.BytesPerSecond <= 0 {
		o.BytesPerSecond = 2 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
}

const (
	// takeoverAfter is how long a subscription of a consumer to a shard is
	// kept from a second SubscribeToShard of the same (which is refused
	// with ResourceInUseException meanwhile); after it, the second takes
	// over and the first ends with ResourceInUseException. As in AWS.
	takeoverAfter = 5 * time.Second
	// maxEventBytes bounds the record data of one event.
	maxEventBytes = 1 << 20
	// leastEventBytes is the smallest event budget a subscription starts with.
	leastEventBytes = 64 << 10
	// http1AnswerDelay is how long an HTTP/1.1 subscription waits before
	// its answer begins (see subscription.respond).
	http1AnswerDelay = 5 * time.Millisecond
)

// fanout tracks this node's open subscriptions, one per consumer and shard.
type fanout struct {
	mu   sync.Mutex
	subs map[subKey]*subscription
	// stopped ends when FanOutOptions.Stop is closed.
	stopped context.Context
}

type subKey struct {
	consumer string // stream/consumer/name:epoch
	shard    int
}

func newFanout(stop <-chan struct{}) *fanout {
	f := &fanout{subs: map[subKey]*subscription{}, stopped: context.Background()}
	if stop != nil {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-stop
			cancel()
		}()
		f.stopped = ctx
	}
	return f
}

// open registers sub, or refuses it when a subscription of the same
// consumer and shard started less than takeoverAfter before; an older one
// is ended.
func (f *fanout) open(sub *subscription, now time.Time) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.subs[sub.key]; ok {
		if now.Sub(old.started) < takeoverAfter {
			return newError(http.StatusBadRequest, "ResourceInUseException",
				"Another active subscription exists on this consumer (%s) and shard (%s); a new one may take it over %v after it started.",
				sub.consumerARN, shards.ShardID(sub.shard), takeoverAfter)
		}
		old.cancel(newError(http.StatusBadRequest, "ResourceInUseException",
			"A newer SubscribeToShard of this consumer (%s) and shard (%s) took over the subscription.", sub.consumerARN, shards.ShardID(sub.shard)))
	}
	f.subs[sub.key] = sub
	return nil
}

func (f *fanout) close(sub *subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs[sub.key] == sub {
		delete(f.subs, sub.key)
	}
}

// endConsumer ends the subscriptions of a consumer with aerr.
func (f *fanout) endConsumer(consumerARN string, aerr *apiError) {
	ref, ok := consumerKeyOf(consumerARN)
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, sub := range f.subs {
		if k.consumer == ref {
			sub.cancel(aerr)
		}
	}
}

// consumerKeyOf is the part of a consumer ARN that names it whatever the
// region it was asked in: stream/NAME/consumer/CNAME:EPOCH.
func consumerKeyOf(arn string) (string, bool) {
	m := consumerARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[2] + "/consumer/" + m[3] + ":" + m[4], true
}

type startingPosition struct {
	Type           string    `json:"Type"`
	SequenceNumber string    `json:"SequenceNumber,omitempty"`
	Timestamp      epochTime `json:"Timestamp,omitempty"`
}

type subscribeToShardRequest struct {
	ConsumerARN      string            `json:"ConsumerARN"`
	ShardID          string            `json:"ShardId"`
	StartingPosition *startingPosition `json:"StartingPosition"`
}

// SubscribeToShard is authorized on the consumer's ARN, as IAM does.
func (r *subscribeToShardRequest) resource(*Server) (string, string) {
	ref, _ := consumerKeyOf(r.ConsumerARN)
	return "stream", ref
}

func (s *Server) subscribeToShard(ctx context.Context, c *call, req *subscribeToShardRequest) (any, *apiError) {
	switch {
	case req.ConsumerARN == "":
		return nil, errValidation("%s", validationMessage(nil, "consumerARN", "Member must not be null"))
	case req.ShardID == "":
		return nil, errValidation("%s", validationMessage(nil, "shardId", "Member must not be null"))
	case req.StartingPosition == nil:
		return nil, errValidation("%s", validationMessage(nil, "startingPosition", "Member must not be null"))
	}
	ref, aerr := s.parseConsumerARN(req.ConsumerARN)
	if aerr != nil {
		return nil, aerr
	}
	st, sc, aerr := s.findByRef(ctx, ref, c.now)
	if aerr != nil {
		return nil, aerr
	}
	if status := s.consumerStatus(sc, c.now); status != "ACTIVE" {
		return nil, newError(http.StatusBadRequest, "ResourceInUseException", "Consumer %s is not ACTIVE (it is %s).", req.ConsumerARN, status)
	}
	shard, err := shards.ParseShardID(req.ShardID)
	if err != nil || shard >= st.Log.Shards() {
		return nil, errNotFound("Shard %s in stream %s under account %s does not exist", req.ShardID, st.Name, s.opts.AccountID)
	}
	from, aerr := s.subscribeFrom(ctx, st.Name, shard, req.ShardID, *req.StartingPosition)
	if aerr != nil {
		return nil, aerr
	}
	// An event is held until the client reads it: the subscription holds
	// what one needs of the in-flight limit, as much of a full one as fits.
	budget := ingest.BudgetFrom(ctx)
	eventBytes := min(maxEventBytes, s.opts.FanOut.BytesPerSecond)
	held, ok := budget.EnsureUpTo(answerReserve(int64(eventBytes), 1000, false), answerReserve(leastEventBytes, 1, false))
	if !ok {
		return nil, newError(http.StatusServiceUnavailable, "ServiceUnavailableException", "%s", ingest.BusyMessage)
	}
	factor, base := answerCost(false)
	eventBytes = int(min(int64(eventBytes), (held-base)/factor))
	key, _ := consumerKeyOf(req.ConsumerARN)
	subCtx, cancel := context.WithCancelCause(ctx)
	sub := &subscription{s: s, key: subKey{consumer: key, shard: shard}, consumerARN: req.ConsumerARN, ref: ref,
		created: sc.Created, stream: st, shard: shard, from: from, eventBytes: eventBytes, codec: c.codec, http1: c.r.ProtoMajor < 2,
		started: c.now, ctx: subCtx}
	sub.cancel = func(aerr *apiError) {
		if aerr == nil {
			cancel(nil)
			return
		}
		cancel(aerr)
	}
	if aerr := s.fanout.open(sub, c.now); aerr != nil {
		cancel(nil)
		return nil, aerr
	}
	stop := context.AfterFunc(s.fanout.stopped, func() { cancel(errSubscriptionOver) })
	context.AfterFunc(subCtx, func() { stop() })
	return sub, nil
}

// subscribeFrom is the sequence a subscription starts at (inclusive).
func (s *Server) subscribeFrom(ctx context.Context, stream string, shard int, shardID string, p startingPosition) (shards.Sequence, *apiError) {
	switch p.Type {
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		invalid := errInvalidArgument("StartingSequenceNumber %s used in SubscribeToShard on shard %s in stream %s under account %s is invalid because it did not come from this stream.",
			p.SequenceNumber, shardID, stream, s.opts.AccountID)
		if !sequencePattern.MatchString(p.SequenceNumber) {
			return 0, invalid
		}
		seq, err := shards.ParseSequence(p.SequenceNumber)
		if err != nil {
			return 0, invalid
		}
		info, err := s.store.ShardInfo(ctx, stream, shard)
		if err != nil {
			return 0, s.internal("SubscribeToShard", err)
		}
		// A continuation sequence number may name the position before a
		// shard's first record (message 0) or a record's last possible
		// index; past the newest message it did not come from here.
		if seq.Message() > info.LastMsg {
			return 0, invalid
		}
		if p.Type == "AFTER_SEQUENCE_NUMBER" {
			seq++
		}
		return seq, nil
	case "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP":
		if p.Type == "AT_TIMESTAMP" && p.Timestamp.IsZero() {
			return 0, errInvalidArgument("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")
		}
		from, err := s.store.Position(ctx, stream, shard, p.Type, p.Timestamp.Time)
		if err != nil {
			return 0, s.internal("SubscribeToShard", err)
		}
		return from, nil
	}
	return 0, errValidation("%s", validationMessage(p.Type, "startingPosition.type",
		"Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"))
}

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
			page, err := s.store.Read(ctx, st.Name, sub.shard, next, maxGetRecords, sub.eventBytes)
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
		if err := e.event(ctx, recs[:n], behind, nil); err != nil {
			return err
		}
		e.sub.s.opts.Metrics.FanOut(e.sub.stream.Name).Count(n, size)
		recs = recs[n:]
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
