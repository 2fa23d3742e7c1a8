package awsapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/shards"
)

const (
	iteratorTTL       = 5 * time.Minute
	maxGetRecords     = 10000
	maxGetRecordBytes = 10 << 20
	// leastGetRecordBytes is the smallest answer a GetRecords call is
	// served with when the in-flight limit has no room for a full one.
	leastGetRecordBytes = 1 << 20
)

// answerReserve is what a GetRecords answer of data bytes in n records may
// make the server hold until it is written: the log messages read and the
// records cut from them (at most a message more than the data), each
// record's fields and, for a CBOR answer, its encoding whole (4/3) and the
// encoder's buffer (measured: 8 answers of 10 MiB held unread took about 4
// times their data, when JSON ones were encoded whole too). A JSON answer is
// streamed through a 64 KiB buffer (see stream.go).
func answerReserve(data, n int64, streamed bool) int64 {
	factor, base := answerCost(streamed)
	return data*factor + n*256 + base
}

// answerCost is answerReserve's bytes per byte of data, and its bytes
// whatever the data.
func answerCost(streamed bool) (factor, base int64) {
	if streamed {
		return 2, 1 << 20
	}
	return 4, 64 << 10
}

// iterator is the state a shard iterator carries: where to read next and
// when it was issued. On the wire it is opaque base64.
type iterator struct {
	stream string
	shard  int
	next   shards.Sequence
	issued time.Time
}

// iteratorVersion 2 iterators end in an HMAC: one cannot be forged or
// altered (another shard, position, stream or issue time) without the key.
const iteratorVersion = 2

// iteratorMACSize is the bytes of HMAC-SHA256 an iterator carries.
const iteratorMACSize = 16

func (s *Server) encodeIterator(it iterator) string {
	b := []byte{iteratorVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(it.issued.UnixMilli()))
	b = binary.AppendUvarint(b, uint64(it.shard))
	b = binary.AppendUvarint(b, uint64(it.next))
	b = append(b, it.stream...)
	b = append(b, s.iteratorMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) iteratorMAC(b []byte) []byte {
	m := hmac.New(sha256.New, s.iteratorKey)
	m.Write(b)
	return m.Sum(nil)[:iteratorMACSize]
}

func (s *Server) decodeIterator(str string) (iterator, bool) {
	b, err := base64.RawURLEncoding.DecodeString(str)
	if err != nil || len(b) < 9+iteratorMACSize || b[0] != iteratorVersion {
		return iterator{}, false
	}
	b, mac := b[:len(b)-iteratorMACSize], b[len(b)-iteratorMACSize:]
	if !hmac.Equal(mac, s.iteratorMAC(b)) {
		return iterator{}, false
	}
	it := iterator{issued: time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9])))}
	p := b[9:]
	shard, n := binary.Uvarint(p)
	if n <= 0 || shard > 1<<20 {
		return iterator{}, false
	}
	p = p[n:]
	next, n := binary.Uvarint(p)
	if n <= 0 {
		return iterator{}, false
	}
	it.shard, it.next, it.stream = int(shard), shards.Sequence(next), string(p[n:])
	return it, streamNamePattern.MatchString(it.stream)
}

type getShardIteratorRequest struct {
	streamRef
	ShardID                string    `json:"ShardId"`
	ShardIteratorType      string    `json:"ShardIteratorType"`
	StartingSequenceNumber string    `json:"StartingSequenceNumber,omitempty"`
	Timestamp              epochTime `json:"Timestamp,omitempty"`
}

func (s *Server) getShardIterator(ctx context.Context, c *call, req *getShardIteratorRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	shard, err := shards.ParseShardID(req.ShardID)
	if err != nil || shard >= st.Log.Shards() {
		return nil, errNotFound("Shard %s in stream %s under account %s does not exist", req.ShardID, st.Name, s.opts.AccountID)
	}
	var from shards.Sequence
	switch req.ShardIteratorType {
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		if !sequencePattern.MatchString(req.StartingSequenceNumber) {
			return nil, errInvalidArgument("StartingSequenceNumber %q used in GetShardIterator on shard %s in stream %s under account %s is invalid.",
				req.StartingSequenceNumber, req.ShardID, st.Name, s.opts.AccountID)
		}
		seq, err := shards.ParseSequence(req.StartingSequenceNumber)
		if err == nil {
			err = s.checkSequence(ctx, st.Name, shard, seq)
		}
		if err != nil {
			return nil, errInvalidArgument("StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid because it did not come from this stream.",
				req.StartingSequenceNumber, req.ShardID, st.Name, s.opts.AccountID)
		}
		from = seq
		if req.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
			from++
		}
	case "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP":
		if req.ShardIteratorType == "AT_TIMESTAMP" && req.Timestamp.IsZero() {
			return nil, errInvalidArgument("Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")
		}
		from, err = s.store.Position(ctx, st.Name, shard, req.ShardIteratorType, req.Timestamp.Time)
		if err != nil {
			return nil, s.internal("GetShardIterator", err)
		}
	default:
		return nil, errValidation("%s", validationMessage(req.ShardIteratorType, "shardIteratorType",
			"Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"))
	}
	return map[string]string{"ShardIterator": s.encodeIterator(iterator{stream: st.Name, shard: shard, next: from, issued: c.now})}, nil
}

// checkSequence refuses a sequence number no record of the shard could
// have: one before the first message ever written or past the newest.
func (s *Server) checkSequence(ctx context.Context, stream string, shard int, seq shards.Sequence) error {
	info, err := s.store.ShardInfo(ctx, stream, shard)
	if err != nil {
		return err
	}
	if seq.Message() == 0 || seq.Message() > info.LastMsg {
		return errors.New("not a sequence number of this shard")
	}
	return nil
}

type getRecordsRequest struct {
	ShardIterator string `json:"ShardIterator"`
	Limit         int    `json:"Limit,omitempty"`
	StreamARN     string `json:"StreamARN,omitempty"`
}

type kinesisOutRecord struct {
	SequenceNumber              string    `json:"SequenceNumber"`
	ApproximateArrivalTimestamp epochTime `json:"ApproximateArrivalTimestamp"`
	Data                        []byte    `json:"Data"`
	PartitionKey                string    `json:"PartitionKey"`
	EncryptionType              string    `json:"EncryptionType,omitempty"`
}

// getRecordsResponse is a GetRecords answer. At the end of a closed shard
// it has no NextShardIterator and names the shard's children, which the
// reader goes on with (as the KCL does).
type getRecordsResponse struct {
	Records            []kinesisOutRecord `json:"Records"`
	NextShardIterator  *string            `json:"NextShardIterator,omitempty"`
	MillisBehindLatest int64              `json:"MillisBehindLatest"`
	ChildShards        []childShard       `json:"ChildShards,omitempty"`
}

type childShard struct {
	ShardID      string       `json:"ShardId"`
	ParentShards []string     `json:"ParentShards"`
	HashKeyRange hashKeyRange `json:"HashKeyRange"`
}

func (s *Server) getRecords(ctx context.Context, c *call, req *getRecordsRequest) (any, *apiError) {
	if req.ShardIterator == "" {
		return nil, errValidation("%s", validationMessage(nil, "shardIterator", "Member must not be null"))
	}
	limit := req.Limit
	if limit == 0 {
		limit = maxGetRecords
	}
	if limit < 1 || limit > maxGetRecords {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 10000"))
	}
	it, ok := s.decodeIterator(req.ShardIterator)
	if !ok {
		return nil, errInvalidArgument("Invalid ShardIterator.")
	}
	if age := c.now.Sub(it.issued); age > iteratorTTL {
		return nil, newError(400, "ExpiredIteratorException",
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.issued.UTC().Format(time.UnixDate), c.now.UTC().Format(time.UnixDate), iteratorTTL.Milliseconds())
	}
	st, aerr := s.stream(streamRef{StreamName: it.stream})
	if aerr != nil {
		return nil, aerr
	}
	lin := st.Log.Lineage() // before the read: a shard it shows closed takes no more records
	if it.shard >= len(lin.Shards) {
		return nil, errNotFound("Shard %s in stream %s under account %s does not exist", shards.ShardID(it.shard), st.Name, s.opts.AccountID)
	}
	// The answer is held until the client reads it: it counts against the
	// in-flight limit, as much of a full one as fits, else the call is
	// refused. It is then trimmed to what was read.
	budget := ingest.BudgetFrom(ctx)
	streamed := c.codec.contentType != cborCodec.contentType
	held, ok := budget.EnsureUpTo(answerReserve(maxGetRecordBytes, int64(limit), streamed), answerReserve(leastGetRecordBytes, 1, streamed))
	if !ok {
		return nil, newError(http.StatusServiceUnavailable, "ServiceUnavailableException", "%s", ingest.BusyMessage)
	}
	factor, base := answerCost(streamed)
	maxBytes := int(min((held-base)/factor, maxGetRecordBytes))
	page, err := s.store.Read(ctx, st.Name, it.shard, it.next, limit, maxBytes)
	if err != nil {
		return nil, s.internal("GetRecords", err)
	}
	data := 0
	for _, r := range page.Records {
		data += len(r.Data) + len(r.PartitionKey)
	}
	if need := answerReserve(int64(data), int64(len(page.Records)), streamed); need > held {
		budget.Ensure(need) // one record over maxBytes: it is read already
	} else {
		budget.Shrink(need)
	}
	out := getRecordsResponse{Records: make([]kinesisOutRecord, len(page.Records)), MillisBehindLatest: page.Behind.Milliseconds()}
	for i, r := range page.Records {
		out.Records[i] = kinesisOutRecord{SequenceNumber: r.Sequence.String(), ApproximateArrivalTimestamp: epochTime{r.Arrival},
			Data: r.Data, PartitionKey: r.PartitionKey, EncryptionType: s.encryptionType()}
	}
	sh := lin.Shards[it.shard]
	end, err := s.atShardEnd(ctx, st.Name, sh, page)
	if err != nil {
		return nil, s.internal("GetRecords", err)
	}
	if end {
		out.MillisBehindLatest, out.ChildShards = 0, childShards(lin, sh.ID)
		return out, nil
	}
	next := s.encodeIterator(iterator{stream: it.stream, shard: it.shard, next: page.Next, issued: c.now})
	out.NextShardIterator = &next
	return out, nil
}

// atShardEnd reports whether page, read from shard sh, leaves nothing more
// to read: sh is closed and the page ends past its last message, or the
// shard's records are all trimmed.
func (s *Server) atShardEnd(ctx context.Context, stream string, sh shards.Shard, page shards.ReadResult) (bool, error) {
	switch {
	case sh.IsOpen():
		return false, nil
	case page.Next.Message() > sh.LastMessage:
		return true, nil
	case len(page.Records) > 0:
		return false, nil
	}
	info, err := s.store.ShardInfo(ctx, stream, sh.ID)
	if err != nil {
		return false, err
	}
	return info.Messages == 0, nil
}

// childShards describes the shards made from shard id of lin.
func childShards(lin *shards.Lineage, id int) []childShard {
	var out []childShard
	for _, c := range lin.Children(id) {
		child := lin.Shards[c]
		cs := childShard{ShardID: shards.ShardID(c), HashKeyRange: describeRange(child.Range)}
		for _, p := range child.Parents() {
			cs.ParentShards = append(cs.ParentShards, shards.ShardID(p))
		}
		out = append(out, cs)
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
