package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Enhanced fan-out consumers (RegisterStreamConsumer and its kin). A
// stream's consumers are one definition in the shard store's catalog
// (shards.Store's meta), changed with a compare-and-set, so that the limit
// and the uniqueness of names hold across the nodes of a cluster, and the
// consumers survive a restart. The definition names the stream's creation
// time: a stream deleted and created again does not inherit its
// predecessor's consumers.

// consumerSet is a stream's consumers as stored.
type consumerSet struct {
	StreamCreated int64            `json:"stream_created"` // epoch ms of the stream they belong to
	Consumers     []storedConsumer `json:"consumers"`
}

// storedConsumer is one registered consumer.
type storedConsumer struct {
	Name     string `json:"name"`
	Created  int64  `json:"created"`            // epoch ms
	Deleting int64  `json:"deleting,omitempty"` // epoch ms of DeregisterStreamConsumer; 0: registered
}

const (
	consumerPrefix = "consumers."
	// consumerSwapTries bounds the compare-and-set retries of a change.
	consumerSwapTries = 16
)

var consumerARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:[a-z0-9-]*:(\d{12}):stream/([a-zA-Z0-9_.-]{1,128})/consumer/([a-zA-Z0-9_.-]{1,128}):(\d{1,19})$`)

// consumerKey is the catalog key of stream's consumers (names may hold
// dots where a KV key may not, so they are base64url-encoded).
func consumerKey(stream string) string {
	return consumerPrefix + base64.RawURLEncoding.EncodeToString([]byte(stream))
}

// status is c's ConsumerStatus at now: CREATING for the activation delay
// after it was registered, then ACTIVE; DELETING once deregistered.
func (s *Server) consumerStatus(c storedConsumer, now time.Time) string {
	switch {
	case c.Deleting != 0:
		return "DELETING"
	case now.Before(time.UnixMilli(c.Created).Add(s.opts.FanOut.ConsumerActivation)):
		return "CREATING"
	}
	return "ACTIVE"
}

// gone reports whether c was deregistered long enough ago to be forgotten.
func (s *Server) consumerGone(c storedConsumer, now time.Time) bool {
	return c.Deleting != 0 && !now.Before(time.UnixMilli(c.Deleting).Add(s.opts.FanOut.ConsumerActivation))
}

// consumerARN is c's ARN: the stream's, then /consumer/NAME:EPOCHSECONDS.
func (s *Server) consumerARN(region, stream string, c storedConsumer) string {
	return s.arn("kinesis", region, "stream/"+stream+"/consumer/"+c.Name+":"+strconv.FormatInt(time.UnixMilli(c.Created).Unix(), 10))
}

// loadConsumers reads st's consumers, without those forgotten, and the
// revision of their key (0: none stored).
func (s *Server) loadConsumers(ctx context.Context, st Stream, now time.Time) (consumerSet, uint64, error) {
	v, rev, err := s.store.GetMeta(ctx, consumerKey(st.Name))
	if err != nil || v == nil {
		return consumerSet{StreamCreated: st.Created.UnixMilli()}, rev, err
	}
	var set consumerSet
	if err := json.Unmarshal(v, &set); err != nil {
		return consumerSet{}, 0, fmt.Errorf("consumers of %s: %w", st.Name, err)
	}
	if set.StreamCreated != st.Created.UnixMilli() {
		return consumerSet{StreamCreated: st.Created.UnixMilli()}, rev, nil // a deleted stream's
	}
	kept := set.Consumers[:0]
	for _, c := range set.Consumers {
		if !s.consumerGone(c, now) {
			kept = append(kept, c)
		}
	}
	set.Consumers = kept
	return set, rev, nil
}

// changeConsumers applies change to st's consumers and stores the result,
// again from a fresh read when another writer came first. This node's
// changes take turns; another node's may still come first (a few times, at
// most, for changes are rare).
func (s *Server) changeConsumers(ctx context.Context, st Stream, now time.Time, change func(*consumerSet) *apiError) *apiError {
	s.fanout.changing.Lock()
	defer s.fanout.changing.Unlock()
	for try := range consumerSwapTries {
		if try > 0 {
			t := time.NewTimer(time.Duration(rand.Int64N(int64(try) * int64(time.Millisecond))))
			select {
			case <-ctx.Done():
				t.Stop()
				return s.internal("store consumers", ctx.Err())
			case <-t.C:
			}
		}
		set, rev, err := s.loadConsumers(ctx, st, now)
		if err != nil {
			return s.internal("read consumers", err)
		}
		if aerr := change(&set); aerr != nil {
			return aerr
		}
		v, err := json.Marshal(set)
		if err != nil {
			return s.internal("encode consumers", err)
		}
		if _, err = s.store.SwapMeta(ctx, consumerKey(st.Name), v, rev); err == nil {
			return nil
		} else if !errors.Is(err, shards.ErrMetaChanged) {
			return s.internal("store consumers", err)
		}
	}
	return newError(http.StatusBadRequest, "ResourceInUseException", "the consumers of stream %s are being changed by other requests: retry", st.Name)
}

// deleteConsumers forgets stream's consumers (the stream is deleted).
func (s *Server) deleteConsumers(ctx context.Context, stream string) error {
	return s.store.DeleteMeta(ctx, consumerKey(stream))
}

// consumerCount is the number of st's registered consumers (not being
// deleted), for DescribeStreamSummary.
func (s *Server) consumerCount(ctx context.Context, st Stream, now time.Time) (int, error) {
	set, _, err := s.loadConsumers(ctx, st, now)
	n := 0
	for _, c := range set.Consumers {
		if c.Deleting == 0 {
			n++
		}
	}
	return n, err
}

// consumerCountOf is consumerCount, 0 when the consumers cannot be read
// (logged): DescribeStreamSummary answers without them.
func (s *Server) consumerCountOf(ctx context.Context, st Stream, now time.Time) int {
	n, err := s.consumerCount(ctx, st, now)
	if err != nil {
		s.logger.Error("AWS API: read the consumers of a stream", "stream", st.Name, "error", err)
	}
	return n
}

func findConsumer(set consumerSet, name string) (storedConsumer, int) {
	for i, c := range set.Consumers {
		if c.Name == name {
			return c, i
		}
	}
	return storedConsumer{}, -1
}

// consumerOut is a Consumer, or with StreamARN a ConsumerDescription.
type consumerOut struct {
	ConsumerName              string    `json:"ConsumerName"`
	ConsumerARN               string    `json:"ConsumerARN"`
	ConsumerStatus            string    `json:"ConsumerStatus"`
	ConsumerCreationTimestamp epochTime `json:"ConsumerCreationTimestamp"`
	StreamARN                 string    `json:"StreamARN,omitempty"`
}

func (s *Server) consumerOut(c *call, stream string, sc storedConsumer) consumerOut {
	return consumerOut{ConsumerName: sc.Name, ConsumerARN: s.consumerARN(c.region, stream, sc),
		ConsumerStatus: s.consumerStatus(sc, c.now), ConsumerCreationTimestamp: epochTime{time.UnixMilli(sc.Created).UTC()}}
}

// validConsumerName checks a ConsumerName.
func validConsumerName(name string) *apiError {
	if name == "" {
		return errValidation("%s", validationMessage(nil, "consumerName", "Member must not be null"))
	}
	if !streamNamePattern.MatchString(name) {
		return errValidation("%s", validationMessage(name, "consumerName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128"))
	}
	return nil
}

// streamByARN resolves a request's required StreamARN.
func (s *Server) streamByARN(arn string) (Stream, *apiError) {
	if arn == "" {
		return Stream{}, errValidation("%s", validationMessage(nil, "streamARN", "Member must not be null"))
	}
	return s.stream(streamRef{StreamARN: arn})
}

type registerConsumerRequest struct {
	StreamARN    string `json:"StreamARN"`
	ConsumerName string `json:"ConsumerName"`
}

func (s *Server) registerStreamConsumer(ctx context.Context, c *call, req *registerConsumerRequest) (any, *apiError) {
	if aerr := validConsumerName(req.ConsumerName); aerr != nil {
		return nil, aerr
	}
	st, aerr := s.streamByARN(req.StreamARN)
	if aerr != nil {
		return nil, aerr
	}
	var added storedConsumer
	aerr = s.changeConsumers(ctx, st, c.now, func(set *consumerSet) *apiError {
		if old, i := findConsumer(*set, req.ConsumerName); i >= 0 {
			return newError(http.StatusBadRequest, "ResourceInUseException", "Consumer %s under account %s already exists.",
				s.consumerARN(c.region, st.Name, old), s.opts.AccountID)
		}
		if len(set.Consumers) >= s.opts.FanOut.MaxConsumers {
			return newError(http.StatusBadRequest, "LimitExceededException",
				"Stream %s under account %s has %d consumers registered, the most a stream may have.", st.Name, s.opts.AccountID, len(set.Consumers))
		}
		added = storedConsumer{Name: req.ConsumerName, Created: c.now.UnixMilli()}
		set.Consumers = append(set.Consumers, added)
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	return map[string]consumerOut{"Consumer": s.consumerOut(c, st.Name, added)}, nil
}

// consumerLocator names a consumer: by its ARN, or by its stream's ARN and
// its name.
type consumerLocator struct {
	StreamARN    string `json:"StreamARN,omitempty"`
	ConsumerName string `json:"ConsumerName,omitempty"`
	ConsumerARN  string `json:"ConsumerARN,omitempty"`
}

// consumerRef is a consumer as a ConsumerARN names it.
type consumerRef struct {
	stream, name string
	epoch        int64 // seconds; -1 when named without its ARN
}

// parseConsumerARN reads a ConsumerARN; a malformed one is a
// ValidationException, one of another account ResourceNotFoundException.
func (s *Server) parseConsumerARN(arn string) (consumerRef, *apiError) {
	m := consumerARNPattern.FindStringSubmatch(arn)
	if m == nil {
		return consumerRef{}, errValidation("%s", validationMessage(arn, "consumerARN",
			`Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+`))
	}
	epoch, err := strconv.ParseInt(m[4], 10, 64)
	if err != nil || m[1] != s.opts.AccountID {
		return consumerRef{}, errNotFound("Consumer %s not found.", arn)
	}
	return consumerRef{stream: m[2], name: m[3], epoch: epoch}, nil
}

// ref resolves what a locator names, without reading the consumers.
func (s *Server) consumerRef(l consumerLocator) (consumerRef, *apiError) {
	if l.ConsumerARN != "" {
		return s.parseConsumerARN(l.ConsumerARN)
	}
	if l.StreamARN == "" || l.ConsumerName == "" {
		return consumerRef{}, errInvalidArgument("ConsumerARN, or both StreamARN and ConsumerName, must be given to name a consumer.")
	}
	if aerr := validConsumerName(l.ConsumerName); aerr != nil {
		return consumerRef{}, aerr
	}
	name, ok := nameFromARN(l.StreamARN, "stream")
	if !ok || !streamNamePattern.MatchString(name) {
		return consumerRef{}, errInvalidArgument("StreamARN %q is not a Kinesis stream ARN", l.StreamARN)
	}
	return consumerRef{stream: name, name: l.ConsumerName, epoch: -1}, nil
}

// findByRef reads the consumer ref names, as stored: ResourceNotFoundException
// when there is none (or the ARN names an earlier consumer of that name).
func (s *Server) findByRef(ctx context.Context, ref consumerRef, now time.Time) (Stream, storedConsumer, *apiError) {
	st, ok := s.catalog.Stream(ref.stream)
	if !ok {
		return Stream{}, storedConsumer{}, errNotFound("Stream %s under account %s not found.", ref.stream, s.opts.AccountID)
	}
	set, _, err := s.loadConsumers(ctx, st, now)
	if err != nil {
		return Stream{}, storedConsumer{}, s.internal("read consumers", err)
	}
	sc, i := findConsumer(set, ref.name)
	if i < 0 || (ref.epoch >= 0 && time.UnixMilli(sc.Created).Unix() != ref.epoch) {
		return Stream{}, storedConsumer{}, errNotFound("Consumer %s of stream %s under account %s not found.", ref.name, ref.stream, s.opts.AccountID)
	}
	return st, sc, nil
}

func (s *Server) describeStreamConsumer(ctx context.Context, c *call, req *consumerLocator) (any, *apiError) {
	ref, aerr := s.consumerRef(*req)
	if aerr != nil {
		return nil, aerr
	}
	st, sc, aerr := s.findByRef(ctx, ref, c.now)
	if aerr != nil {
		return nil, aerr
	}
	out := s.consumerOut(c, st.Name, sc)
	out.StreamARN = s.arn("kinesis", c.region, "stream/"+st.Name)
	return map[string]consumerOut{"ConsumerDescription": out}, nil
}

func (s *Server) deregisterStreamConsumer(ctx context.Context, c *call, req *consumerLocator) (any, *apiError) {
	ref, aerr := s.consumerRef(*req)
	if aerr != nil {
		return nil, aerr
	}
	st, sc, aerr := s.findByRef(ctx, ref, c.now)
	if aerr != nil {
		return nil, aerr
	}
	aerr = s.changeConsumers(ctx, st, c.now, func(set *consumerSet) *apiError {
		cur, i := findConsumer(*set, sc.Name)
		if i < 0 || cur.Created != sc.Created {
			return errNotFound("Consumer %s of stream %s under account %s not found.", sc.Name, st.Name, s.opts.AccountID)
		}
		if cur.Deleting == 0 {
			set.Consumers[i].Deleting = c.now.UnixMilli()
		}
		return nil
	})
	if aerr != nil {
		return nil, aerr
	}
	s.fanout.endConsumer(s.consumerARN(c.region, st.Name, sc), errNotFound("Consumer %s of stream %s under account %s was deregistered.", sc.Name, st.Name, s.opts.AccountID))
	return struct{}{}, nil
}

type listConsumersRequest struct {
	StreamARN  string `json:"StreamARN"`
	NextToken  string `json:"NextToken,omitempty"`
	MaxResults int    `json:"MaxResults,omitempty"`
}

type listConsumersResponse struct {
	Consumers []consumerOut `json:"Consumers"`
	NextToken string        `json:"NextToken,omitempty"`
}

func (s *Server) listStreamConsumers(ctx context.Context, c *call, req *listConsumersRequest) (any, *apiError) {
	limit := req.MaxResults
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 10000 {
		return nil, errValidation("%s", validationMessage(req.MaxResults, "maxResults", "Member must have value between 1 and 10000"))
	}
	st, aerr := s.streamByARN(req.StreamARN)
	if aerr != nil {
		return nil, aerr
	}
	after := ""
	if req.NextToken != "" {
		tok, err := base64.RawURLEncoding.DecodeString(req.NextToken)
		stream, name, ok := strings.Cut(string(tok), "\x00")
		if err != nil || !ok || stream != st.Name {
			return nil, errInvalidArgument("Invalid NextToken: it does not come from a ListStreamConsumers of stream %s.", st.Name)
		}
		after = name
	}
	set, _, err := s.loadConsumers(ctx, st, c.now)
	if err != nil {
		return nil, s.internal("read consumers", err)
	}
	sort.Slice(set.Consumers, func(i, j int) bool { return set.Consumers[i].Name < set.Consumers[j].Name })
	out := listConsumersResponse{Consumers: []consumerOut{}}
	for _, sc := range set.Consumers {
		if sc.Name <= after {
			continue
		}
		if len(out.Consumers) == limit {
			last := out.Consumers[len(out.Consumers)-1].ConsumerName
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(st.Name + "\x00" + last))
			break
		}
		out.Consumers = append(out.Consumers, s.consumerOut(c, st.Name, sc))
	}
	return out, nil
}

// The consumer operations are authorized on the stream (register, list)
// or on the consumer's ARN (describe, deregister), as IAM does.
func (r *registerConsumerRequest) resource(*Server) (string, string) {
	name, _ := nameFromARN(r.StreamARN, "stream")
	return "stream", name
}

func (r *listConsumersRequest) resource(*Server) (string, string) {
	name, _ := nameFromARN(r.StreamARN, "stream")
	return "stream", name
}

func (r *consumerLocator) resource(s *Server) (string, string) {
	return "stream", s.consumerResource(*r)
}

// consumerResource is the resource of a consumer's ARN after "stream/":
// NAME/consumer/CNAME:EPOCH. Named by stream and name, the consumer is
// looked up for its ARN; one that does not exist is "NAME/consumer/CNAME",
// which a policy on the stream's consumers ("stream/NAME/consumer/*") still
// covers.
func (s *Server) consumerResource(l consumerLocator) string {
	ref, aerr := s.consumerRef(l)
	if aerr != nil {
		return ""
	}
	if ref.epoch < 0 {
		if _, sc, aerr := s.findByRef(context.Background(), ref, s.now()); aerr == nil {
			ref.epoch = time.UnixMilli(sc.Created).Unix()
		}
	}
	res := ref.stream + "/consumer/" + ref.name
	if ref.epoch >= 0 {
		res += ":" + strconv.FormatInt(ref.epoch, 10)
	}
	return res
}
