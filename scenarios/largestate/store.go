package largestate

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Ref is a claim check: what a workflow keeps instead of the data. Only
// this goes into history.
type Ref struct {
	Store  string `json:"store"` // "dir"
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BlobStore keeps large payloads outside Temporal. The directory store is
// the one implementation here; an S3-compatible one fits the same shape.
type BlobStore interface {
	Put(ctx context.Context, key string, data []byte) (Ref, error)
	// Get returns the object and verifies its size and checksum against ref.
	Get(ctx context.Context, ref Ref) ([]byte, error)
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// DirStore is a BlobStore in a local directory: one file per object,
// written atomically, and an append-only operation log (ops.jsonl) that
// the driver reads as ground truth: every put and every delete, with sizes
// and checksums, whichever worker process did it.
type DirStore struct {
	Dir string
}

var _ BlobStore = DirStore{}

// Op is one line of the operation log.
type Op struct {
	At     int64  `json:"at"`
	Op     string `json:"op"` // put, delete
	Key    string `json:"key"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// OpsFile is the operation log's name inside the store directory.
const OpsFile = "ops.jsonl"

var opsMu sync.Mutex // one writer per process; O_APPEND keeps processes apart

func (s DirStore) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.ContainsAny(key, `\`) || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("blob store: bad key %q", key)
	}
	return filepath.Join(s.Dir, "objects", filepath.FromSlash(key)), nil
}

func (s DirStore) log(op Op) error {
	op.At = time.Now().UnixNano()
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	opsMu.Lock()
	defer opsMu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.Dir, OpsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Checksum is the hex SHA-256 of b.
func Checksum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Put stores data under key (replacing it) and returns its claim check.
func (s DirStore) Put(_ context.Context, key string, data []byte) (Ref, error) {
	p, err := s.path(key)
	if err != nil {
		return Ref{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return Ref{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return Ref{}, err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return Ref{}, err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return Ref{}, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return Ref{}, err
	}
	ref := Ref{Store: "dir", Key: key, Size: int64(len(data)), SHA256: Checksum(data)}
	return ref, s.log(Op{Op: "put", Key: key, Size: ref.Size, SHA256: ref.SHA256})
}

// ErrCorrupt is returned when an object does not match its claim check.
var ErrCorrupt = errors.New("blob store: object does not match its reference")

// Get reads the object of ref and checks it.
func (s DirStore) Get(_ context.Context, ref Ref) ([]byte, error) {
	p, err := s.path(ref.Key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != ref.Size || Checksum(b) != ref.SHA256 {
		return nil, fmt.Errorf("%w: %s: %d bytes, sha256 %s; reference says %d bytes, %s", ErrCorrupt, ref.Key, len(b), Checksum(b), ref.Size, ref.SHA256)
	}
	return b, nil
}

// Delete removes key; deleting a missing key is not an error (retries).
func (s DirStore) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return s.log(Op{Op: "delete", Key: key})
}

// List returns the keys under prefix, sorted.
func (s DirStore) List(_ context.Context, prefix string) ([]string, error) {
	root := filepath.Join(s.Dir, "objects")
	var keys []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

// Ops reads the operation log.
func (s DirStore) Ops() ([]Op, error) {
	f, err := os.Open(filepath.Join(s.Dir, OpsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []Op
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var op Op
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			return ops, fmt.Errorf("%s: %w", OpsFile, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}
