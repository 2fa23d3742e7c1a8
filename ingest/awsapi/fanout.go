package awsapi

import (
	"context"
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
	// leastEventBytes is the event a subscription must have room for in the
	// in-flight limit to start.
	leastEventBytes = 64 << 10
	// holdWait bounds how long an event waits for room in the in-flight
	// limit; then it goes out unaccounted (as a GetRecords answer of one
	// record over its size does), so that no event waits forever.
	holdWait = 5 * time.Second
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
	// changing serializes this node's changes of consumers.
	changing sync.Mutex
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
	// An event is held until the client reads it: a subscription holds its
	// share of the in-flight limit while it reads and sends one (see
	// eventSender.hold), so that one waiting at the tip holds nothing.
	// When even a small event does not fit now, it is refused.
	budget := ingest.BudgetFrom(ctx)
	base, _ := budget.EnsureUpTo(0, 0) // what the request holds already
	if !budget.Ensure(answerReserve(leastEventBytes, 1, false)) {
		return nil, newError(http.StatusServiceUnavailable, "ServiceUnavailableException", "%s", ingest.BusyMessage)
	}
	budget.Shrink(base)
	eventBytes := min(maxEventBytes, s.opts.FanOut.BytesPerSecond)
	key, _ := consumerKeyOf(req.ConsumerARN)
	subCtx, cancel := context.WithCancelCause(ctx)
	sub := &subscription{s: s, key: subKey{consumer: key, shard: shard}, consumerARN: req.ConsumerARN, ref: ref,
		created: sc.Created, stream: st, shard: shard, from: from, eventBytes: eventBytes, budget: budget, base: base, codec: c.codec, http1: c.r.ProtoMajor < 2,
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
