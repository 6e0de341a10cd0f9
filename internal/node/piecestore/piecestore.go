// Package piecestore keeps a storage node's pieces as files addressed by
// piece ID (docs/spec.md §4 and §6).
//
// A piece with ID id lives at <dir>/pieces/<first two hex chars>/<64 hex
// chars>. A Put streams the bytes into a temporary file in the same
// directory while hashing them, checks the size and the BLAKE3 hash against
// the ID, then fsyncs the file, renames it into place and fsyncs the
// directory; only then does it report success, so a piece acknowledged with
// a receipt survives a crash. Once durable, a piece's pages are dropped from
// the page cache (internal/pagecache): pieces are cold, and the node shares
// its machine with its owner's own work. Temporary files left by a crash are removed by
// Open.
//
// Space is accounted in memory: Open walks the pieces directory once, and
// every Put and Delete adjusts the totals, so no request ever walks the disk.
// One Store must own a directory at a time.
package piecestore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/nuage-storage/nuage/internal/pagecache"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Errors a caller decides on. Store methods wrap them with detail.
var (
	// ErrNotFound reports a piece the store does not hold.
	ErrNotFound = errors.New("piecestore: piece not found")
	// ErrNoSpace reports a Put that does not fit in the remaining capacity.
	ErrNoSpace = errors.New("piecestore: not enough free space")
	// ErrHashMismatch reports piece bytes whose BLAKE3 hash is not the piece ID.
	ErrHashMismatch = errors.New("piecestore: piece hash does not match its ID")
	// ErrSizeMismatch reports piece bytes shorter or longer than announced.
	ErrSizeMismatch = errors.New("piecestore: piece size does not match")
	// ErrConflict reports a Put of an already stored piece that was deleted
	// while the new copy was being verified; the caller may retry.
	ErrConflict = errors.New("piecestore: piece deleted while being put")
)

const (
	piecesDir = "pieces"
	// tempPrefix starts the name of every temporary file; no piece file
	// starts with it (piece files are named by 64 hex characters).
	tempPrefix = ".tmp-"
	// bufSize is the size of the copy buffers, shared through a sync.Pool.
	bufSize = 256 << 10
	// lockStripes is the number of mutexes serialising the changes of one
	// piece file (commit of a Put, Delete).
	lockStripes = 256
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Store holds pieces under a directory. It is safe for concurrent use.
type Store struct {
	dir      string // <dir>/pieces
	capacity int64

	mu       sync.Mutex
	used     int64 // bytes of stored pieces
	reserved int64 // bytes reserved by Puts in progress

	locks [lockStripes]sync.Mutex // by piece ID, see lock
}

// Open opens (creating if needed) the store under dir with the given
// capacity in bytes. It removes temporary files left by a crash and counts
// the bytes of the stored pieces, walking the pieces directory once, and
// creates the 256 prefix directories pieces go to.
func Open(dir string, capacity int64) (*Store, error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("piecestore: capacity must be positive, got %d", capacity)
	}
	s := &Store{dir: filepath.Join(dir, piecesDir), capacity: capacity}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("piecestore: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("piecestore: %w", err)
	}
	for _, e := range entries {
		b, err := hex.DecodeString(e.Name())
		if err != nil || len(b) != 1 || hex.EncodeToString(b) != e.Name() || !e.IsDir() {
			continue
		}
		used, err := scan(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		s.used += used
	}
	// Every prefix directory exists before the first Put: creating one
	// (and syncing its parent) on a piece's path would add two metadata
	// writes and a disk flush to the first piece of each prefix, 256 per
	// fresh node.
	for i := range 256 {
		err := os.Mkdir(filepath.Join(s.dir, hex.EncodeToString([]byte{byte(i)})), 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("piecestore: %w", err)
		}
	}
	// Make the directories (and the removal of temporary files) durable.
	if err := syncDir(s.dir); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return s, nil
}

// scan removes the temporary files in sub and returns the bytes of its
// pieces. Files that are neither are left alone and not counted.
func scan(sub string) (int64, error) {
	entries, err := os.ReadDir(sub)
	if err != nil {
		return 0, fmt.Errorf("piecestore: %w", err)
	}
	prefix := filepath.Base(sub)
	var used int64
	removed := false
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			if err := os.Remove(filepath.Join(sub, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return 0, fmt.Errorf("piecestore: removing leftover temporary file: %w", err)
			}
			removed = true
			continue
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) {
			continue
		}
		id, err := piece.Parse(name)
		if err != nil || id.String() != name {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("piecestore: %w", err)
		}
		used += info.Size()
	}
	if removed {
		if err := syncDir(sub); err != nil {
			return 0, err
		}
	}
	return used, nil
}

// Capacity returns the capacity given to Open, in bytes.
func (s *Store) Capacity() int64 { return s.capacity }

// Used returns the bytes of the pieces stored (durable ones, not the Puts
// in progress).
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Free returns the bytes a new Put may still reserve: the capacity minus
// the stored pieces and the Puts in progress, never negative.
func (s *Store) Free() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, s.capacity-s.used-s.reserved)
}

func (s *Store) path(id piece.ID) string {
	h := id.String()
	return filepath.Join(s.dir, h[:2], h)
}

func (s *Store) lock(id piece.ID) *sync.Mutex { return &s.locks[id[1]] }

// Has reports whether the store holds the piece.
func (s *Store) Has(id piece.ID) bool {
	info, err := os.Lstat(s.path(id))
	return err == nil && info.Mode().IsRegular()
}

// Open opens the piece for reading and returns it with its size. The
// caller closes the file. It returns an error wrapping ErrNotFound if the
// store does not hold the piece.
func (s *Store) Open(id piece.ID) (*os.File, int64, error) {
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("piecestore: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("piecestore: %w", err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, id)
	}
	return f, info.Size(), nil
}

// Delete removes the piece and frees its space. Deleting a piece the store
// does not hold is not an error.
func (s *Store) Delete(id piece.ID) error {
	l := s.lock(id)
	l.Lock()
	defer l.Unlock()
	p := s.path(id)
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("piecestore: delete %s: %w", id, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("piecestore: delete %s: %w", id, err)
	}
	if info.Mode().IsRegular() {
		s.mu.Lock()
		s.used -= info.Size()
		s.mu.Unlock()
	}
	return nil
}

// Put stores the piece id whose bytes, exactly size of them, are read from
// r. It reserves size bytes against the capacity first (ErrNoSpace), then
// streams r into a temporary file while hashing it. If r does not yield
// exactly size bytes (ErrSizeMismatch) hashing to id (ErrHashMismatch), or
// ctx is cancelled, or anything fails, the temporary file is removed and
// the reservation released. Otherwise the file is fsynced, renamed into
// place and its directory fsynced before Put returns nil: a nil error means
// the piece is durable.
//
// Putting a piece the store already holds verifies the new bytes and
// discards them, without needing free space. Cancellation is noticed
// between reads of r; a reader that blocks must be unblocked by its owner
// (as HTTP request bodies are when the request's context ends).
func (s *Store) Put(ctx context.Context, id piece.ID, size int64, r io.Reader) error {
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSizeMismatch, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("piecestore: put %s: %w", id, err)
	}
	p := s.path(id)
	if info, err := os.Lstat(p); err == nil && info.Mode().IsRegular() && info.Size() == size {
		return s.verifyExisting(ctx, id, size, r)
	}

	if err := s.reserve(size); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			s.release(size)
		}
	}()

	f, err := os.CreateTemp(filepath.Dir(p), tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("piecestore: put %s: %w", id, err)
	}
	tmp := f.Name()
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(tmp)
		}
	}()

	if err := copyVerified(ctx, f, r, id, size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("piecestore: put %s: sync: %w", id, err)
	}
	// The piece is on disk: its pages would only crowd the machine's page
	// cache, and freeing them now lets the next piece reuse them.
	pagecache.Drop(f, 0, 0)
	if err := f.Close(); err != nil {
		return fmt.Errorf("piecestore: put %s: %w", id, err)
	}

	l := s.lock(id)
	l.Lock()
	defer l.Unlock()
	var old int64
	switch info, err := os.Lstat(p); {
	case err == nil && info.Mode().IsRegular() && info.Size() == size:
		// Stored meanwhile by a concurrent Put: ours is a duplicate. Its
		// directory sync may have failed; make sure it is durable.
		return syncDir(filepath.Dir(p))
	case err == nil && info.Mode().IsRegular():
		old = info.Size() // a damaged copy: replace it
	case err == nil:
		return fmt.Errorf("piecestore: put %s: %s is not a regular file", id, p)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("piecestore: put %s: %w", id, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("piecestore: put %s: %w", id, err)
	}
	keep = true
	s.mu.Lock()
	s.reserved -= size
	s.used += size - old
	s.mu.Unlock()
	committed = true
	// Hold the piece lock until the directory is durable, so that a
	// concurrent Put of the same piece cannot report success earlier.
	return syncDir(filepath.Dir(p))
}

// verifyExisting reads and checks the bytes of a piece already stored,
// without writing them anywhere.
func (s *Store) verifyExisting(ctx context.Context, id piece.ID, size int64, r io.Reader) error {
	if err := copyVerified(ctx, io.Discard, r, id, size); err != nil {
		return err
	}
	l := s.lock(id)
	l.Lock()
	defer l.Unlock()
	if !s.Has(id) {
		return fmt.Errorf("%w: %s", ErrConflict, id)
	}
	// The Put that stored it may have failed to sync its directory.
	return syncDir(filepath.Dir(s.path(id)))
}

func (s *Store) reserve(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if free := s.capacity - s.used - s.reserved; size > free {
		return fmt.Errorf("%w: piece of %d bytes, %d free", ErrNoSpace, size, max(free, 0))
	}
	s.reserved += size
	return nil
}

func (s *Store) release(size int64) {
	s.mu.Lock()
	s.reserved -= size
	s.mu.Unlock()
}

// copyVerified copies r to w, checking that r yields exactly size bytes
// whose hash is id. It reads at most one byte past size.
func copyVerified(ctx context.Context, w io.Writer, r io.Reader, id piece.ID, size int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	h := piece.NewHasher()
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("piecestore: put %s: %w", id, err)
		}
		want := int64(len(buf))
		if rest := size - total; rest < want {
			want = rest + 1 // one byte more than expected reveals a longer body
		}
		n, err := io.ReadFull(r, buf[:want])
		if n > 0 {
			total += int64(n)
			if total > size {
				return fmt.Errorf("%w: got more than %d bytes", ErrSizeMismatch, size)
			}
			h.Write(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				return fmt.Errorf("piecestore: put %s: write: %w", id, werr)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return fmt.Errorf("piecestore: put %s: read: %w", id, err)
		}
	}
	if total != size {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, total, size)
	}
	if got := piece.FromHasher(h); got != id {
		return fmt.Errorf("%w: bytes hash to %s, want %s", ErrHashMismatch, got, id)
	}
	return nil
}

// syncDir makes the entries of dir (creations, renames, removals) durable.
// Windows cannot sync a directory (NTFS journals renames), and some file
// systems refuse to: those are not errors.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("piecestore: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("piecestore: sync %s: %w", dir, err)
	}
	return nil
}
