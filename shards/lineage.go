package shards

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"time"
)

// Shard is one shard of a stream's lineage, as Kinesis describes it: its
// hash-key range, the shards it came from, and whether it is still open.
// Shard IDs are dense: a stream's shards are 0…n−1, and a reshard's children
// take the next IDs, as Kinesis numbers them.
type Shard struct {
	ID    int
	Range HashRange
	// Parent is the shard it was split from or the first of the two merged
	// into it; AdjacentParent the second of a merge. -1 when none.
	Parent, AdjacentParent int
	Opened                 time.Time
	// Closed is when a reshard closed it (zero while open); a closed shard
	// takes no more records and keeps those it has until retention.
	Closed time.Time
	// LastMessage is the last message the shard held when it was closed
	// (0 when none): its EndingSequenceNumber.
	LastMessage uint64
}

// IsOpen reports whether the shard takes records.
func (s Shard) IsOpen() bool { return s.Closed.IsZero() }

// Parents returns the IDs of the shards s came from (none, one or two).
func (s Shard) Parents() []int {
	var ps []int
	for _, p := range []int{s.Parent, s.AdjacentParent} {
		if p >= 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// Capacity modes of a stream (Kinesis' StreamMode).
const (
	Provisioned = "provisioned"
	OnDemand    = "on_demand"
)

// Lineage is every shard a stream has had, by ID, open and closed. Values
// are not changed once made: a reshard makes a new one.
type Lineage struct {
	Shards []Shard
	// Configured is the shard count the stream's definition last asked
	// for (the YAML's shards:), which a start reshards to when it changes.
	Configured int
	// Capacity is Provisioned or OnDemand.
	Capacity string
}

// Open returns the open shards in hash-key order.
func (l *Lineage) Open() []Shard {
	var open []Shard
	for _, s := range l.Shards {
		if s.IsOpen() {
			open = append(open, s)
		}
	}
	slices.SortFunc(open, func(a, b Shard) int {
		if a.Range.Start.Less(b.Range.Start) {
			return -1
		}
		return 1
	})
	return open
}

// Children returns the IDs of the shards made from shard id.
func (l *Lineage) Children(id int) []int {
	var out []int
	for _, s := range l.Shards {
		if s.Parent == id || s.AdjacentParent == id {
			out = append(out, s.ID)
		}
	}
	return out
}

// uniformLineage is a new stream's lineage: n open shards splitting the
// hash-key space evenly.
func uniformLineage(n int, now time.Time) *Lineage {
	m := NewShardMap(n)
	l := &Lineage{Configured: n, Capacity: Provisioned}
	for i := range n {
		l.Shards = append(l.Shards, Shard{ID: i, Range: m.Range(i), Parent: -1, AdjacentParent: -1, Opened: now})
	}
	return l
}

// clone returns a copy of l that may be changed.
func (l *Lineage) clone() *Lineage {
	c := *l
	c.Shards = slices.Clone(l.Shards)
	return &c
}

// ErrReshard is the error of a reshard that the stream's shards do not
// allow (an unknown or closed shard, shards that are not adjacent, a
// starting hash key outside the shard): the request is wrong, not
// retryable.
var ErrReshard = errors.New("invalid reshard")

// ErrReshardInProgress is returned while another reshard of the stream is
// under way (Kinesis' ResourceInUseException): retry once it is done.
var ErrReshardInProgress = errors.New("a reshard of the stream is in progress")

func (l *Lineage) openShard(id int) (Shard, error) {
	if id < 0 || id >= len(l.Shards) {
		return Shard{}, fmt.Errorf("%w: shard %s does not exist", ErrReshard, ShardID(id))
	}
	s := l.Shards[id]
	if !s.IsOpen() {
		return Shard{}, fmt.Errorf("%w: shard %s is closed", ErrReshard, ShardID(id))
	}
	return s, nil
}

// split closes shard id and opens two children: [start, at−1] and
// [at, end]. at must lie in (start, end].
func (l *Lineage) split(id int, at HashKey, now time.Time) error {
	p, err := l.openShard(id)
	if err != nil {
		return err
	}
	if !p.Range.Start.Less(at) || p.Range.End.Less(at) {
		return fmt.Errorf("%w: the new starting hash key %s is not within shard %s (%s to %s) above its first hash key",
			ErrReshard, at, ShardID(id), p.Range.Start, p.Range.End)
	}
	below := hashKeyFromBig(new(big.Int).Sub(at.Big(), big.NewInt(1)))
	l.Shards[id].Closed = now
	n := len(l.Shards)
	l.Shards = append(l.Shards,
		Shard{ID: n, Range: HashRange{Start: p.Range.Start, End: below}, Parent: id, AdjacentParent: -1, Opened: now},
		Shard{ID: n + 1, Range: HashRange{Start: at, End: p.Range.End}, Parent: id, AdjacentParent: -1, Opened: now})
	return nil
}

// merge closes shards a and b, which must be open and adjacent, and opens
// one child covering both, with a as its parent and b as the adjacent one.
func (l *Lineage) merge(a, b int, now time.Time) error {
	sa, err := l.openShard(a)
	if err != nil {
		return err
	}
	sb, err := l.openShard(b)
	if err != nil {
		return err
	}
	if a == b {
		return fmt.Errorf("%w: a shard cannot be merged with itself", ErrReshard)
	}
	lo, hi := sa, sb
	if hi.Range.Start.Less(lo.Range.Start) {
		lo, hi = hi, lo
	}
	if next := hashKeyFromBig(new(big.Int).Add(lo.Range.End.Big(), big.NewInt(1))); next != hi.Range.Start {
		return fmt.Errorf("%w: shards %s and %s are not adjacent", ErrReshard, ShardID(a), ShardID(b))
	}
	l.Shards[a].Closed, l.Shards[b].Closed = now, now
	l.Shards = append(l.Shards, Shard{ID: len(l.Shards), Range: HashRange{Start: lo.Range.Start, End: hi.Range.End},
		Parent: a, AdjacentParent: b, Opened: now})
	return nil
}

// scale reshards l's open shards to n shards of even ranges (Kinesis'
// UNIFORM_SCALING): each open shard that holds a boundary of the even
// split is split there, then the shards between two boundaries are merged
// pairwise until one is left. Shards made and merged again in the same
// step are closed at once; they never take a record.
func (l *Lineage) scale(n int, now time.Time) error {
	if n < 1 {
		return fmt.Errorf("%w: a stream needs at least one shard", ErrReshard)
	}
	want := NewShardMap(n)
	for i := 1; i < n; i++ {
		at := want.Range(i).Start
		for _, s := range l.Open() {
			if s.Range.Start.Less(at) && !s.Range.End.Less(at) {
				if err := l.split(s.ID, at, now); err != nil {
					return err
				}
				break
			}
		}
	}
	for i := range n {
		r := want.Range(i)
		for {
			var in []Shard
			for _, s := range l.Open() {
				if !s.Range.Start.Less(r.Start) && !r.End.Less(s.Range.End) {
					in = append(in, s)
				}
			}
			if len(in) < 2 {
				break
			}
			if err := l.merge(in[0].ID, in[1].ID, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// middle returns the first hash key of r's upper half.
func (r HashRange) middle() HashKey {
	sum := new(big.Int).Add(r.Start.Big(), r.End.Big())
	return hashKeyFromBig(sum.Add(sum, big.NewInt(1)).Rsh(sum, 1))
}

// routing maps hash keys to the open shards of a lineage.
type routing struct {
	ends []HashKey // each open shard's last hash key, in order
	ids  []int
}

func newRouting(l *Lineage) *routing {
	r := &routing{}
	for _, s := range l.Open() {
		r.ends = append(r.ends, s.Range.End)
		r.ids = append(r.ids, s.ID)
	}
	return r
}

// index returns the position (in ids) of the open shard whose range holds
// h.
func (r *routing) index(h HashKey) int {
	i := sort.Search(len(r.ends), func(i int) bool { return !r.ends[i].Less(h) })
	return min(i, len(r.ids)-1)
}

// streamRecord is a stream's entry in the streams bucket: its lineage.
// Entries of earlier versions hold only shards and created (n even shards,
// all open).
type streamRecord struct {
	Shards     int           `json:"shards"` // IDs 0…shards−1
	Created    time.Time     `json:"created"`
	Lineage    []shardRecord `json:"lineage,omitempty"`
	Configured int           `json:"configured,omitempty"`
	Capacity   string        `json:"capacity,omitempty"`
}

type shardRecord struct {
	Start          string    `json:"start"`
	End            string    `json:"end"`
	Parent         int       `json:"parent"`
	AdjacentParent int       `json:"adjacent_parent"`
	Opened         time.Time `json:"opened"`
	Closed         time.Time `json:"closed,omitzero"`
	LastMessage    uint64    `json:"last_message,omitempty"`
}

func encodeRecord(created time.Time, l *Lineage) []byte {
	rec := streamRecord{Shards: len(l.Shards), Created: created, Configured: l.Configured, Capacity: l.Capacity}
	for _, s := range l.Shards {
		rec.Lineage = append(rec.Lineage, shardRecord{Start: s.Range.Start.String(), End: s.Range.End.String(),
			Parent: s.Parent, AdjacentParent: s.AdjacentParent, Opened: s.Opened, Closed: s.Closed, LastMessage: s.LastMessage})
	}
	v, _ := json.Marshal(rec)
	return v
}

func decodeRecord(v []byte) (time.Time, *Lineage, error) {
	var rec streamRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return time.Time{}, nil, err
	}
	if len(rec.Lineage) == 0 {
		l := uniformLineage(rec.Shards, rec.Created)
		return rec.Created, l, nil
	}
	if len(rec.Lineage) != rec.Shards {
		return time.Time{}, nil, fmt.Errorf("lineage of %d shards, want %d", len(rec.Lineage), rec.Shards)
	}
	l := &Lineage{Configured: rec.Configured, Capacity: rec.Capacity}
	if l.Capacity == "" {
		l.Capacity = Provisioned
	}
	for i, r := range rec.Lineage {
		start, err := ParseHashKey(r.Start)
		if err != nil {
			return time.Time{}, nil, err
		}
		end, err := ParseHashKey(r.End)
		if err != nil {
			return time.Time{}, nil, err
		}
		l.Shards = append(l.Shards, Shard{ID: i, Range: HashRange{Start: start, End: end}, Parent: r.Parent,
			AdjacentParent: r.AdjacentParent, Opened: r.Opened, Closed: r.Closed, LastMessage: r.LastMessage})
	}
	return rec.Created, l, nil
}
