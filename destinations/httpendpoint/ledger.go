package httpendpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hydrant-dev/hydrant/buffer"
)

// Span names the records of one request by its first and last record and
// its count; with the delivery and the shard it makes the request's id.
type Span struct {
	FirstSeq uint64 `json:"fs"`
	FirstSub uint32 `json:"fss,omitempty"`
	LastSeq  uint64 `json:"ls"`
	LastSub  uint32 `json:"lss,omitempty"`
	Count    int    `json:"n"`
}

func spanOf(records []buffer.Record) Span {
	first, last := records[0], records[len(records)-1]
	return Span{FirstSeq: first.Sequence, FirstSub: first.SubSequence, LastSeq: last.Sequence,
		LastSub: last.SubSequence, Count: len(records)}
}

// Ledger remembers the requests a shard sent, so that a batch read again
// after a crash is cut into the same requests (the same ids) where it
// holds their records. It is a hint: a lost entry costs duplicates under
// new ids, never records.
type Ledger interface {
	// Spans returns the shard's recent requests.
	Spans(shard string) ([]Span, error)
	// Add records requests about to be sent, durably, before they are.
	Add(shard string, spans []Span) error
}

// ledgerKeep is how many requests a shard's ledger remembers: more than
// can be sent and not yet checkpointed.
const ledgerKeep = 256

// FileLedger keeps each shard's recent requests in a file under a
// directory, rewritten (written, synced, renamed) on each Add.
type FileLedger struct {
	dir   string
	mu    sync.Mutex
	cache map[string][]Span
}

// NewFileLedger returns a ledger under dir, which it creates.
func NewFileLedger(dir string) (*FileLedger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("httpendpoint: ledger: %w", err)
	}
	return &FileLedger{dir: dir, cache: map[string][]Span{}}, nil
}

func (l *FileLedger) path(shard string) string {
	return filepath.Join(l.dir, strings.NewReplacer("/", "_", "\\", "_", "..", "_").Replace(shard)+".json")
}

// Spans returns the shard's recent requests, oldest first.
func (l *FileLedger) Spans(shard string) ([]Span, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.load(shard)
}

func (l *FileLedger) load(shard string) ([]Span, error) {
	if spans, ok := l.cache[shard]; ok {
		return spans, nil
	}
	var spans []Span
	b, err := os.ReadFile(l.path(shard))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("httpendpoint: ledger: %w", err)
	default:
		if err := json.Unmarshal(b, &spans); err != nil {
			spans = nil // a torn file is only a lost hint
		}
	}
	l.cache[shard] = spans
	return spans, nil
}

// Add appends spans to the shard's ledger, keeping the newest ledgerKeep.
func (l *FileLedger) Add(shard string, spans []Span) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, err := l.load(shard)
	if err != nil {
		return err
	}
	all := append(append([]Span(nil), old...), spans...)
	if len(all) > ledgerKeep {
		all = all[len(all)-ledgerKeep:]
	}
	b, err := json.Marshal(all)
	if err != nil {
		return err
	}
	if err := writeSynced(l.path(shard), b); err != nil {
		return fmt.Errorf("httpendpoint: ledger: %w", err)
	}
	l.cache[shard] = all
	return nil
}

func writeSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// cut returns the ranges [from, to) of the requests for records: where a
// span of known holds exactly the records at its place, that span; the
// records between such spans in requests of at most maxBytes (0: one).
func cut(records []buffer.Record, known []Span, maxBytes int) [][2]int {
	type key struct {
		seq uint64
		sub uint32
	}
	starts := make(map[key]Span, len(known))
	for _, s := range known {
		starts[key{s.FirstSeq, s.FirstSub}] = s
	}
	var out [][2]int
	free := func(from, to int) { // records no known span holds
		size := bodyOverhead
		for i := from; i < to; i++ {
			n := recordOverhead + base64Len(len(records[i].Data))
			if maxBytes > 0 && i > from && size+n > maxBytes {
				out = append(out, [2]int{from, i})
				from, size = i, bodyOverhead
			}
			size += n
		}
		if to > from {
			out = append(out, [2]int{from, to})
		}
	}
	from := 0
	for i := 0; i < len(records); {
		r := records[i]
		if s, ok := starts[key{r.Sequence, r.SubSequence}]; ok && len(known) > 0 && i+s.Count <= len(records) {
			if last := records[i+s.Count-1]; last.Sequence == s.LastSeq && last.SubSequence == s.LastSub {
				free(from, i)
				out = append(out, [2]int{i, i + s.Count})
				i += s.Count
				from = i
				continue
			}
		}
		i++
	}
	free(from, len(records))
	return out
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }
