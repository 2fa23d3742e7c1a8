package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hydrant-dev/hydrant/destinations"
)

// Store writes objects as files under a directory.
type Store struct {
	dir string
}

// New returns a store rooted at dir. Directories are created as objects
// are written.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("file destination: dir is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file destination: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Put writes body to dir/key atomically and durably.
func (s *Store) Put(ctx context.Context, key string, body []byte, _ destinations.ObjectMeta) error {
	_, err := s.write(ctx, key, body, os.Rename)
	return err
}

// PutIfAbsent writes body to dir/key as Put does unless a file is there
// already: then it writes nothing and created is false. Of two writers of
// one key at once, one creates it.
func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte, _ destinations.ObjectMeta) (created bool, err error) {
	return s.write(ctx, key, body, func(tmp, path string) error {
		// A hard link fails if path exists, and shows the whole file
		// (written and synced) or nothing.
		err := os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			return errExists
		}
		return err
	})
}

// errExists is place's answer when the key is taken.
var errExists = errors.New("exists")

// write writes body to a temporary file beside dir/key, then place moves
// or links it to its path.
func (s *Store) write(ctx context.Context, key string, body []byte, place func(tmp, path string) error) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	path := filepath.Join(s.dir, filepath.FromSlash(key))
	if !strings.HasPrefix(path, s.dir+string(filepath.Separator)) {
		return false, destinations.Permanent(fmt.Errorf("file destination: key %q leaves %s", key, s.dir))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, classify(fmt.Errorf("file destination: %w", err))
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return false, classify(fmt.Errorf("file destination: %w", err))
	}
	defer os.Remove(tmp.Name()) // no-op after a rename
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return false, fmt.Errorf("file destination: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("file destination: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("file destination: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return false, fmt.Errorf("file destination: %w", err)
	}
	if err := place(tmp.Name(), path); errors.Is(err, errExists) {
		return false, nil
	} else if err != nil {
		return false, classify(fmt.Errorf("file destination: %w", err))
	}
	return true, syncDir(dir)
}

// classify makes a path the file system can never take (a name too long,
// an invalid byte or name, a file where the key needs a directory or the
// other way round: ENOTDIR, and EISDIR, EEXIST or ENOTEMPTY from renaming
// onto a directory) a Permanent error: retrying it would only hold the
// shard for retry.duration. Anything else (a full disk, permissions an
// operator may fix) stays retryable.
func classify(err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EILSEQ) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		return destinations.Permanent(err)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("file destination: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("file destination: sync %s: %w", dir, err)
	}
	return nil
}

// Close does nothing: every Put is complete when it returns.
func (s *Store) Close(context.Context) error { return nil }
